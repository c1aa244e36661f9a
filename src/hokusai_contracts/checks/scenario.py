"""The registration scenario: what a third-party developer does, with the real MLflow client.

It is the seeds' ``test_real_registration.py`` flow: check the proxy, connect
with nothing but ``MLFLOW_TRACKING_TOKEN``, create an experiment, train a
scikit-learn model, log it with a signature, register it, and read the
version back. It prints the PRD's success lines in their order and wording.

``python -m hokusai_contracts.checks.scenario TRACKING_URI MODEL_NAME`` registers one version of
``MODEL_NAME`` with the key in ``MLFLOW_TRACKING_TOKEN`` (the concurrency probe's children).
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from hokusai_contracts.checks import registration_client
from hokusai_contracts.domain.findings import Evidence
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.domain.redact import mask, redact
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check

__all__ = ["ModelKind", "ScenarioResult", "StepResult", "evidence_of", "probe_name", "run_registration",
           "scenario_checks", "warm_imports"]


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


def pinned_requirements() -> list[str]:
    """What MLflow itself falls back to when inference fails: the flavour's defaults, this MLflow."""
    import mlflow
    import mlflow.sklearn

    return [f"mlflow=={mlflow.__version__}", *mlflow.sklearn.get_default_pip_requirements()]


class ScenarioFailed(Exception):
    """A step failed; the message says why in the user's terms."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status that made the step fail, when one did.
        self.status = status


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
        if isinstance(error, requests.ConnectionError | requests.Timeout | httpx.TransportError | TimeoutError):
            return Evidence.INFRASTRUCTURE_DOWN
        retried = _RETRIED_STATUS.search(str(error)) if type(error).__name__ == "ResponseError" else None
        if retried and int(retried.group(1)) in _DOWN_STATUSES:
            return Evidence.INFRASTRUCTURE_DOWN
    return None


def probe_name(prefix: str = "contract-probe") -> str:
    """A resource name a live run can recognise as its own, and nobody else's."""
    return f"{prefix}-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


