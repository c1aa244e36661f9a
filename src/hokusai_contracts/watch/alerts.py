"""Alerts: one JSON POST when causes appear (``firing``), one when they are gone (``resolved``), none between.

What is open is what a firing alert went out for, kept in the history, so a restarted watch
neither fires an open cause again nor forgets to resolve it. A round that ran replaces the open
causes with its own; a round that could not run adds ``round_failed`` and leaves the rest as they
were (it saw nothing of them); an interrupted or skipped round changes nothing.

One POST per round and status, listing every cause that changed: an outage that breaks three
things is one notification, as Alertmanager groups them. The payload has the first cause's
``hop``, ``kind``, ``location``, ``rule``, ``diagnosis`` and ``curl`` at the top, all of them in
``causes``, and a Slack-compatible ``text`` (an incoming webhook shows it as the message). A
webhook that fails is tried ``attempts`` times and logged; it never stops the watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from hokusai_contracts._version import __version__
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.watch.rounds import Round, RoundStatus, WatchedCause

__all__ = ["AlertChange", "Alerter", "alert_payload", "changes"]

Status = Literal["firing", "resolved"]


@dataclass(frozen=True)
class AlertChange:
    firing: list[WatchedCause] = field(default_factory=list)
    resolved: list[WatchedCause] = field(default_factory=list)
    #: The causes open after the round.
    open: list[WatchedCause] = field(default_factory=list)


def _unique(causes: Sequence[WatchedCause]) -> list[WatchedCause]:
    return list({cause.identity: cause for cause in reversed(causes)}.values())[::-1]


def changes(open_causes: Sequence[WatchedCause], latest: Round) -> AlertChange:
    """What ``latest`` fires and resolves, given the causes open before it."""
    was = {cause.identity for cause in open_causes}
    if latest.ran:
        now = _unique(latest.causes)
        ids = {cause.identity for cause in now}
        return AlertChange(firing=[c for c in now if c.identity not in was],
                           resolved=[c for c in open_causes if c.identity not in ids], open=now)
    if latest.status is RoundStatus.ERROR:
        new = [c for c in _unique(latest.causes) if c.identity not in was]
        return AlertChange(firing=new, open=[*open_causes, *new])
    return AlertChange(open=list(open_causes))


def _cause_fields(cause: WatchedCause) -> dict[str, Any]:
    return {"hop": cause.hop, "kind": cause.kind, "location": cause.location, "rule": cause.rule,
            "diagnosis": cause.diagnosis, "curl": cause.curl, "observed": cause.observed,
            "expected": cause.expected, "recommendation": cause.recommendation, "operations": cause.operations[:10]}


def _text(status: Status, causes: Sequence[WatchedCause], latest: Round) -> str:
    mark = ":red_circle: FIRING" if status == "firing" else ":large_green_circle: RESOLVED"
    lines = [f"{mark}: hokusai-contracts watch, round {latest.id} ({latest.status.value})"]
    for cause in causes[:10]:
        lines.append(f"• {cause.title()}" + (f": {cause.observed[:200]}" if status == "firing" and cause.observed
                                             else ""))
    if len(causes) > 10:
        lines.append(f"… and {len(causes) - 10} more")
    if status == "firing":
        first = causes[0]
        if first.diagnosis:
            lines.append(f"Diagnosis: {first.diagnosis}")
        if first.curl:
            lines.append(f"```{first.curl[:1500]}```")
    return "\n".join(lines)


def alert_payload(status: Status, causes: Sequence[WatchedCause], latest: Round) -> dict[str, Any]:
    """The JSON body of one alert: ``status``, ``text``, the first cause's fields, and every cause."""
    first = causes[0]
    return {
        "status": status, "text": _text(status, causes, latest), **_cause_fields(first),
        "causes": [_cause_fields(c) for c in causes],
        "round": {"id": latest.id, "status": latest.status.value, "started_at": latest.started_at,
                  "seconds": latest.seconds, "report_path": latest.report_path},
        "source": f"hokusai-contracts {__version__} watch",
    }


@dataclass
class Alerter:
    """Posts alerts to one webhook; ``post`` never raises."""

    url: str
    out: Callable[[str], None] = print
    attempts: int = 3
    timeout_s: float = 10.0
    #: Seconds before the 2nd, 3rd... attempt.
    backoff_s: Sequence[float] = (1.0, 3.0)
    sent: int = 0

    @property
    def where(self) -> str:
        """The webhook as logs show it: scheme and host only (its path is often its token)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…"

    def notify(self, change: AlertChange, latest: Round) -> None:
        if change.firing:
            self.post(alert_payload("firing", change.firing, latest))
        if change.resolved:
            self.post(alert_payload("resolved", change.resolved, latest))

    def post(self, payload: dict[str, Any]) -> bool:
        what = f"alert {payload['status']} ({len(payload['causes'])} causes)"
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                answer = httpx.post(self.url, json=payload, timeout=self.timeout_s)
                if answer.is_success:
                    self.sent += 1
                    self.out(f"  {what} sent to {self.where}")
                    return True
                problem = f"answered {answer.status_code}"
            except (httpx.HTTPError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                time.sleep(self.backoff_s[min(attempt - 1, len(self.backoff_s) - 1)])
        self.out(redact(f"  ! {what} not delivered to {self.where} after {self.attempts} attempts ({problem}); "
                        "the watch goes on"))
        return False
