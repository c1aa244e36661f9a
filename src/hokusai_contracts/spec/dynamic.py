"""The dynamic half of the spec check: what the proxy sends today, judged against a candidate.

A finding is something the proxy sent the auth service (the proxy->auth hop journal) that the
candidate contract would reject. Findings the current contract raises as well are not the
candidate's doing: they are returned apart, so the check can name and leave them out.
"""

from __future__ import annotations

from collections.abc import Sequence

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.journal.judging import judge_journal

__all__ = ["judge_against_candidate"]


def judge_against_candidate(entries: Sequence[HttpExchange], current: Contract,
                            candidate: Contract) -> tuple[list[Finding], list[Finding]]:
    """(new, pre-existing): findings of ``entries`` against the candidate that the current contract
    does not raise, and those it raises as well (same hop, operation, kind, location)."""
    before = {f.identity() for f in judge_journal(entries, current, Hop.PROXY_TO_AUTH, suite=Suite.SPEC_DYNAMIC)}
    after = judge_journal(entries, candidate, Hop.PROXY_TO_AUTH, suite=Suite.SPEC_DYNAMIC)
    return [f for f in after if f.identity() not in before], [f for f in after if f.identity() in before]
