"""The registration scenario: what a third-party developer does, with the real MLflow client.

It is the seeds' ``test_real_registration.py`` flow: check the proxy, connect
with nothing but ``MLFLOW_TRACKING_TOKEN``, create an experiment, train a
scikit-learn model, log it with a signature, register it, and read the
version back. It prints the PRD's success lines in their order and wording.

The steps themselves are ``registration.steps``, the library every MLflow client version runs
(``client_versions``); what is the in-process scenario's alone stays here: the step results and
their evidence (``evidence_of``), the lines printed, and the clean-up a run does after registering.

``python -m hokusai_contracts.checks.scenario TRACKING_URI MODEL_NAME`` registers one version of
``MODEL_NAME`` with the key in ``MLFLOW_TRACKING_TOKEN`` (the concurrency probe's children).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hokusai_contracts.checks.registration.steps import (
    STEPS,
    Registration,
    Step,
    StepFailed,
    StepOutcome,
    mlflow_environment,
    probe_name,
    run_steps,
)
from hokusai_contracts.checks.scenario_multipart import MULTIPART_STEP, LargeModel
from hokusai_contracts.domain.findings import Evidence
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check

__all__ = ["ModelKind", "ScenarioResult", "StepFailed", "StepResult", "evidence_of", "probe_name",
           "run_registration", "scenario_checks", "scenario_steps", "step_result", "warm_imports"]


class ModelKind(StrEnum):
    LOGISTIC = "logistic"
    RANDOM_FOREST = "random_forest"
    PIPELINE = "pipeline"


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    #: Why a failed step failed, as far as the error says it (``evidence_of``).
    evidence: Evidence | None = None


@dataclass
class ScenarioResult:
    model_kind: ModelKind
    steps: list[StepResult] = field(default_factory=list)
    experiment_id: str | None = None
    run_id: str | None = None
    model_name: str | None = None
    version: str | None = None
    accuracy: float | None = None
    #: The large model's part uploads straight to the store's presigned URLs (``large_model_mb``), as URLs
    #: without their query: a proxy never sees them.
    multipart_parts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        return next((step for step in self.steps if not step.ok), None)

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)


def warm_imports() -> None:
    """Import what the scenario needs (seconds of work), meant for a thread started early.

    A missing package is not this thread's to report: the step that needs it says so, once,
    in the user's terms, instead of a thread's traceback.
    """
    try:
        # skops: what log_model's save imports (MLflow 3 saves sklearn models with it), 1.5 s otherwise
        # spent inside the scenario.
        import mlflow  # noqa: F401
        import mlflow.sklearn  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        import skops.io  # noqa: F401
    except ImportError:
        return


def scenario_checks(result: ScenarioResult, suite: Suite = Suite.SCENARIO) -> list[Check]:
    """One check per step of ``result``."""
    return [Check(suite=suite, name=f"{result.model_kind.value}:{step.name}",
                  status=CheckStatus.PASSED if step.ok else CheckStatus.FAILED,
                  seconds=round(step.seconds, 3), message=step.detail, evidence=step.evidence)
            for step in result.steps]


#: Answers of a proxy or load balancer whose upstream is down, by HTTP status and by error code.
_DOWN_STATUSES = frozenset({502, 503, 504})
_DOWN_CODES = frozenset({"SERVICE_UNAVAILABLE", "BAD_GATEWAY", "GATEWAY_TIMEOUT", "TEMPORARILY_UNAVAILABLE"})
_REFUSED_CODES = frozenset({"UNAUTHENTICATED"})
# urllib3 says which status exhausted its retries only in this message (ResponseError.SPECIFIC_ERROR).
_RETRIED_STATUS = re.compile(r"too many (\d{3}) error responses")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        for arg in current.args:  # requests wraps urllib3's MaxRetryError as an argument
            if isinstance(arg, BaseException):
                yield arg
                reason = getattr(arg, "reason", None)
                if isinstance(reason, BaseException):
                    yield reason
        current = current.__cause__ or current.__context__


def evidence_of(exc: BaseException) -> Evidence | None:
    """What a failed step's error says of the cause: a part down, or the key refused.

    Read from the error's own fields (MLflow's error code, the HTTP status, the transport error
    underneath), so that the diagnosis never has to read a message.
    """
    import requests

    for error in _chain(exc):
        status = getattr(error, "status", None)
        code = None
        json_body = getattr(error, "json", None)  # mlflow's RestException keeps the answer's body
        if isinstance(json_body, dict):
            code = str(json_body.get("error_code") or "")
        elif isinstance(getattr(error, "error_code", None), str):
            code = error.error_code  # type: ignore[attr-defined]
        if code in _REFUSED_CODES:
            return Evidence.KEY_REFUSED_BY_PROXY
        if code in _DOWN_CODES or status in _DOWN_STATUSES:
            return Evidence.INFRASTRUCTURE_DOWN
        if isinstance(error, requests.ConnectionError | requests.Timeout | TimeoutError):
            return Evidence.INFRASTRUCTURE_DOWN
        retried = _RETRIED_STATUS.search(str(error)) if type(error).__name__ == "ResponseError" else None
        if retried and int(retried.group(1)) in _DOWN_STATUSES:
            return Evidence.INFRASTRUCTURE_DOWN
    return None


def step_result(outcome: StepOutcome) -> StepResult:
    """A step's outcome as the scenario reports it: a failure with what its error says of the cause."""
    evidence = evidence_of(outcome.error) if outcome.error is not None else None
    return StepResult(outcome.name, outcome.ok, outcome.detail, outcome.seconds, evidence)


