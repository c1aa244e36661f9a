"""What both backends share once a plan runs: waiting for its parts by their health rules, and the endpoints.

The process runner launches parts as their dependencies become healthy; the docker runner lets
``docker compose up --wait`` do that and then asks the same question from the host, so a part
counts as started by one rule (``definition.HEALTH``) whichever backend ran it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from hokusai_contracts._errors import StackError
from hokusai_contracts.domain.masked import masked_repr
from hokusai_contracts.domain.redact import register_secrets
from hokusai_contracts.stack.definition import JOURNALS, Expect, Part, StackDefinition
from hokusai_contracts.stack.plan import PartPlan, StackPlan
from hokusai_contracts.stack.postgres import accepts_logins

__all__ = ["Launcher", "Stack", "StackEndpoints", "assemble_endpoints", "is_healthy", "start_in_order"]


@dataclass(frozen=True)
class StackEndpoints:
    """Where a started stack answers, and the credentials it was seeded with."""

    mlflow_url: str
    auth_url: str
    proxy_root: str
    proxy_url: str  # the MLflow tracking URI: proxy root + mount
    api_key: str
    admin_token: str
    keys: Mapping[str, Mapping[str, str]]
    service_id: str
    auth_journal: Path | None = None
    mlflow_journal: Path | None = None
    auth_journal_url: str | None = None
    mlflow_journal_url: str | None = None
    #: The journal of the MLflow side's own calls to the auth service (hop mlflow->auth), when it makes any.
    mlflow_auth_journal: Path | None = None
    #: The path MLflow serves its REST API under (MLFLOW_PREFIX from MLflow 3.12 on; ``stack.definition.
    #: mlflow_api_prefix``); ``mlflow_url`` already ends with it.
    mlflow_prefix: str = ""
    #: The fake auth service's seed: probe keys are made like its primary key (checks.probes.keys).
    seed_file: Path | None = None
    __repr__ = masked_repr()  # pytest -l and debuggers print it: the key, token and seeded keys masked

    def __post_init__(self) -> None:
        # Known from here on to every redact() of the process: reports, logs, error messages.
        register_secrets(self.api_key, self.admin_token, *(str(k.get("key") or "") for k in self.keys.values()))


class Stack(Protocol):
    """What the run needs of a started stack, whether processes (ProcessStack) or containers (DockerStack)."""

    root: Path | None
    timings: dict[str, float]
    endpoints: StackEndpoints | None
    #: MLflow's backend and artifact stores, as the report's targets name them.
    stores: tuple[str, str]

    def kill(self, part: Part) -> None: ...

    def stop(self, keep_logs_in: Path | None = None) -> None: ...


class Launcher(Protocol):
    """How a backend starts a part and tells about it while the plan comes up."""

    def launch(self, part: PartPlan) -> None: ...

    def base_url(self, part: Part) -> str | None:
        """Where the host reaches the part; None while that is not known yet."""

    def exit_status(self, part: Part) -> str | None:
        """None while the part runs, else how it ended ("exited with code 3")."""

    def log_tail(self, part: Part) -> str: ...


def is_healthy(client: httpx.Client, base_url: str, part: PartPlan) -> bool:
    if part.health.expect is Expect.LOGIN:  # not HTTP: PostgreSQL's wire protocol
        address = urlsplit(base_url)
        return accepts_logins(address.hostname or "127.0.0.1", address.port or 5432)
    try:
        answer = client.get(base_url + part.health.path)
    except httpx.HTTPError:
        return False
    return part.health.accepts(answer.status_code)


def start_in_order(plan: StackPlan, launcher: Launcher, timeout_s: float, timings: dict[str, float],
                   relocate: Callable[[Part], StackPlan | None] | None = None) -> None:
    """Launch every part once its dependencies are healthy; return when all are, else StackError.

    ``relocate``: for a part that exited while starting, a plan with it elsewhere (its port was taken by
    another process), else None. Each part is moved once at most; the parts started already whose plan
    changed with it (a journal in front of it) are launched again too.
    """
    started: dict[Part, float] = {}
    healthy: set[Part] = set()
    moved: set[Part] = set()
    deadline = time.perf_counter() + timeout_s
    # Generous: a proxy's health check may itself wait on a slow upstream before answering.
    with httpx.Client(timeout=10.0) as client:
        while len(healthy) < len(plan.parts):
            for part in plan.startable(set(started), healthy):
                started[part.part] = time.perf_counter()
                launcher.launch(part)
            for name in [p for p in started if p not in healthy]:
                ended = launcher.exit_status(name)
                elsewhere = relocate(name) if ended is not None and relocate and name not in moved else None
                if elsewhere is not None:
                    moved.add(name)
                    for again in [p for p in started if elsewhere.parts[p] != plan.parts[p]]:
                        healthy.discard(again)
                        started[again] = time.perf_counter()
                        launcher.launch(elsewhere.parts[again])
                    plan = elsewhere
                    break
                if ended is not None:
                    raise StackError(f"{name} {ended} while starting. Last lines of its log:\n"
                                     f"{launcher.log_tail(name)}")
                url = launcher.base_url(name)
                if url is not None and is_healthy(client, url, plan.parts[name]):
                    healthy.add(name)
                    timings[f"start.{name}"] = time.perf_counter() - started[name]
            pending = [p for p in plan.parts if p not in healthy]
            if pending and time.perf_counter() > deadline:
                tails = "\n".join(f"--- {p} ({launcher.base_url(p) or 'no address'}{plan.parts[p].health.path}, "
                                  f"wants {plan.parts[p].health.expect}):\n{launcher.log_tail(p)}" for p in pending)
                raise StackError(f"{', '.join(map(str, pending))} did not become healthy within {timeout_s:.0f} s.\n"
                                 f"{tails}")
            if pending:
                time.sleep(0.1)


def assemble_endpoints(definition: StackDefinition, urls: Mapping[Part, str], state_file: Path,
                       journal_files: Mapping[Part, Path]) -> StackEndpoints:
    """The endpoints of a healthy stack: its URLs, and the keys the fake auth service wrote to its state file."""
    d = definition
    try:
        state = json.loads(state_file.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise StackError(f"cannot read the fake auth service's state file {state_file} ({exc}); with the docker "
                         "stack, the engine must bind-mount this host's folders (a local engine)") from None
    keys = {k["name"]: k for k in state["keys"]}
    if d.scenario_key_name not in keys:
        raise StackError(f"the fake auth service seeded no key named {d.scenario_key_name!r} "
                         f"(seed file {d.seed_file}); add one or choose another scenario key")
    journals = d.with_journals and all(part in urls for part in JOURNALS)
    side = journal_files.get(Part.MLFLOW_AUTH_JOURNAL) if Part.MLFLOW_AUTH_JOURNAL in urls else None
    return StackEndpoints(
        mlflow_url=urls[Part.MLFLOW] + d.mlflow_api_prefix, auth_url=urls[Part.AUTH], mlflow_prefix=d.mlflow_api_prefix,
        mlflow_auth_journal=side if journals else None, seed_file=d.seed_file, proxy_root=urls[Part.PROXY],
        proxy_url=urls[Part.PROXY] + d.proxy_mount, api_key=keys[d.scenario_key_name]["key"],
        admin_token=d.admin_token, keys=keys, service_id=d.service_id,
        auth_journal=journal_files[Part.AUTH_JOURNAL] if journals else None,
        mlflow_journal=journal_files[Part.MLFLOW_JOURNAL] if journals else None,
        auth_journal_url=urls[Part.AUTH_JOURNAL] if journals else None,
        mlflow_journal_url=urls[Part.MLFLOW_JOURNAL] if journals else None,
    )
