"""Deleting what a live run created, and nothing else.

The policy learned every id the run's creates handed out; cleanup deletes
those registered models (their versions go with them) and experiments
(MLflow's REST API only soft-deletes an experiment: it moves to the
``deleted`` stage, with its runs and logged models, and ``mlflow gc`` on the
server purges it). Deletes go through the proxy with the key, the way the
resources were made, and through the gate, which refuses any other target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hokusai_contracts.checks.live.probing import LiveProbes, answer_of
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult
from hokusai_contracts.safety.gate import Refused
from hokusai_contracts.safety.policy import Created

__all__ = ["CleanupResult", "clean_up", "cleanup_phase"]

SUITE = Suite.CLEANUP


@dataclass
class CleanupResult:
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def clean_up(probes: LiveProbes, created: Created, spare: frozenset[str] = frozenset()) -> CleanupResult:
    """``spare``: experiments kept for the next run (``watch``'s probe experiment); the run's runs are
    deleted instead, since they would stay in it."""
    outcome = CleanupResult()
    # MLflow's REST API: DELETE with a JSON body for registered models, POST for experiments and runs.
    calls = [("run", "POST", "/api/2.0/mlflow/runs/delete", {"run_id": run})
             for run in sorted(created.run)] if spare else []
    calls += [("registered model", "DELETE", "/api/2.0/mlflow/registered-models/delete", {"name": name})
              for name in sorted(created.registered_model)]
    calls += [("experiment", "POST", "/api/2.0/mlflow/experiments/delete", {"experiment_id": experiment})
              for experiment in sorted(created.experiment - spare, key=lambda e: (len(e), e))]
    headers = {"Authorization": f"Bearer {probes.api_key}"}
    for kind, method, path, body in calls:
        what = f"{kind} {next(iter(body.values()))}"
        result = probes.ask(method, probes.proxy_url + path, json=body, headers=headers)
        gone = result.status == 200 or (result.status == 404 and kind == "registered model")
        (outcome.deleted if gone else outcome.failed).append(what if gone else f"{what}: {answer_of(result)}")
    return outcome


def cleanup_phase(probes: LiveProbes, created: Created, keep: bool,
                  spare: frozenset[str] = frozenset()) -> PhaseResult:
    """Delete what the run created (or say what was kept): one check, none when nothing was made."""
    made = [f"registered model {n}" for n in sorted(created.registered_model)] + \
           [f"experiment {e}" for e in sorted(created.experiment - spare)] + \
           ([f"run {r}" for r in sorted(created.run)] if spare else [])
    if not made:
        return PhaseResult()
    tell = probes.out
    tell("\n— cleanup —")
    if keep:
        tell("Kept (KEEP=1): " + ", ".join(made))
        return PhaseResult(checks=[Check(suite=SUITE, name="kept", status=CheckStatus.SKIPPED,
                                         message="kept on request: " + ", ".join(made))])
    name = "delete what the run created"
    try:
        outcome = clean_up(probes, created, spare)
    except (Refused, OSError) as exc:
        tell(f"✗ cleanup stopped: {exc}; left behind: {', '.join(made)}")
        return PhaseResult(checks=[Check(suite=SUITE, name=name, status=CheckStatus.ERROR,
                                         message=f"{exc}; left behind: {', '.join(made)}")])
    failed = bool(outcome.failed)
    message = f"deleted {', '.join(outcome.deleted) or 'nothing'}" + \
              (f"; could not delete {'; '.join(outcome.failed)}" if failed else "")
    tell(f"{'✗' if failed else '✓'} {message}")
    return PhaseResult(checks=[Check(suite=SUITE, name=name, message=message,
                                     status=CheckStatus.FAILED if failed else CheckStatus.PASSED)])
