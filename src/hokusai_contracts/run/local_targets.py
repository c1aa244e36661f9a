"""What a local run talks to, fixed once its stack is up: ``LocalTargets``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.journal.front import front_journal
from hokusai_contracts.run.faults import FaultsPlace
from hokusai_contracts.stack.definition import Part, StackDefinition
from hokusai_contracts.stack.health import StackEndpoints
from hokusai_contracts.stack.processes import ProcessStack, Stack
from hokusai_contracts.traffic.har import write_journal_har

__all__ = ["LocalTargets", "local_targets"]


@dataclass(frozen=True)
class LocalTargets:
    """The stack that is up, its endpoints two ways, and the faults' place beside it."""

    stack: Stack
    definition: StackDefinition
    #: The stack's own endpoints: what the probes use and the hop journals are judged by.
    endpoints: StackEndpoints
    #: The same, the proxy reached through the client journal: what the scenario and the suites talk to,
    #: so that what they sent can be compared with what reached MLflow (alteration in transit).
    client: StackEndpoints
    client_journal: Path
    faults: FaultsPlace

    @property
    def root(self) -> Path:
        assert self.stack.root is not None  # a stack that is up has its directory
        return self.stack.root

    @property
    def mount(self) -> str:
        """The proxy's MLflow path under its root (``/mlflow`` or empty)."""
        return self.endpoints.proxy_url.removeprefix(self.endpoints.proxy_root)

    @property
    def proxy_pid(self) -> int | None:
        """The proxy's process id, when this run started it as a process (its memory is measured)."""
        proxy = self.stack.parts.get(Part.PROXY) if isinstance(self.stack, ProcessStack) else None
        return proxy.process.pid if proxy else None

    def write_traffic(self, report_dir: Path, scenario_entries: int) -> None:
        """Every hop journal as HAR, ``REPORT_DIR/traffic/<hop>.har``, the key a placeholder (``traffic.har``)."""
        endpoints = self.endpoints
        for hop, journal, base, judged_in_full in (
                (Hop.CLIENT_TO_PROXY, self.client_journal, endpoints.proxy_root, None),
                (Hop.PROXY_TO_AUTH, endpoints.auth_journal, endpoints.auth_url, None),
                # Past the scenario's traffic, the run judged what reached MLflow for leaks only.
                (Hop.PROXY_TO_MLFLOW, endpoints.mlflow_journal, endpoints.mlflow_url, scenario_entries)):
            if journal is not None and journal.exists():
                write_journal_har(journal, hop, base, report_dir, endpoints.api_key, leaks_only_after=judged_in_full)


@contextmanager
def local_targets(stack: Stack, definition: StackDefinition, faults: FaultsPlace) -> Iterator[LocalTargets]:
    """The targets of ``stack``, which is up: the client journal listens in front of its proxy meanwhile,
    and the faults' place is closed after."""
    endpoints = stack.endpoints
    assert endpoints is not None and stack.root is not None
    client_journal = stack.root / "journals" / "client-journal.jsonl"
    with front_journal(endpoints.proxy_root, client_journal) as front:
        mount = endpoints.proxy_url.removeprefix(endpoints.proxy_root)
        client = dataclasses.replace(endpoints, proxy_root=front, proxy_url=front + mount)
        try:
            yield LocalTargets(stack, definition, endpoints, client, client_journal, faults)
        finally:
            faults.close()
