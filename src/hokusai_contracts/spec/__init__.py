"""Spec changes: a static diff of a candidate contract against the current one, and who it hits.

``diff_specs`` lists every change with its severity for a consumer of the current
contract; ``impact`` says which known consumers (``contracts/consumers/*.yaml``)
send or read what a change touches.
"""

from __future__ import annotations

from hokusai_contracts.spec.consumers import (
    Consumer,
    ConsumerOperation,
    expectations_from_journal,
    impact,
    load_consumers,
)
from hokusai_contracts.spec.diff import ChangeKind, Severity, SpecChange, diff_files, diff_specs, exit_code, verdict

__all__ = [
    # The diff
    "ChangeKind",
    "Severity",
    "SpecChange",
    "diff_files",
    "diff_specs",
    "exit_code",
    "verdict",
    # Consumers
    "Consumer",
    "ConsumerOperation",
    "expectations_from_journal",
    "impact",
    "load_consumers",
]