def run_registration(
    tracking_uri: str,
    api_key: str,
    *,
    model_kind: ModelKind = ModelKind.LOGISTIC,
    health_url: str | None = None,
    name: str | None = None,
    register_as: str | None = None,
    ca_bundle: str | None = None,
    out: Callable[[str], None] = print,
    clean_up: bool = False,
    infer_requirements: bool = False,
    experiment_id: str | None = None,
    large_model_mb: int = 0,
) -> ScenarioResult:
    """Register one model through ``tracking_uri`` (``registration.steps``); never raises for a failed step.

    ``clean_up`` adds what a real client does next: a search with a repeated query parameter, then
    deleting the model version, the registered model and the experiment, through the same proxy
    (DELETE with a JSON body is where proxies go wrong). Not for models others share (concurrency).

    The model's pip requirements are named (``steps.pinned_requirements``) unless ``infer_requirements``:
    MLflow would otherwise infer them by loading the model in a child Python (3-4 s of every run,
    the largest part of ``log_model``), which sends nothing: the same requests and artifacts reach
    the proxy either way. ``make bench``'s floor infers them, as a plain registration does.

    ``experiment_id``: register into this experiment while it is active (``watch`` reuses one probe
    experiment, since MLflow only soft-deletes them); gone or deleted, a new one is created as usual.

    ``large_model_mb``: after the model, log a second one with that many MB of weights by MLflow's
    multipart upload (``scenario_multipart``; an S3 store behind MLflow), the step ``multipart_model``.
    """
    name = name or probe_name()
    # Several scenarios may register versions of one model (the concurrency probe); each still
    # creates its own experiment.
    registration = Registration(tracking_uri, api_key, model_kind.value, name, register_as or name,
                                health_url=health_url, ca_bundle=ca_bundle, infer_requirements=infer_requirements,
                                reuse_experiment=experiment_id)
    result = ScenarioResult(model_kind)

    def record(outcome: StepOutcome) -> None:
        result.steps.append(step_result(outcome))
        if outcome.ok:
            out(f"✓ {outcome.detail}")

    large = LargeModel(large_model_mb)
    with mlflow_environment(registration):
        run_steps(registration, scenario_steps(large if large_model_mb else None, clean_up), record)
    result.multipart_parts = large.parts
    result.experiment_id, result.run_id, result.accuracy = (registration.experiment_id, registration.run_id,
                                                            registration.accuracy)
    if registration.version is not None:
        result.model_name, result.version = registration.model_name, registration.version
    failed = result.failed_step
    if failed is None:
        out("✅ SUCCESS: Third-party model registration completed!")
    else:
        out(f"❌ FAILED at step '{failed.name}': {failed.detail}")
    return result


def scenario_steps(large: LargeModel | None = None, clean_up: bool = False) -> list[tuple[str, Step]]:
    """The registration's steps, ``large`` logged right after the model (so registering still follows
    logging), then the clean-up."""
    steps = list(STEPS)
    if large is not None:
        steps.insert([name for name, _ in steps].index("log_model") + 1, (MULTIPART_STEP, large))
    return [*steps, *(CLEAN_UP if clean_up else ())]


def _search(registration: Registration) -> str:
    # GET with order_by twice: a proxy that keeps one value of a repeated parameter shows here.
    name = registration.model_name
    found = registration.client.search_registered_models(filter_string=f"name='{name}'",
                                                         order_by=["name ASC", "last_updated_timestamp DESC"])
    if [m.name for m in found] != [name]:
        raise StepFailed(f"search_registered_models with two order_by found {[m.name for m in found]}")
    return f"Registered model found by a search ordered by name and last update: {name}"


def _delete(registration: Registration) -> str:
    client, name, version = registration.client, registration.model_name, registration.version
    client.delete_model_version(name, version)
    client.delete_registered_model(name)
    client.delete_experiment(registration.experiment_id)
    return f"Deleted version {version}, registered model {name} and experiment {registration.experiment_id}"


#: What a real client does after registering, when the model is the scenario's alone to delete.
CLEAN_UP = (("search", _search), ("delete", _delete))


def main(argv: Sequence[str] | None = None) -> int:
    """Register one version of a model: ``TRACKING_URI MODEL_NAME``, the key in ``MLFLOW_TRACKING_TOKEN``."""
    tracking_uri, model_name = argv if argv is not None else sys.argv[1:]
    result = run_registration(tracking_uri, os.environ["MLFLOW_TRACKING_TOKEN"], register_as=model_name,
                              health_url=tracking_uri.rstrip("/") + "/health/mlflow")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
