"""Judging one partition of a capture: the task a Dask worker runs (and the one process runs alone).

The task gets the partition (where to read), the contracts as their bytes and digest (loaded once
per worker process: ``_LOADED``), and the judge's settings; it returns a ``Tally``, never an
exchange. Secrets are checked where the exchanges are read, in the worker: a whole key refuses
the run (a ``Refusal`` the caller raises before any report is written) unless accepted, and then
the worker registers it, so everything it returns is masked. No error leaves the task with a key
in it: an unexpected one is re-raised as ``PartitionFailed`` with its text redacted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hokusai_contracts._errors import HokusaiContractsError
from hokusai_contracts.checks.traffic import TrafficJudge
from hokusai_contracts.checks.traffic_tally import WHERE, Problem, Refusal, Tally
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import mask, redact, register_secrets
from hokusai_contracts.traffic.hops import HopRules, hop_of_file
from hokusai_contracts.traffic.partitions import Located, Partition, PartitionReader
from hokusai_contracts.traffic.reading import Format
from hokusai_contracts.traffic.records import Unreadable, as_judged
from hokusai_contracts.traffic.secrets import secrets_in

__all__ = ["ContractBundle", "JudgeSettings", "PartitionFailed", "judge_partition"]

#: Contracts a worker process has loaded, by digest: a run's tasks load them once per worker.
_LOADED: dict[str, tuple[Contract, Contract, Contract]] = {}
_KEEP_LOADED = 4


class PartitionFailed(RuntimeError):
    """A partition could not be judged (a read failed mid-way, a bug): its text holds no key whole."""


@dataclass(frozen=True)
class ContractBundle:
    """The auth, MLflow and proxy contracts as (file name, display path, bytes), and their digest."""

    files: tuple[tuple[str, str, bytes], ...]
    digest: str

    @classmethod
    def of(cls, auth: Contract, mlflow: Contract, proxy: Contract) -> ContractBundle:
        files = tuple((c.path.name, c.display_path, c.path.read_bytes()) for c in (auth, mlflow, proxy))
        digest = hashlib.sha256()
        for name, display, data in files:
            digest.update(f"{name}\0{display}\0{len(data)}\0".encode())
            digest.update(data)
        return cls(files, digest.hexdigest())

    def load(self) -> tuple[Contract, Contract, Contract]:
        """The contracts, parsed once per process and digest."""
        if self.digest not in _LOADED:
            auth, mlflow, proxy = (Contract.from_bytes(data, name, display) for name, display, data in self.files)
            while len(_LOADED) >= _KEEP_LOADED:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[self.digest] = (auth, mlflow, proxy)
        return _LOADED[self.digest]


@dataclass(frozen=True)
class JudgeSettings:
    hop: Hop | None = None
    accept_secrets: bool = False


def judge_partition(part: Partition, bundle: ContractBundle, settings: JudgeSettings) -> Tally:
    """The partition judged: its findings merged and counted, the statuses seen, its problems."""
    try:
        return _judge(part, bundle, settings)
    except Exception as exc:
        where = f"{part.source.name} (bytes {part.start}-{part.end})"
        raise PartitionFailed(f"{where}: {type(exc).__name__}: {redact(str(exc))[:500]}") from None


def _judge(part: Partition, bundle: ContractBundle, settings: JudgeSettings) -> Tally:
    auth, mlflow, proxy = bundle.load()
    rules = HopRules(auth, mlflow, proxy)
    judge = TrafficJudge(auth, mlflow, proxy, mount=rules.mount)
    tally, named = judge.tally, settings.hop or hop_of_file(Path(part.source.name))
    reader = PartitionReader(part)
    try:
        for located in reader:
            item = located.item
            if isinstance(item, Unreadable):
                tally.unreadable += 1
                tally.add_problem(_problem(part, located, item.reason))
                continue
            if not _secrets_allowed(item, part, located, settings, tally):
                break  # the run is refused: the rest of the partition does not matter
            hop = settings.hop or item.hop or named or rules.hop_of(item.method, item.url)
            if hop is None:
                tally.unmatched += 1
                url = redact(item.url.split("?", 1)[0])
                tally.add_problem(_problem(part, located, f"entry {located.line} ({item.method} {url}): matched "
                                                          "to no hop; give --hop"))
                continue
            judge.add(as_judged(item, hop), place=located.place)
    except HokusaiContractsError as exc:  # a HAR that stops being JSON: the capture is refused, as before
        tally.refuse(Refusal((part.file, 0), redact(str(exc))))
    tally.lines[(part.file, part.start)] = reader.lines
    return tally


def _secrets_allowed(item: HttpExchange, part: Partition, located: Located, settings: JudgeSettings,
                     tally: Tally) -> bool:
    found = secrets_in(item.texts())
    if not found:
        return True
    if settings.accept_secrets:
        register_secrets(*found)  # in this worker: everything it returns is masked
        return True
    if part.source.format is Format.HAR or part.start == 0:
        where = f"entry {located.line}"
    else:
        where = f"the line at byte {located.place[1]}"
    tally.refuse(Refusal(located.place, f"{part.source.url}: {where} holds an unredacted API key or Bearer token "
                                        f"({mask(found[0])}); redact the capture, or pass --accept-secrets to "
                                        "judge it with every output masked"))
    return False


def _problem(part: Partition, located: Located, text: str) -> Problem:
    """A problem whose line number is counted from the file's start once every partition has reported."""
    if part.source.format is not Format.HAR:
        for prefix in (f"line {located.line}", f"entry {located.line}"):
            if text.startswith(prefix):
                text = prefix.split(" ")[0] + " " + WHERE + text[len(prefix):]
                break
    return Problem(located.place, part.start, located.line, text)
