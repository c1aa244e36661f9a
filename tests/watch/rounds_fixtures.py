"""Rounds as a watch stores them, for the unit tests of the history, alerts, metrics and page."""

from __future__ import annotations

from hokusai_contracts.watch.rounds import NO_HOP, Round, RoundStatus, WatchedCause

__all__ = ["AUTH_DOWN", "CHECK_FAILED", "make_round"]

AUTH_DOWN = WatchedCause(hop="client->auth", kind="unreachable", location="connection", rule="",
                         observed="ConnectError: [Errno 111] Connection refused",
                         diagnosis="infrastructure: auth is down",
                         curl="curl -sS -X POST 'https://auth.example/api/v1/keys/validate' -d '{\"api_key\": "
                              "\"$HOKUSAI_API_KEY\"}'", operations=["GET /health", "POST /api/v1/keys/validate"])
CHECK_FAILED = WatchedCause(hop=NO_HOP, kind="check_failed", location="cleanup: delete what the run created")


def make_round(status: RoundStatus = RoundStatus.PASS, causes: list[WatchedCause] | None = None, *,
               started_at: float = 1_800_000_000.0, seconds: float = 20.0, requests: int = 70,
               latencies: dict[str, list[float]] | None = None) -> Round:
    return Round(started_at=started_at, finished_at=started_at + seconds, status=status, causes=causes or [],
                 requests=requests, checks={"verify-proxy": status is RoundStatus.PASS, "scenario": True},
                 latencies_s=latencies if latencies is not None else {"auth_validate": [0.012, 0.015],
                                                                      "proxy_read": [0.03, 0.05]},
                 report_path="reports/watch/x", diagnosis=causes[0].diagnosis if causes else "")
