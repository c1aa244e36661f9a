"""The registration scenario as a third party runs it, with whatever MLflow client they have installed.

Run as a file by the interpreter of a client environment that has MLflow and scikit-learn but not
hokusai_contracts (``python -I registration_client.py --tracking-uri URI --model logistic``), so
it imports nothing but the standard library, mlflow and scikit-learn, and works with the MLflow
2.x and 3.x clients alike. The API key comes from ``MLFLOW_TRACKING_TOKEN`` in the environment,
as a real client's does, never from argv (which every user of the machine can read).

``scenario.py`` (the in-process scenario with the pinned client) trains and logs its models with
``train`` and ``log_model_arguments`` from here, so both scenarios register the same models.

It prints one JSON object per line on stdout: first ``{"client": {...}}`` (the versions it runs
with), then one ``{"step": {...}}`` per step, in the steps of ``scenario.py`` (api_key, proxy,
connect, experiment, train, log_model, register, verify), each with ``name``, ``ok``,
``seconds`` and ``detail``; a failed step also carries the failing call's HTTP ``status`` and
MLflow ``error_code`` where the client reported them, and is the last step. The caller ignores
any other line (an MLflow version may print its own). Exit 0 when every step passed, 1 when one
failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from typing import Any

MODEL_KINDS = ("logistic", "random_forest", "pipeline")
_KEY = re.compile(r"hk_(?:live|test)_[A-Za-z0-9]{32}")
_STATUS = re.compile(r"(?:error code|status code|HTTP) (\d{3})\b")
# MLflow 3 saves scikit-learn models with skops, which refuses types it does not know unless the
# caller vouches for them; these are the ones our own models use.
TRUSTED_TYPES = {"logistic": [], "random_forest": ["sklearn.tree._tree.Tree"], "pipeline": []}


class StepFailed(Exception):
    """A step failed; the message says why in the user's terms."""


def mask(key: str) -> str:
    return f"{key[:10]}...{key[-4:]}" if len(key) > 14 else "***"


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


def failure_of(exc: BaseException, key: str) -> dict[str, Any]:
    """What a failed call said: its first line (key masked), HTTP status and MLflow error code where known."""
    text = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
    text = _KEY.sub(lambda m: mask(m.group(0)), text.replace(key, mask(key)) if key else text)
    found = _STATUS.search(text)
    error_code = getattr(exc, "error_code", None)
    return {"detail": (text.splitlines() or [""])[0][:500], "status": int(found.group(1)) if found else None,
            "error_code": str(error_code) if error_code else None}


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def run(tracking_uri: str, key: str, kind: str, name: str, register_as: str, health_url: str | None,
        ca_bundle: str | None) -> bool:
    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow.models import infer_signature

    emit({"client": {"mlflow": mlflow.__version__, "sklearn": sklearn.__version__,
                     "python": platform.python_version()}})
    state: dict[str, Any] = {}

    def check_key() -> str:
        if not _KEY.fullmatch(key):
            raise StepFailed(f"API key {mask(key)} is not hk_live_/hk_test_ followed by 32 letters and digits")
        return f"API Key: {mask(key)}"

    def check_proxy() -> str:
        if health_url is None:
            return f"Using proxy endpoint: {tracking_uri}"
        import ssl

        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
        try:
            with urllib.request.urlopen(health_url, timeout=10, context=context) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise StepFailed(f"proxy health {health_url} answered {exc.code}") from None
        return f"Using proxy endpoint: {tracking_uri} (health: {status})"

    def connect() -> str:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        state["client"] = client
        return f"MLflow client connected! Found {len(client.search_experiments(max_results=1000))} experiments"

    def create_experiment() -> str:
        state["experiment_id"] = state["client"].create_experiment(name)
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment_id=state["experiment_id"])
        return f"Experiment created: {name} (id {state['experiment_id']})"

    def fit() -> str:
        state["model"], state["x_train"], _, state["accuracy"] = train(kind)
        return f"Model trained with accuracy: {state['accuracy']:.3f}"

    def log_model() -> str:
        model, x_train = state["model"], state["x_train"]
        signature = infer_signature(x_train, model.predict(x_train))
        with mlflow.start_run(experiment_id=state["experiment_id"]) as active:
            mlflow.log_param("model_kind", kind)
            mlflow.log_metric("accuracy", state["accuracy"])
            mlflow.sklearn.log_model(model, signature=signature, input_example=x_train.head(2),
                                     **log_model_arguments(mlflow.sklearn.log_model, kind))
            mlflow.set_tag("hokusai.contract_probe", "true")
            state["run_id"] = active.info.run_id
        return f"Model logged! Run ID: {state['run_id']}"

    def register() -> str:
        version = mlflow.register_model(f"runs:/{state['run_id']}/model", register_as)
        state["version"] = str(version.version)
        return f"Model registered! Name: {register_as}, Version: {version.version}"

    def verify() -> str:
        client = state["client"]
        if not client.search_registered_models(filter_string=f"name='{register_as}'"):
            raise StepFailed(f"registered model {register_as!r} is not found by search_registered_models")
        version = client.get_model_version(register_as, state["version"])
        if str(version.version) != state["version"] or version.run_id != state["run_id"]:
            raise StepFailed(f"version {state['version']} of {register_as!r} does not point at run {state['run_id']}")
        return f"Registered model verified: {register_as} version {version.version} ({version.status})"

    for title, action in (("api_key", check_key), ("proxy", check_proxy), ("connect", connect),
                          ("experiment", create_experiment), ("train", fit), ("log_model", log_model),
                          ("register", register), ("verify", verify)):
        started = time.perf_counter()
        try:
            detail = action()
        except Exception as exc:  # a step's failure is the result, not a crash
            emit({"step": {"name": title, "ok": False, "seconds": round(time.perf_counter() - started, 3),
                           **failure_of(exc, key)}})
            return False
        emit({"step": {"name": title, "ok": True, "seconds": round(time.perf_counter() - started, 3),
                       "detail": detail}})
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Register one model through an MLflow tracking URI.")
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
    # The client reads these at request time; a short retry budget makes a broken proxy fail in
    # seconds instead of minutes of back-off. MLflow's "View run at" URLs would point past the proxy.
    for variable, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0"),
                            ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"), ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")):
        os.environ.setdefault(variable, value)
    os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    if args.ca_bundle:
        os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = args.ca_bundle
    warnings.simplefilter("ignore")  # MLflow 2.x warns on import; warnings are not the scenario's output
    name = args.name or f"contract-probe-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
    ok = run(args.tracking_uri, key, args.model, name, args.register_as or name, args.health_url, args.ca_bundle)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
