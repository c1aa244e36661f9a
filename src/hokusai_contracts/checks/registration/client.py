"""The registration as a third party runs it, with whatever MLflow client their environment has.

Run by another MLflow version's interpreter, isolated, from the bundle ``checks/client_versions.py``
writes (``python -I BUNDLE --tracking-uri URI --model logistic``): the environment has MLflow and
scikit-learn but not hokusai_contracts. The API key comes from ``MLFLOW_TRACKING_TOKEN`` in the
environment, as a real client's does, never from argv (which every user of the machine can read).

It prints one JSON object per line on stdout: first ``{"client": {...}}`` (the versions it runs
with), then one ``{"step": {...}}`` per step of ``steps.STEPS``, each with ``name``, ``ok``,
``seconds`` and ``detail``; a failed step also carries the failing call's HTTP ``status`` and
MLflow ``error_code`` where the client reported them, and is the last step. The caller ignores
any other line (an MLflow version may print its own). Exit 0 when every step passed, 1 when one
failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import warnings
from typing import Any

from hokusai_contracts.checks.registration.steps import (
    MODEL_KINDS,
    STEPS,
    Registration,
    StepOutcome,
    failure_detail,
    mlflow_environment,
    probe_name,
    run_steps,
)

__all__ = ["failure_of", "main"]

# The HTTP status as MLflow's and requests' errors word it (the exception keeps no field for it).
_STATUS = re.compile(r"(?:error code|status code|HTTP) (\d{3})\b")


def failure_of(exc: BaseException, key: str) -> dict[str, Any]:
    """What a failed call said: its first line (key masked), HTTP status and MLflow error code where known."""
    detail = failure_detail(exc, key)
    found = _STATUS.search(detail)
    error_code = getattr(exc, "error_code", None)
    return {"detail": detail, "status": int(found.group(1)) if found else None,
            "error_code": str(error_code) if error_code else None}


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _emit_step(outcome: StepOutcome, key: str) -> None:
    step: dict[str, Any] = {"name": outcome.name, "ok": outcome.ok, "seconds": round(outcome.seconds, 3)}
    if outcome.error is None:
        step["detail"] = outcome.detail
    else:
        step.update(failure_of(outcome.error, key))
    _emit({"step": step})


def run(registration: Registration) -> bool:
    import mlflow
    import sklearn

    _emit({"client": {"mlflow": mlflow.__version__, "sklearn": sklearn.__version__,
                      "python": platform.python_version()}})
    with mlflow_environment(registration):
        return run_steps(registration, STEPS, lambda outcome: _emit_step(outcome, registration.key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registration", description="Register one model through an MLflow "
                                                                      "tracking URI.")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model", choices=MODEL_KINDS, default="logistic")
    parser.add_argument("--name", help="the experiment's name (default: a new probe name)")
    parser.add_argument("--register-as", help="the registered model's name (default: the experiment's)")
    parser.add_argument("--health-url")
    parser.add_argument("--ca-bundle")
    args = parser.parse_args(argv)
    key = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    if not key:
        sys.stderr.write("set MLFLOW_TRACKING_TOKEN to the API key to register with\n")
        return 2
    warnings.simplefilter("ignore")  # MLflow 2.x warns on import; warnings are not the scenario's output
    name = args.name or probe_name()
    registration = Registration(args.tracking_uri, key, args.model, name, args.register_as or name,
                                health_url=args.health_url, ca_bundle=args.ca_bundle)
    return 0 if run(registration) else 1
