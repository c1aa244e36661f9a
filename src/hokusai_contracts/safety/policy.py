"""What a live run may send to production, decided per request before it leaves.

The rules of the issue, enforced in one place that every live request passes
(the tool's own probes, the MLflow client, the Schemathesis suites):

- no secret of the run (the key under test, anything registered with
  ``domain.redact.register_secrets``) in a URL, path or query, plain or
  percent-encoded: URLs end up in access logs of load balancers, CDNs and proxies;
- the API key goes to the proxy and the auth service only, never to MLflow
  direct or another prefix of the proxy's host;
- on the auth service, only operations its contract marks ``x-live-safe``
  (validate, health): never a key create, revoke or rotate, never a usage record;
- on MLflow (through the proxy or direct), reads freely; writes only when they
  create ``contract-probe-*`` resources or touch what this run created, so a
  delete can never reach anything the run did not make.

The policy learns what the run created from the answers to its creates.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, unquote_plus

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import key_required_at
from hokusai_contracts.domain.redact import redact, registered_secrets

__all__ = ["PROBE_PREFIX", "Created", "OutgoingRequest", "SafetyPolicy", "Target"]

PROBE_PREFIX = "contract-probe-"
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# Body fields that name an MLflow resource a write acts on.
_REFERENCE_FIELDS = {"experiment_id": "experiment", "experiment_ids": "experiment", "run_id": "run",
                     "run_uuid": "run", "source_run_id": "run", "model_id": "logged_model"}
_NAMED = ("/api/2.0/mlflow/registered-models/", "/api/2.0/mlflow/model-versions/")
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"
_LOGGED_MODELS = "/api/2.0/mlflow/logged-models/"
#: Cleanup's own calls. The contracts describe the registration workflow, which deletes nothing;
#: these two are the tool's, and like every write they must name what the run created.
CLEANUP_OPERATIONS = {("DELETE", "/api/2.0/mlflow/registered-models/delete"),
                      ("POST", "/api/2.0/mlflow/experiments/delete"),
                      # watch: a round's runs, in the probe experiment the rounds share
                      ("POST", "/api/2.0/mlflow/runs/delete")}


class Target(StrEnum):
    PROXY = "proxy"  # the tracking URI: the key goes here
    AUTH = "auth"  # the auth service: the key goes here
    MLFLOW = "mlflow"  # MLflow without the proxy: the key only where its contract requires it (a gateway)
    ORIGIN = "origin"  # the proxy's host root, to see which prefixes answer: never the key, reads only

    @property
    def takes_key(self) -> bool:
        return self in (Target.PROXY, Target.AUTH)


@dataclass(frozen=True)
class OutgoingRequest:
    target: Target
    method: str
    path: str  # relative to the target's base URL, starting with "/"
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class Created:
    """MLflow resources this run made, by kind: the only ones it may change or delete."""

    experiment: set[str] = field(default_factory=set)
    run: set[str] = field(default_factory=set)
    logged_model: set[str] = field(default_factory=set)
    registered_model: set[str] = field(default_factory=set)

    def owns(self, kind: str, value: str) -> bool:
        return value in getattr(self, kind)


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _url_forms(url: str) -> set[str]:
    """``url`` as sent and as each decoding makes it, so that an encoded secret is still seen."""
    forms = {url}
    for _ in range(3):  # encoded twice over at most; a third round finds nothing new
        forms |= {unquote(f) for f in forms} | {unquote_plus(f) for f in forms}
    return forms


class SafetyPolicy:
    def __init__(self, api_key: str, auth_contract: Contract, mlflow_contract: Contract,
                 secrets: Iterable[str] = ()) -> None:
        self.api_key = api_key
        self._secrets = tuple(s for s in secrets if s)
        self._auth = auth_contract
        self._mlflow = mlflow_contract
        self._lock = threading.Lock()
        self.created = Created()

    # -- deciding ----------------------------------------------------------------------------

    def refusal(self, request: OutgoingRequest) -> str | None:
        """Why ``request`` must not be sent, or None when it may."""
        method = request.method.upper()
        if self._secret_in_url(request):
            return (f"{method} {redact(request.path, self.secrets)[:200]} would carry a secret of the run in its "
                    "URL, where access logs keep it: live runs send keys in headers and bodies only")
        if not request.target.takes_key and self._carries_key(request) and not self._key_required(request):
            return (f"the API key would go to {request.target.value} ({method} {request.path}): "
                    "live runs send it to the proxy, the auth service, and an MLflow whose contract requires it "
                    "(MLFLOW_OVERLAY) in the header it names, only")
        if request.target is Target.ORIGIN:
            return None if method in _READ_METHODS else f"{method} {request.path}: other prefixes get reads only"
        contract = self._auth if request.target is Target.AUTH else self._mlflow
        found = contract.match(method, request.path)
        if found is not None and found.operation.spec.get("x-live-safe"):
            return None
        if request.target is Target.AUTH:
            if found is None and method in _READ_METHODS:
                return None
            label = found.operation.label if found else f"{method} {request.path}"
            return (f"{label} is not marked x-live-safe in {self._auth.display_path}: live runs never create, "
                    "revoke or rotate keys, nor record usage")
        if method in _READ_METHODS:
            return None
        if (method, request.path) in CLEANUP_OPERATIONS:
            return self._write_refusal(request, f"{method} {request.path}", {})
        if found is None:
            return f"{method} {request.path} is not an operation of {self._mlflow.display_path}: not sent to production"
        return self._write_refusal(request, found.operation.label, found.path_params)

    @property
    def secrets(self) -> frozenset[str]:
        """The key under test and every other secret the run knows."""
        return frozenset({self.api_key, *self._secrets} | registered_secrets())

    def _secret_in_url(self, request: OutgoingRequest) -> bool:
        forms = _url_forms(request.path + "?" + request.query)
        return any(secret in form for secret in self.secrets for form in forms)

    def _carries_key(self, request: OutgoingRequest) -> bool:
        return any(self.api_key in value for value in request.headers.values()) or self.api_key in request.query \
            or self.api_key.encode() in request.body

    def _key_required(self, request: OutgoingRequest) -> bool:
        """The key goes to MLflow directly only in headers MLflow's contract requires it in (a gateway's)."""
        if request.target is not Target.MLFLOW or self.api_key in request.query or \
                self.api_key.encode() in request.body:
            return False
        carrying = [name for name, value in request.headers.items() if self.api_key in value]
        return all(key_required_at(self._mlflow, request.method.upper(), request.path, name) for name in carrying)

    def _write_refusal(self, request: OutgoingRequest, label: str, path_params: Mapping[str, str]) -> str | None:
        body = request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if label.endswith(("/experiments/create", "/registered-models/create")):
            if isinstance(name, str) and name.startswith(PROBE_PREFIX):
                return None
            return f"{label} with name {name!r}: live runs create only {PROBE_PREFIX}* resources"
        references = list(self._references(request, body, path_params))
        if not references:
            return f"{label}: cannot tell which resource it changes, so it is not sent to production"
        with self._lock:
            foreign = [(kind, value) for kind, value in references if not self.created.owns(kind, value)]
        if foreign:
            kind, value = foreign[0]
            return (f"{label} touches {kind.replace('_', ' ')} {value!r}, which this run did not create: "
                    "live runs change and delete only what they made")
        return None

    @staticmethod
    def _references(request: OutgoingRequest, body: Any, path_params: Mapping[str, str]
                    ) -> Iterator[tuple[str, str]]:
        for key, value in _walk(body):
            kind = _REFERENCE_FIELDS.get(key)
            if kind is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                yield kind, str(item)
        if isinstance(body, dict) and request.path.startswith(_NAMED) and "name" in body:
            yield "registered_model", str(body["name"])
        if "model_id" in path_params:
            yield "logged_model", path_params["model_id"]
        if request.path.startswith(_ARTIFACTS):
            # Artifact paths start with the experiment id: <experiment>/<run or models>/...
            yield "experiment", request.path[len(_ARTIFACTS):].split("/", 1)[0]
        elif request.path.startswith(_LOGGED_MODELS):
            yield "logged_model", request.path[len(_LOGGED_MODELS):].split("/", 1)[0]

    # -- learning ----------------------------------------------------------------------------

    def observe(self, request: OutgoingRequest, status: int, body: bytes) -> None:
        """Learn the ids a successful create handed out."""
        if status != 200 or request.target not in (Target.PROXY, Target.MLFLOW) or request.method.upper() != "POST":
            return
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            return
        sent = request.json() or {}
        path = request.path
        with self._lock:
            if path.endswith("/api/2.0/mlflow/experiments/create") and answer.get("experiment_id"):
                self.created.experiment.add(str(answer["experiment_id"]))
            elif path.endswith("/api/2.0/mlflow/runs/create"):
                info = (answer.get("run") or {}).get("info") or {}
                self.created.run.update(str(v) for v in (info.get("run_id"), info.get("run_uuid")) if v)
            elif path.endswith("/api/2.0/mlflow/logged-models"):
                info = (answer.get("model") or {}).get("info") or {}
                if info.get("model_id"):
                    self.created.logged_model.add(str(info["model_id"]))
            elif path.endswith("/api/2.0/mlflow/registered-models/create") and isinstance(sent, dict):
                self.created.registered_model.add(str(sent.get("name")))
