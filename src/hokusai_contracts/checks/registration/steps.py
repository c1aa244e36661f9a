"""The registration's eight steps: api_key, proxy, connect, experiment, train, log_model, register, verify.

What a third-party developer does with nothing but ``MLFLOW_TRACKING_TOKEN``: check the proxy,
connect, create an experiment, train a scikit-learn model, log it with a signature, register it
and read the version back. Each step is a function of the one ``Registration`` it advances and
returns the PRD's success line for it (their order and wording); a failed step raises, and
``run_step`` makes that a ``StepOutcome`` whose detail is the error's first line, key masked.

Imports: the standard library, ``hokusai_contracts.domain.redact`` (standard library only) and,
inside the steps, mlflow and what mlflow itself brings (requests, scikit-learn): this module runs
in other MLflow versions' environments too (see the package's docstring). It works with the
MLflow 2.x and 3.x clients alike.
"""

from __future__ import annotations

import inspect
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hokusai_contracts.domain.redact import KEY_PATTERN, mask, redact

__all__ = ["MODEL_KINDS", "STEPS", "TRUSTED_TYPES", "Registration", "Step", "StepFailed", "StepOutcome",
           "active_experiment", "environment_set", "failure_detail", "log_model_arguments", "mlflow_environment",
           "pinned_requirements", "probe_name", "run_step", "run_steps", "train"]

MODEL_KINDS = ("logistic", "random_forest", "pipeline")
# MLflow 3 saves scikit-learn models with skops, which refuses types it does not know unless the
# caller vouches for them; these are the ones our own models use.
TRUSTED_TYPES: dict[str, list[str]] = {"logistic": [], "random_forest": ["sklearn.tree._tree.Tree"], "pipeline": []}


