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
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hokusai_contracts.checks.artifact_locations import judge_artifact_locations, locations_in
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.safety.gate import Listener

__all__ = ["PROBE_PREFIX", "StoreWatch"]

PROBE_PREFIX = "contract-probe"
#: Answers kept for judging: the experiment and run reads of a registration are a handful.
_KEPT = 200


@dataclass
class StoreWatch:
    """Watches the proxy's answers for artifact locations; chains to the listener that was there before."""

    then: Listener | None = None
    #: The scheme of the probe experiment's artifact location (``mlflow-artifacts``, ``s3``...), once seen.
    scheme: str | None = None
    answers: list[HttpExchange] = field(default_factory=list)

    def __call__(self, exchange: HttpExchange) -> None:
        if self.then is not None:
            self.then(exchange)
        status, text = exchange.status, exchange.response_body.text or ""
        answered = status is not None and 200 <= status < 300
        if exchange.hop is not Hop.CLIENT_TO_PROXY or not answered or len(self.answers) >= _KEPT:
            return
        if "artifact_location" not in text and "artifact_uri" not in text and "experiment_id" not in text:
            return
        self.answers.append(exchange)
        if self.scheme is None:
            self.scheme = _probe_scheme(text)

    def findings(self, proxy: Contract, proxy_url: str) -> list[Finding]:
        """Every location handed to the run that it could not have written through the proxy."""
        where = urlsplit(proxy_url)
        return judge_artifact_locations(self.answers, proxy, where.path.rstrip("/"), where.netloc)


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
