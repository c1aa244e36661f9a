"""``unreachable_artifact_location``: MLflow, through the proxy, hands a client a place it cannot write to.

A client logs artifacts wherever the experiment's ``artifact_location`` (a run's
``info.artifact_uri``) says. ``mlflow-artifacts:`` means "through the tracking server", so through
the proxy with the client's Hokusai key. Any other scheme (``s3://``, ``gs://``, ``file://``, a
bare path) or another host sends the client to the store itself, with credentials it does not
have: ``log_model`` fails, and the registration that follows never happens. Production's
entrypoint sets an ``s3://`` default artifact root without an artifacts destination
(``MLFLOW_ARTIFACTS=root`` reproduces it), which is exactly that.

Judged on what the client received from the proxy (the client->proxy journal), at the field that
carried the location, for the experiments created through the proxy whose location MLflow chose
(``placed_by_mlflow``); one finding per operation and field, counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.findings import Exchange, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["JudgedLocations", "judge_artifact_locations", "judge_locations", "locations_in", "placed_by_mlflow",
           "scheme_of", "unreachable_reason"]

#: Where MLflow's answers name the place a client writes artifacts: the objects holding it (``[]``:
#: every item of a list), the field, and where the object's experiment id is.
_FIELDS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (("experiment",), ("artifact_location",), ("experiment_id",)),
    (("experiments", "[]"), ("artifact_location",), ("experiment_id",)),
    (("run",), ("info", "artifact_uri"), ("info", "experiment_id")),
    (("runs", "[]"), ("info", "artifact_uri"), ("info", "experiment_id")),
)
#: What a client writes to through the tracking server: the proxy, with its Hokusai key.
_THROUGH_THE_SERVER = "mlflow-artifacts"
_CREATE = ("POST", "/api/2.0/mlflow/experiments/create")


def locations_in(body: Any) -> Iterator[tuple[str, str, str | None]]:
    """Every artifact location in an answer: (the field's dotted name, the location, its experiment id)."""
    for holder, where, experiment in _FIELDS:
        for name, item in _objects(body, holder, []):
            location, experiment_id = _get(item, where), _get(item, experiment)
            if isinstance(location, str) and location:
                yield ".".join([*name, *where]), location, str(experiment_id) if experiment_id is not None else None


def _objects(node: Any, path: tuple[str, ...], seen: list[str]) -> Iterator[tuple[list[str], Any]]:
    if not path:
        yield seen, node
        return
    step, rest = path[0], path[1:]
    if step == "[]":
        if isinstance(node, list):
            for item in node:
                yield from _objects(item, rest, seen)  # one field name for every item: one finding per field
    elif isinstance(node, dict) and step in node:
        yield from _objects(node[step], rest, [*seen, step])


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    return node


def placed_by_mlflow(entries: Iterable[HttpExchange], mount: str) -> set[str]:
    """Experiments created through the proxy without an ``artifact_location``: MLflow chose where they write.

    Only those are judged. A fuzzer that asks for ``artifact_location: "m}"`` gets a path on MLflow's
    disk: its own doing, not where MLflow sends clients; and an experiment made elsewhere (MLflow's
    Default, the mlflow-direct suite's) says nothing of what a client going through the proxy gets.
    """
    placed = set()
    for entry in entries:
        if (entry.method, entry.path.removeprefix(mount)) != _CREATE or not entry.request_body.text:
            continue
        try:
            asked, answer = json.loads(entry.request_body.text), json.loads(entry.response_body.text or "")
        except ValueError:
            continue
        if isinstance(asked, dict) and not asked.get("artifact_location") and isinstance(answer, dict) \
                and answer.get("experiment_id") is not None:
            placed.add(str(answer["experiment_id"]))
    return placed


def unreachable_reason(location: str, proxy_host: str) -> str | None:
    """Why a client could not write to ``location`` through the proxy at ``proxy_host``; None if it can."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == _THROUGH_THE_SERVER:
        if parts.netloc and parts.netloc != proxy_host:
            return f"mlflow-artifacts on another host ({parts.netloc}): the client would bypass the proxy"
        return None
    if scheme in ("http", "https"):
        return None if parts.netloc == proxy_host else f"another host ({parts.netloc})"
    if not scheme or len(scheme) == 1:  # a bare path (or a Windows drive letter): the server's own disk
        return "a path on the server's disk, which a client writes to its own instead"
    return f"the store itself ({scheme}://), which needs the store's own credentials"


@dataclass
class JudgedLocations:
    """What the clients were handed: the findings, and what was seen, so that "none" is never a pass."""

    findings: list[Finding] = field(default_factory=list)
    #: The schemes of the locations judged (``mlflow-artifacts:``, ``s3:``, ``(a path)``), in the order seen.
    schemes: list[str] = field(default_factory=list)
    #: Locations seen in answers but not judged: experiments MLflow did not place (``placed_by_mlflow``).
    not_judged: int = 0


def scheme_of(location: str) -> str:
    """How a location is named in a message: its scheme with the colon, or ``(a path)``."""
    scheme = urlsplit(location).scheme.lower()
    return f"{scheme}:" if len(scheme) > 1 else "(a path)"


def judge_artifact_locations(entries: Iterable[HttpExchange], proxy: Contract, mount: str,
                             proxy_host: str) -> list[Finding]:
    """One finding per operation and field where the proxy handed a client an unreachable location."""
    return judge_locations(entries, proxy, mount, proxy_host).findings


def judge_locations(entries: Iterable[HttpExchange], proxy: Contract, mount: str, proxy_host: str) -> JudgedLocations:
    """Every location the proxy handed a client, judged: findings as ``judge_artifact_locations``, and what was seen."""
    entries = list(entries)
    placed = placed_by_mlflow(entries, mount)
    judged = JudgedLocations()
    found: dict[tuple[str, str], Finding] = {}
    for entry in entries:
        if entry.status is None or not 200 <= entry.status < 300 or not entry.response_body.text:
            continue
        try:
            body = json.loads(entry.response_body.text)
        except ValueError:
            continue
        for field_name, location, experiment_id in locations_in(body):
            if experiment_id not in placed:
                judged.not_judged += 1
                continue
            if scheme_of(location) not in judged.schemes:
                judged.schemes.append(scheme_of(location))
            reason = unreachable_reason(location, proxy_host)
            if reason is None:
                continue
            match = proxy.match(entry.method, entry.path.removeprefix(mount))
            operation = match.operation.label if match else f"{entry.method} {entry.path}"
            key = (operation, field_name)
            if key in found:
                found[key].count += 1
                continue
            found[key] = _finding(entry, operation, field_name, location, reason, proxy, match.operation.pointer
                                  if match else None)
    judged.findings = list(found.values())
    return judged


def _finding(entry: HttpExchange, operation: str, field: str, location: str, reason: str, proxy: Contract,
             pointer: str | None) -> Finding:
    scheme = urlsplit(location).scheme or "(none: a path)"
    return Finding(
        hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.UNREACHABLE_ARTIFACT_LOCATION,
        location=f"body.{field}", contract=proxy.ref(pointer) if pointer else None,
        expected="an artifact location the client writes through the proxy with its Hokusai key: "
                 "mlflow-artifacts:/... (MLflow serving artifacts with an artifacts destination)",
        observed=f"{location} (scheme {scheme}): {reason}",
        recommendation="A client holding only a Hokusai key then writes the model's files to the store itself and "
                       "fails (no store credentials, no route to it); log_model raises, and the registration step "
                       "that follows (model-versions/create with that source) never runs. Run MLflow with "
                       "--serve-artifacts --artifacts-destination <the store> and no --default-artifact-root "
                       "(then new experiments get mlflow-artifacts: locations), or move existing experiments.",
        suite=Suite.HOP_JOURNAL,
        exchanges=[Exchange(method=entry.method, url=entry.path, status=entry.status,
                            response_body=(entry.response_body.text or "")[:2000])],
    )