class StepFailed(Exception):
    """A step failed; the message says why in the user's terms."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status that made the step fail, when one did.
        self.status = status


@dataclass
class Registration:
    """One registration: what it was asked to do, then what its steps learned, in their order."""

    tracking_uri: str
    key: str = field(repr=False)
    kind: str
    experiment_name: str
    #: The registered model's name (several registrations may add versions to one model).
    model_name: str
    health_url: str | None = None
    ca_bundle: str | None = None
    #: MLflow infers the model's pip requirements by loading it in a child Python (3-4 s, nothing sent):
    #: a plain registration does; the in-process scenario names them (``pinned_requirements``) instead.
    infer_requirements: bool = True
    #: An experiment to register into while it is active, instead of creating one (``watch``'s probe experiment).
    reuse_experiment: str | None = None
    client: Any = field(default=None, repr=False)
    experiment_id: str | None = None
    model: Any = field(default=None, repr=False)
    x_train: Any = field(default=None, repr=False)
    accuracy: float | None = None
    run_id: str | None = None
    version: str | None = None


#: A step: advances the registration, returns its success line.
Step = Callable[[Registration], str]


@dataclass(frozen=True)
class StepOutcome:
    name: str
    ok: bool
    detail: str
    seconds: float
    #: What a failed step raised: its fields say more than its first line (HTTP status, MLflow error code).
    error: BaseException | None = None


@contextmanager
def mlflow_environment(registration: Registration) -> Iterator[None]:
    """The MLflow client's settings for ``registration``, restored afterwards (it reads them at request time)."""
    settings = {
        "MLFLOW_TRACKING_URI": registration.tracking_uri,
        "MLFLOW_TRACKING_TOKEN": registration.key,
        # A short retry budget: a broken proxy fails in seconds instead of minutes of back-off.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
        # The steps print their own lines; MLflow's "View run at" URLs would point past the proxy.
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    if registration.ca_bundle:
        settings["MLFLOW_TRACKING_SERVER_CERT_PATH"] = registration.ca_bundle
    with environment_set(settings):
        yield


@contextmanager
def environment_set(settings: dict[str, str]) -> Iterator[None]:
    """``settings`` in this process's environment while the block runs, the earlier values restored after."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def failure_detail(exc: BaseException, key: str) -> str:
    """A failed step's detail: the error's first line, at most 500 characters, every key masked."""
    text = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
    return (redact(text, [key]).splitlines() or [""])[0][:500]


def run_step(registration: Registration, name: str, action: Step) -> StepOutcome:
    """Run one step; never raises for a failed one (its failure is the outcome)."""
    started = time.perf_counter()
    try:
        detail = action(registration)
    except Exception as exc:  # a step's failure is the result, not a crash
        return StepOutcome(name, False, failure_detail(exc, registration.key), time.perf_counter() - started, exc)
    return StepOutcome(name, True, detail, time.perf_counter() - started)


def run_steps(registration: Registration, steps: Sequence[tuple[str, Step]],
              report: Callable[[StepOutcome], None]) -> bool:
    """Run ``steps`` in order, each outcome to ``report``, up to the first that fails; true when all passed."""
    for name, action in steps:
        outcome = run_step(registration, name, action)
        report(outcome)
        if not outcome.ok:
            return False
    return True


def probe_name(prefix: str = "contract-probe") -> str:
    """A resource name a live run can recognise as its own, and nobody else's."""
    return f"{prefix}-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


def train(kind: str) -> tuple[Any, Any, Any, float]:
    """The model of ``kind`` fitted on iris: (model, x_train, x_test, accuracy)."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = load_iris(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.25, random_state=7)
    model: Any
    if kind == "logistic":
        model = LogisticRegression(max_iter=500)
    elif kind == "random_forest":
        model = RandomForestClassifier(n_estimators=20, random_state=7)
    else:
        model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=500))])
    model.fit(x_train, y_train)
    return model, x_train, x_test, float(model.score(x_test, y_test))


def log_model_arguments(log_model: Callable[..., Any], kind: str) -> dict[str, Any]:
    """How this client's ``mlflow.sklearn.log_model`` names the model: ``name`` from 3.0, ``artifact_path`` before."""
    accepted = inspect.signature(log_model).parameters
    arguments: dict[str, Any] = {"name": "model"} if "name" in accepted else {"artifact_path": "model"}
    if "skops_trusted_types" in accepted:
        arguments["skops_trusted_types"] = TRUSTED_TYPES[kind]
    return arguments


def pinned_requirements() -> list[str]:
    """What MLflow itself falls back to when inference fails: the flavour's defaults, this MLflow."""
    import mlflow
    import mlflow.sklearn

    return [f"mlflow=={mlflow.__version__}", *mlflow.sklearn.get_default_pip_requirements()]


# -- the steps, in their order ---------------------------------------------------------------


def check_key(registration: Registration) -> str:
    key = registration.key
    if not KEY_PATTERN.fullmatch(key):
        raise StepFailed(f"API key {mask(key)} is not hk_live_/hk_test_ followed by 32 letters and digits")
    return f"API Key: {mask(key)}"


def check_proxy(registration: Registration) -> str:
    tracking_uri, health_url = registration.tracking_uri, registration.health_url
    if health_url is None:
        return f"Using proxy endpoint: {tracking_uri}"
    import requests  # MLflow's own HTTP client: the same trust store, proxies and errors as its calls

    # A transport error (the proxy down) raises: nothing after it could reach the proxy either.
    answer = requests.get(health_url, timeout=10.0, verify=registration.ca_bundle or True, allow_redirects=False)
    if answer.status_code != 200:
        # Noted, not fatal: the MLflow client never calls health, so a broken health route (production's
        # answers 401) says nothing of whether registration works; the contract judges that answer itself.
        said = redact(answer.text[:200].replace("\n", " "), [registration.key])
        return f"Using proxy endpoint: {tracking_uri} (health answered {answer.status_code}: {said})"
    return f"Using proxy endpoint: {tracking_uri} (health: {answer.status_code})"


def connect(registration: Registration) -> str:
    import mlflow

    registration.client = client = mlflow.MlflowClient(tracking_uri=registration.tracking_uri)
    found = client.search_experiments(max_results=1000)
    return f"MLflow client connected! Found {len(found)} experiments"


def create_experiment(registration: Registration) -> str:
    import mlflow

    reused = active_experiment(registration.client, registration.reuse_experiment)
    name = reused.name if reused is not None else registration.experiment_name
    registration.experiment_id = experiment_id = reused.experiment_id if reused is not None else \
        registration.client.create_experiment(name)
    mlflow.set_tracking_uri(registration.tracking_uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    return f"Experiment {'reused' if reused is not None else 'created'}: {name} (id {experiment_id})"


def active_experiment(client: Any, experiment_id: str | None) -> Any:
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


def fit(registration: Registration) -> str:
    registration.model, registration.x_train, _, accuracy = train(registration.kind)
    registration.accuracy = accuracy
    return f"Model trained with accuracy: {accuracy:.3f}"


def log_model(registration: Registration) -> str:
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model, x_train, kind = registration.model, registration.x_train, registration.kind
    signature = infer_signature(x_train, model.predict(x_train))
    requirements = {} if registration.infer_requirements else {"pip_requirements": pinned_requirements()}
    with mlflow.start_run(experiment_id=registration.experiment_id) as run:
        mlflow.log_param("model_kind", kind)
        mlflow.log_metric("accuracy", registration.accuracy or 0.0)
        mlflow.sklearn.log_model(model, signature=signature, input_example=x_train.head(2), **requirements,
                                 **log_model_arguments(mlflow.sklearn.log_model, kind))
        mlflow.set_tag("hokusai.contract_probe", "true")
        registration.run_id = run.info.run_id
    return f"Model logged! Run ID: {registration.run_id}"


def register(registration: Registration) -> str:
    import mlflow

    name = registration.model_name
    version = mlflow.register_model(f"runs:/{registration.run_id}/model", name)
    registration.version = str(version.version)
    return f"Model registered! Name: {name}, Version: {version.version}"


def verify(registration: Registration) -> str:
    client, name, wanted = registration.client, registration.model_name, registration.version
    if not client.search_registered_models(filter_string=f"name='{name}'"):
        raise StepFailed(f"registered model {name!r} is not found by search_registered_models")
    version = client.get_model_version(name, wanted)
    if str(version.version) != wanted or version.run_id != registration.run_id:
        raise StepFailed(f"version {wanted} of {name!r} does not point at run {registration.run_id}")
    return f"Registered model verified: {name} version {version.version} ({version.status})"


#: The registration, step by step, as every client runs it.
STEPS: tuple[tuple[str, Step], ...] = (
    ("api_key", check_key), ("proxy", check_proxy), ("connect", connect), ("experiment", create_experiment),
    ("train", fit), ("log_model", log_model), ("register", register), ("verify", verify))
