"""Which stores production shows through its REST API, read off the live run's own traffic.

A listener on the gate sees every answer the proxy gave the run. The artifact location of the
run's own probe experiment (``contract-probe-*``) tells how production's MLflow serves artifacts:
``mlflow-artifacts`` (an artifacts destination: ``ARTIFACT_STORE=s3`` with
``MLFLOW_ARTIFACTS=proxied`` mirrors it) or the store's own scheme (``s3``: the entrypoint's
default artifact root, ``MLFLOW_ARTIFACTS=root``). The report's targets name the scheme, and every
location a client could not write through the proxy is an ``unreachable_artifact_location``
finding, as in a local run. Nothing is sent for it: only what the run asked anyway is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hokusai_contracts.checks.artifact_locations import judge_artifact_locations, locations_in
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.safety.gate import Listener
from hokusai_contracts.safety.policy import OutgoingRequest, Target

__all__ = ["PROBE_PREFIX", "StoreWatch"]

PROBE_PREFIX = "contract-probe"
#: Answers kept for judging: the experiment and run reads of a registration are a handful.
_KEPT = 200


@dataclass
class _Answer:
    method: str
    path: str
    request_body: str | None
    status: int | None
    response_body: str | None


@dataclass
class StoreWatch:
    """Watches the proxy's answers for artifact locations; chains to the listener that was there before."""

    then: Listener | None = None
    #: The scheme of the probe experiment's artifact location (``mlflow-artifacts``, ``s3``...), once seen.
    scheme: str | None = None
    answers: list[_Answer] = field(default_factory=list)

    def __call__(self, request: OutgoingRequest, status: int | None, headers: Mapping[str, str], body: bytes,
                 seconds: float, error: str | None) -> None:
        if self.then is not None:
            self.then(request, status, headers, body, seconds, error)
        answered = status is not None and 200 <= status < 300
        if request.target is not Target.PROXY or not answered or len(self.answers) >= _KEPT:
            return
        if b"artifact_location" not in body and b"artifact_uri" not in body and b"experiment_id" not in body:
            return
        text = body.decode("utf-8", errors="replace")
        asked = request.body.decode("utf-8", errors="replace") if request.body else None
        self.answers.append(_Answer(request.method, request.path, asked, status, text))
        if self.scheme is None:
            self.scheme = _probe_scheme(text)

    def findings(self, proxy: Contract, proxy_url: str) -> list[Finding]:
        """Every location handed to the run that it could not have written through the proxy."""
        return judge_artifact_locations(self.answers, proxy, "", urlsplit(proxy_url).netloc)


def _probe_scheme(text: str) -> str | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    experiment = body.get("experiment") if isinstance(body, dict) else None
    if not isinstance(experiment, dict) or not str(experiment.get("name", "")).startswith(PROBE_PREFIX):
        return None
    for _, location, _ in locations_in({"experiment": experiment}):
        return urlsplit(location).scheme or "(a path)"
    return None