@contextmanager
def _mlflow_environment(tracking_uri: str, api_key: str, ca_bundle: str | None) -> Iterator[None]:
    # The MLflow client reads these at request time; the retry budget is cut so that a
    # broken proxy fails in seconds instead of retrying with back-off for minutes.
    settings = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_TRACKING_TOKEN": api_key,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
        # The scenario prints its own lines; MLflow's "View run at" URLs would point past the proxy.
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    if ca_bundle:
        settings["MLFLOW_TRACKING_SERVER_CERT_PATH"] = ca_bundle
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
) -> ScenarioResult:
    """Register one model through ``tracking_uri``; never raises for a failed step.

    ``clean_up`` adds what a real client does next: a search with a repeated query parameter, then
    deleting the model version, the registered model and the experiment, through the same proxy
    (DELETE with a JSON body is where proxies go wrong). Not for models others share (concurrency).

    The model's pip requirements are named (``pinned_requirements``) unless ``infer_requirements``:
    MLflow would otherwise infer them by loading the model in a child Python (3-4 s of every run,
    the largest part of ``log_model``), which sends nothing: the same requests and artifacts reach
    the proxy either way. ``make bench``'s floor infers them, as a plain registration does.

    ``experiment_id``: register into this experiment while it is active (``watch`` reuses one probe
    experiment, since MLflow only soft-deletes them); gone or deleted, a new one is created as usual.
    """
    result = ScenarioResult(model_kind)
    name = name or probe_name()
    # Several scenarios may register versions of one model (the concurrency probe); each still
    # creates its own experiment.
    model_name = register_as or name

    def step(title: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            detail = action()
        except Exception as exc:  # a step's failure is the result, not a crash
            text = str(exc) if isinstance(exc, ScenarioFailed) else f"{type(exc).__name__}: {exc}"
            message = (redact(text, [api_key]).splitlines() or [""])[0][:500]
            result.steps.append(StepResult(title, False, message, time.perf_counter() - started, evidence_of(exc)))
            raise ScenarioFailed(message) from None
        result.steps.append(StepResult(title, True, detail, time.perf_counter() - started))
        out(f"✓ {detail}")

    state: dict[str, Any] = {}

    def check_key() -> str:
        from hokusai_contracts.domain.redact import KEY_PATTERN

        if not KEY_PATTERN.fullmatch(api_key):
            raise ScenarioFailed(f"API key {mask(api_key)} is not hk_live_/hk_test_ followed by 32 letters and digits")
        return f"API Key: {mask(api_key)}"

    def check_proxy() -> str:
        if health_url is None:
            return f"Using proxy endpoint: {tracking_uri}"
        answer = httpx.get(health_url, timeout=10.0, verify=ca_bundle or True)
        if answer.status_code != 200:
            raise ScenarioFailed(f"proxy health {health_url} answered {answer.status_code}: {answer.text[:200]}",
                                 status=answer.status_code)
        return f"Using proxy endpoint: {tracking_uri} (health: {answer.status_code})"

    def connect() -> str:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        state["client"] = client
        found = client.search_experiments(max_results=1000)
        return f"MLflow client connected! Found {len(found)} experiments"

    def create_experiment() -> str:
        import mlflow

        reused = _active_experiment(state["client"], experiment_id)
        result.experiment_id = reused.experiment_id if reused else state["client"].create_experiment(name)
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment_id=result.experiment_id)
        if reused:
            return f"Experiment reused: {reused.name} (id {result.experiment_id})"
        return f"Experiment created: {name} (id {result.experiment_id})"

    def train() -> str:
        model, x_train, x_test, accuracy = registration_client.train(model_kind.value)
        state.update(model=model, x_train=x_train, x_test=x_test)
        result.accuracy = accuracy
        return f"Model trained with accuracy: {accuracy:.3f}"

    def log_model() -> str:
        import mlflow
        from mlflow.models import infer_signature

        model, x_train = state["model"], state["x_train"]
        signature = infer_signature(x_train, model.predict(x_train))
        with mlflow.start_run(experiment_id=result.experiment_id) as run:
            mlflow.log_param("model_kind", model_kind.value)
            mlflow.log_metric("accuracy", result.accuracy or 0.0)
            requirements = {} if infer_requirements else {"pip_requirements": pinned_requirements()}
            mlflow.sklearn.log_model(model, signature=signature, input_example=x_train.head(2), **requirements,
                                     **registration_client.log_model_arguments(mlflow.sklearn.log_model,
                                                                                      model_kind.value))
            mlflow.set_tag("hokusai.contract_probe", "true")
            result.run_id = run.info.run_id
        return f"Model logged! Run ID: {result.run_id}"

    def register() -> str:
        import mlflow

        version = mlflow.register_model(f"runs:/{result.run_id}/model", model_name)
        result.model_name, result.version = model_name, str(version.version)
        return f"Model registered! Name: {model_name}, Version: {version.version}"

    def verify() -> str:
        client = state["client"]
        found = client.search_registered_models(filter_string=f"name='{model_name}'")
        if not found:
            raise ScenarioFailed(f"registered model {model_name!r} is not found by search_registered_models")
        version = client.get_model_version(model_name, result.version)
        if str(version.version) != result.version or version.run_id != result.run_id:
            raise ScenarioFailed(f"version {result.version} of {model_name!r} does not point at run {result.run_id}")
        return f"Registered model verified: {model_name} version {version.version} ({version.status})"

    def search() -> str:
        # GET with order_by twice: a proxy that keeps one value of a repeated parameter shows here.
        found = state["client"].search_registered_models(filter_string=f"name='{model_name}'",
                                                         order_by=["name ASC", "last_updated_timestamp DESC"])
        if [m.name for m in found] != [model_name]:
            raise ScenarioFailed(f"search_registered_models with two order_by found {[m.name for m in found]}")
        return f"Registered model found by a search ordered by name and last update: {model_name}"

    def delete() -> str:
        client = state["client"]
        client.delete_model_version(model_name, result.version)
        client.delete_registered_model(model_name)
        client.delete_experiment(result.experiment_id)
        return f"Deleted version {result.version}, registered model {model_name} and experiment {result.experiment_id}"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("api_key", check_key), ("proxy", check_proxy), ("connect", connect), ("experiment", create_experiment),
        ("train", train), ("log_model", log_model), ("register", register), ("verify", verify)]
    if clean_up:
        steps += [("search", search), ("delete", delete)]
    with _mlflow_environment(tracking_uri, api_key, ca_bundle):
        try:
            for title, action in steps:
                step(title, action)
        except ScenarioFailed:
            failed = result.failed_step
            assert failed is not None
            out(f"❌ FAILED at step '{failed.name}': {failed.detail}")
            return result
    out("✅ SUCCESS: Third-party model registration completed!")
    return result


def _active_experiment(client: Any, experiment_id: str | None) -> Any:
    """The experiment ``experiment_id`` if it is there and active, else None (any other error is the step's)."""
    if experiment_id is None:
        return None
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment(experiment_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return found if found is not None and found.lifecycle_stage == "active" else None


def main(argv: Sequence[str] | None = None) -> int:
    """Register one version of a model: ``TRACKING_URI MODEL_NAME``, the key in ``MLFLOW_TRACKING_TOKEN``."""
    tracking_uri, model_name = argv if argv is not None else sys.argv[1:]
    result = run_registration(tracking_uri, os.environ["MLFLOW_TRACKING_TOKEN"], register_as=model_name,
                              health_url=tracking_uri.rstrip("/") + "/health/mlflow")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
