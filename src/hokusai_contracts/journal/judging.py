"""Judging hop journals: every recorded request against the receiving side's contract.

This is what no provider-side test sees: what the *proxy* sent to the auth
service and to MLflow. Incident 1 (key moved from body to header) surfaces
here as ``missing_required_field`` at ``body.api_key`` plus
``undeclared_credential`` at ``header.Authorization``; a caller's key reaching
MLflow as ``credential_leak``.
"""

from __future__ import annotations

from collections.abc import Iterable

from hokusai_contracts.contracts.judge import judge_request, judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["coverage_of", "judge_journal", "judge_sent"]


def judge_journal(entries: Iterable[HttpExchange], contract: Contract, hop: Hop, *,
                  forbid_credentials: bool = False, leaks_only: bool = False, answers_only: bool = False,
                  suite: Suite = Suite.HOP_JOURNAL) -> list[Finding]:
    """Findings for every journaled exchange, merged by identity (hop, operation, kind, location).

    ``leaks_only`` judges nothing but credentials: for traffic a fuzzer sent through the proxy on
    purpose, a malformed request reaching MLflow is the fuzzer's doing, but a caller's key
    reaching MLflow where its contract does not want it (or missing where it does) is always the proxy's.
    ``answers_only`` judges the receiver's answers alone: what a client sent the proxy is judged where
    the proxy forwarded it, once.
    """
    merged: dict[tuple[str, str, str, str], Finding] = {}
    for entry in entries:
        if entry.fault:
            continue  # what we broke on purpose is not the sender's fault
        request_omitted = entry.request_body.omitted
        found = [] if answers_only else judge_sent(entry, contract, hop, forbid_credentials=forbid_credentials)
        if leaks_only:
            found = [f for f in found if f.kind in (FindingKind.CREDENTIAL_LEAK, FindingKind.MISSING_CREDENTIAL)]
        if forbid_credentials and request_omitted:
            # The judge cannot scan a body it never saw; the journal scanned it while streaming.
            found += [_leak(entry, hop, s.location, s.masked) for s in entry.credentials if s.location == "body"]
        if entry.status is not None and not leaks_only:
            found += judge_response(
                contract, hop, entry.method, entry.path, status=entry.status, headers=entry.response_headers,
                body=_bytes(entry.response_body.text), body_omitted=entry.response_body.omitted,
            )
        for finding in found:
            finding.suite = suite
            if not finding.exchanges:
                finding.exchanges = [entry.evidence()]
            key = finding.identity()
            if key in merged:
                merged[key].count += 1
            else:
                merged[key] = finding
    return list(merged.values())


def judge_sent(entry: HttpExchange, contract: Contract, hop: Hop, *, forbid_credentials: bool = False) -> list[Finding]:
    """The request of one exchange judged against ``contract`` (not merged, no answer)."""
    # A body too large to keep was still sent: only its media type can be judged.
    return judge_request(contract, hop, entry.method, entry.path, query=entry.query, headers=entry.request_headers,
                         body=_bytes(entry.request_body.text), body_omitted=entry.request_body.omitted,
                         forbid_credentials=forbid_credentials)


def _bytes(text: str | None) -> bytes | None:
    return text.encode("utf-8") if text is not None else None


def _leak(entry: HttpExchange, hop: Hop, location: str, masked: str) -> Finding:
    return Finding(
        hop=hop, operation=f"{entry.method} {entry.path}", kind=FindingKind.CREDENTIAL_LEAK, location=location,
        expected="no API key: the caller's credential must stop at the proxy", observed=f"{masked} in {location}",
        recommendation=f"The {hop.sender} must not forward the caller's API key to the {hop.receiver}: "
                       f"drop it from {location}.",
    )


def coverage_of(entries: Iterable[HttpExchange], contract: Contract) -> dict[str, set[int]]:
    """Which of ``contract``'s operations the journal saw, with which statuses."""
    seen: dict[str, set[int]] = {}
    for entry in entries:
        match = contract.match(entry.method, entry.path)
        if match is not None and entry.status is not None:
            seen.setdefault(match.operation.label, set()).add(entry.status)
    return seen
