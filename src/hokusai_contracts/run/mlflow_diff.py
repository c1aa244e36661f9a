"""``hokusai-contracts mlflow-diff OLD NEW``: what changes for a client of MLflow OLD when the server runs NEW.

Both versions' MLflow contracts (``mlflow.yaml``: committed, or generated on demand from the
version's protos) go through the spec-diff engine (``spec.diff.diff_files``) with OLD as the
current contract and NEW as the candidate, so each change is judged from the side of a client
written against OLD: an operation NEW no longer has, a request field it now requires, a response
field it stopped sending are breaking; what NEW adds is compatible. The diff covers the operations
the contracts cover (``hokusai_mlflow_openapi.protos.OPERATIONS``: registration and what is called
around it), not all of MLflow.

Printed as text, and written to ``REPORT_DIR/mlflow-diff.json`` (the ``MlflowDiff`` model). Exit
code as spec-check: 1 when a change is breaking for a client of OLD, else 0; 2 for bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.files import contracts_root
from hokusai_contracts.contracts.mlflow_versions import MlflowContracts, check_version, known_contracts
from hokusai_contracts.spec.changes import ChangeKind, Severity, SpecChange, verdict
from hokusai_contracts.spec.diff import diff_files

__all__ = ["MLFLOW_DIFF_FILE", "ContractsFor", "MlflowDiff", "committed_only", "diff_mlflow_versions", "render_text",
           "run_mlflow_diff"]

MLFLOW_DIFF_FILE = "mlflow-diff.json"


class MlflowDiff(BaseModel):
    """The REST differences between two MLflow versions, for a client of the older one."""

    old: str = Field(description="The version the client was written against (the current contract).")
    new: str = Field(description="The server's version (the candidate contract).")
    old_contract: str
    new_contract: str
    #: False for a version whose contract was generated on demand: its deviations were not reviewed.
    old_reviewed: bool
    new_reviewed: bool
    verdict: Severity
    operations_added: list[str]
    operations_removed: list[str]
    changes: list[SpecChange] = Field(description="Every change, breaking or compatible, in diff order.")

    @property
    def breaking(self) -> list[SpecChange]:
        return [c for c in self.changes if c.severity is Severity.BREAKING]


#: How a command finds (or makes) a version's contracts: ``commands.mlflow_contracts.ensure_mlflow_contracts``.
ContractsFor = Callable[[str, str], MlflowContracts]


def committed_only(version: str, setting: str) -> MlflowContracts:
    """The contracts already there (committed, or generated before); this layer never runs the generator."""
    found = known_contracts(version, setting)
    if found is None:
        raise UsageError(f"{setting}={version}: MLflow {version} has no contracts yet; `hokusai-contracts mlflow-diff` "
                         "and `hokusai-contracts local` generate them on first use")
    return found


def diff_mlflow_versions(old: str, new: str, contracts_for: ContractsFor = committed_only) -> MlflowDiff:
    old, new = check_version(old, "OLD"), check_version(new, "NEW")
    before = contracts_for(old, "OLD")
    after = contracts_for(new, "NEW")
    changes = diff_files(before.mlflow, after.mlflow, contracts_root())
    return MlflowDiff(
        old=old, new=new, old_contract=_shown(before.mlflow), new_contract=_shown(after.mlflow),
        old_reviewed=before.reviewed, new_reviewed=after.reviewed, verdict=verdict(changes),
        operations_added=[c.operation for c in changes if c.kind is ChangeKind.OPERATION_ADDED],
        operations_removed=[c.operation for c in changes if c.kind is ChangeKind.OPERATION_REMOVED],
        changes=changes,
    )


def render_text(diff: MlflowDiff) -> str:
    lines = [f"MLflow {diff.old} -> {diff.new}: {len(diff.changes)} REST changes, {len(diff.breaking)} breaking for "
             f"an MLflow {diff.old} client ({diff.old_contract} -> {diff.new_contract})"]
    for version, reviewed in ((diff.old, diff.old_reviewed), (diff.new, diff.new_reviewed)):
        if not reviewed:
            lines.append(f"Warning: the contract of MLflow {version} was generated on demand from its protos; its "
                         "deviations have not been reviewed.")
    for title, severity in (("Breaking", Severity.BREAKING), ("Compatible", Severity.COMPATIBLE)):
        chosen = [c for c in diff.changes if c.severity is severity]
        if chosen:
            lines.append(f"\n{title} ({len(chosen)}):")
            lines += [f"  - [{c.kind.value}] {c.summary}" for c in chosen]
    if not diff.changes:
        lines.append("No differences in the operations the contracts cover.")
    return "\n".join(lines)


def run_mlflow_diff(old: str, new: str, report_dir: Path, out: Callable[[str], None] = print,
                    contracts_for: ContractsFor = committed_only) -> int:
    diff = diff_mlflow_versions(old, new, contracts_for)
    out(render_text(diff))
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / MLFLOW_DIFF_FILE
        path.write_text(diff.model_dump_json(indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {report_dir / MLFLOW_DIFF_FILE} ({exc.strerror or exc}); choose a writable "
                         "REPORT_DIR") from None
    out(f"\nWritten: {path}")
    return 1 if diff.verdict is Severity.BREAKING else 0


def _shown(path: Path) -> str:
    root = contracts_root()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
