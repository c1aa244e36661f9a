"""What the proxy forwarded of a replayed request the client sent outside the proxy's contract.

A recording of a whole run holds what its fuzzers and transit probes sent the proxy on purpose:
a control character or an encoded slash in a path parameter, a body the contract forbids. The run
that recorded them judged what the proxy forwarded of them for credential leaks only (a malformed
request reaching MLflow is the sender's doing). Replayed, they arrive before the scenario, in the
part of the proxy->MLflow journal a run judges in full, and the proxy would be blamed for
forwarding what it was given. The proxy's contract decides which requests those are, whoever
recorded them; a key forwarded with one is still a leak.

The replay sends one request at a time, so a forwarded request belongs to the client request
under way at the journal in front of the proxy when it arrived at the journal in front of MLflow
(both stamped by this machine's clock).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.judging import judge_sent

__all__ = ["outside_contract", "split_by_cause"]

#: Where the key went is judged on every hop anyway; it does not make the rest of a request invalid.
_CREDENTIAL_KINDS = frozenset({FindingKind.CREDENTIAL_LEAK, FindingKind.MISSING_CREDENTIAL,
                               FindingKind.UNDECLARED_CREDENTIAL})


def outside_contract(sent: Sequence[HttpExchange], proxy: Contract, mount: str) -> tuple[HttpExchange, ...]:
    """The client requests of ``sent`` that the proxy's contract does not allow as they were sent.

    Only those with both times recorded: without them nothing can be paired with what they caused.
    """
    return tuple(entry for entry in sent if entry.ended_at is not None and _outside(entry, proxy, mount))


def split_by_cause(entries: Sequence[HttpExchange],
                   causes: Sequence[HttpExchange]) -> tuple[list[HttpExchange], list[HttpExchange]]:
    """``entries`` as (arrived while none of ``causes`` was under way, arrived while one was)."""
    if not causes:
        return list(entries), []
    apart: list[HttpExchange] = []
    caused: list[HttpExchange] = []
    for entry in entries:
        (caused if any(cause.spans(entry.started_at) for cause in causes) else apart).append(entry)
    return apart, caused


def _outside(entry: HttpExchange, proxy: Contract, mount: str) -> bool:
    if mount and entry.path.startswith(mount + "/"):
        entry = dataclasses.replace(entry, path=entry.path.removeprefix(mount))
    return any(finding.kind not in _CREDENTIAL_KINDS for finding in judge_sent(entry, proxy, Hop.CLIENT_TO_PROXY))
