"""The one module that imports Dask: a capture's partitions judged on a Dask cluster.

``--workers N`` starts a ``LocalCluster`` of N worker processes (one thread each: judging is pure
Python, a second thread would only wait for the GIL); ``--scheduler tcp://...|tls://...`` joins an
existing cluster (TLS from Dask's own configuration: ``DASK_DISTRIBUTED__COMM__TLS__*``). The
contracts are scattered once to every worker as bytes and digest; each partition is one task
(``checks.traffic_partition.judge_partition``) returning a ``Tally``, merged here in whatever order
the tasks finish. A worker lost mid-task is Dask's to retry (``distributed.scheduler.allowed-failures``);
a task that still fails is reported with its file, never dropped. The import-linter contract
"Only the judge's executor imports Dask" keeps Dask out of every other module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from distributed import Client, LocalCluster, Security, as_completed

from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.traffic_partition import ContractBundle, JudgeSettings, judge_partition
from hokusai_contracts.checks.traffic_tally import Tally
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.traffic.partitions import Partition

__all__ = ["DaskExecutor", "Failed", "Judged", "cores"]

#: Seconds a scheduler has to answer before ``--scheduler`` is refused (one line, exit 2).
CONNECT_TIMEOUT_S = 10
#: Seconds a scheduler without workers has to gain one (workers starting beside it, an autoscaler).
WORKER_WAIT_S = 60
#: Each task is tried this often more when it raises (an S3 read that failed once); lost workers aside.
RETRIES = 1


def cores() -> int:
    """``--workers auto``: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Failed:
    """A partition no worker could judge, and the (redacted) reason."""

    part: Partition
    reason: str


@dataclass
class Judged:
    tally: Tally = field(default_factory=Tally)
    failed: list[Failed] = field(default_factory=list)


class DaskExecutor:
    """``with DaskExecutor(workers=2) as executor: executor.judge(...)``; or ``scheduler="tls://..."``."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        self.workers, self.scheduler = workers, scheduler
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None

    def __enter__(self) -> DaskExecutor:
        if self.scheduler:
            self._client = _connect(self.scheduler)
        else:
            self._cluster = LocalCluster(n_workers=self.workers or cores(), threads_per_worker=1, processes=True,
                                         dashboard_address=":0", silence_logs=logging.ERROR)
            self._client = Client(self._cluster, set_as_default=False)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    @property
    def worker_count(self) -> int:
        assert self._client is not None
        return len(self._client.scheduler_info().get("workers", {})) or 1

    def judge(self, parts: list[Partition], bundle: ContractBundle, settings: JudgeSettings,
              done: Callable[[Partition, Tally], None] = lambda part, tally: None) -> Judged:
        """Every partition judged on the cluster; stops at the first refusal (a whole key)."""
        client = self._client
        assert client is not None, "use DaskExecutor as a context manager"
        shared = client.scatter(bundle, broadcast=True)
        futures = {client.submit(judge_partition, part, shared, settings, pure=False, retries=RETRIES): part
                   for part in parts}
        judged = Judged()
        for future in as_completed(futures, loop=client.loop):
            part = futures.pop(future)
            if future.status != "finished":
                judged.failed.append(Failed(part, _reason(future)))
                continue
            tally: Tally = future.result()
            future.release()
            judged.tally.merge(tally)
            done(part, tally)
            if tally.refusal is not None:
                client.cancel(list(futures))
                break
        return judged


def _connect(address: str) -> Client:
    if address.startswith("tls://") and Security().get_connection_args("client").get("ssl_context") is None:
        raise UsageError(f"--scheduler {address}: tls:// needs Dask's TLS settings; set "
                         "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ...__CLIENT__CERT and ...__CLIENT__KEY "
                         "(docs/judge-on-a-cluster.md)")
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise UsageError(f"--scheduler {address}: no Dask scheduler answered ({type(exc).__name__}: "
                         f"{redact(str(exc))[:200]}); start one (`dask scheduler`), or check the address and, "
                         "for tls://, DASK_DISTRIBUTED__COMM__TLS__* settings") from None
    try:
        # Tasks given to a cluster without workers would wait forever: refuse it now instead.
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise UsageError(f"--scheduler {address}: the scheduler answers but gained no worker in {WORKER_WAIT_S} s "
                         f"({type(exc).__name__}); "
                         "start some (`dask worker " + address + "`)") from None
    return client


def _reason(future: Any) -> str:
    try:
        error = future.exception()
    except Exception as exc:  # cancelled: the scheduler or the client went away
        error = exc
    return f"{type(error).__name__}: {redact(str(error))[:300]}"
