"""``hokusai-contracts judge PATH [PATH ...]``: recorded captures judged hop by hop, reported as a run is.

Each PATH is a file, a folder, a glob or an ``s3://`` URL (``traffic.sources``); each file's format
is told by its content (HAR 1.2, the journal's JSONL, NDJSON). The captures are cut into partitions
(JSON lines by byte range, a HAR whole: ``traffic.partitions``), each judged by
``checks.traffic_partition`` into a ``Tally`` of merged findings: in this process for small captures
(32 MB in all), else on Dask (``--workers N|auto``: a local cluster of processes; ``--scheduler``: an existing
one; ``checks.traffic_dask``). Every exchange is placed on its hop (``--hop``; else what the capture
records; else the file's name, ``proxy-auth.har``; else its host and path: ``traffic.hops``). The
merged tally goes through the same fold as a run: known deviations, a curl for each finding,
causes, diagnosis, the same report files; the same report however many workers judged it.

Bad input is one line and exit 2, before any work: a PATH matching nothing, a bucket that cannot
be read, a scheduler that does not answer, ``--workers 0``, a file that is not a capture. A capture
holding an unredacted key or token is refused (unless ``--accept-secrets``: then every output masks
it) before any report is written, wherever it was found; a partition no worker could judge names
its file, and no report is written (never a silent partial one).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hokusai_contracts import __version__
from hokusai_contracts._errors import HokusaiContractsError, UsageError
from hokusai_contracts.checks.traffic import TrafficJudge
from hokusai_contracts.checks.traffic_partition import ContractBundle, JudgeSettings, judge_partition
from hokusai_contracts.checks.traffic_tally import Tally
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import redact
from hokusai_contracts.report.model import Report, Targets
from hokusai_contracts.report.progress import Progress
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import load_inputs, report_dir_ready
from hokusai_contracts.traffic.hops import HopRules
from hokusai_contracts.traffic.partitions import Partition, plan_partitions
from hokusai_contracts.traffic.sources import Source, resolve_sources

if TYPE_CHECKING:
    from hokusai_contracts.checks.traffic_dask import DaskExecutor

__all__ = ["IN_PROCESS_BYTES", "JudgeOptions", "NotJudged", "run_judge"]

#: Captures of up to this size in all are judged in this process when neither --workers nor --scheduler is given.
IN_PROCESS_BYTES = 32 * 1024 * 1024
# A partition of JSON lines: enough of them for every worker to stay busy, none too small to pay its way.
_CHUNK_MIN, _CHUNK_MAX, _CHUNKS_PER_WORKER = 1024 * 1024, 64 * 1024 * 1024, 4


class NotJudged(HokusaiContractsError):
    """Partitions no worker could judge: their files are named, and no report is written (exit 2)."""


@dataclass
class JudgeOptions:
    traffic: Path | str | Sequence[Path | str]
    hop: Hop | None = None
    report_dir: Path = Path("reports")
    accept_secrets: bool = False
    #: Worker processes of a local Dask cluster; ``auto``: one per core; None: in-process for one small file.
    workers: int | Literal["auto"] | None = None
    #: An existing Dask cluster's scheduler (``tcp://`` or ``tls://``).
    scheduler: str | None = None

    @property
    def paths(self) -> list[Path | str]:
        return [self.traffic] if isinstance(self.traffic, Path | str) else list(self.traffic)


def run_judge(options: JudgeOptions, out: Callable[[str], None] = print) -> Report:
    if options.workers == 0 or (isinstance(options.workers, int) and options.workers < 0):
        raise UsageError(f"--workers {options.workers}: give a number of worker processes of 1 or more, or auto")
    if options.scheduler and options.workers is not None:
        raise UsageError("--workers and --scheduler: give one (the scheduler's cluster has its own workers)")
    if options.scheduler and not options.scheduler.startswith(("tcp://", "tls://")):
        raise UsageError(f"--scheduler {options.scheduler}: give a Dask scheduler's address, tcp://HOST:PORT or "
                         "tls://HOST:PORT")
    sources = resolve_sources(options.paths)
    with ExitStack() as stack:
        # An existing cluster is asked first: a scheduler that does not answer is bad input, before any work.
        cluster = stack.enter_context(_remote(options.scheduler)) if options.scheduler else None
        return _judged_report(options, sources, cluster, out)


def _remote(address: str) -> DaskExecutor:
    from hokusai_contracts.checks.traffic_dask import DaskExecutor

    return DaskExecutor(scheduler=address)


def _judged_report(options: JudgeOptions, sources: list[Source], cluster: DaskExecutor | None,
                   out: Callable[[str], None]) -> Report:
    with report_dir_ready(options.report_dir):
        inputs = load_inputs()
        settings = JudgeSettings(hop=options.hop, accept_secrets=options.accept_secrets)
        bundle = ContractBundle.of(inputs.auth, inputs.mlflow, inputs.proxy)
        watch = _Watch(sources)
        tally, how = _judge_all(sources, bundle, settings, options, out, watch, cluster)
        # From the first task to the last: a cluster's start-up is not the judge's throughput.
        seconds = round(watch.seconds, 3)
        if tally.refusal is not None:
            raise UsageError(tally.refusal.message)
        names = [source.name for source in sources]
        lines = tally.problem_lines(names)
        if not tally.judged:
            for line in lines:
                out(f"Warning: {line}")
            raise UsageError(f"{_named(sources)}: nothing to judge ({tally.unmatched} exchanges matched to no hop, "
                             f"{tally.unreadable} unreadable); give --hop, or a capture of the proxy's, auth's or "
                             "MLflow's traffic")
        judge = TrafficJudge(inputs.auth, inputs.mlflow, inputs.proxy,
                             mount=HopRules(inputs.auth, inputs.mlflow, inputs.proxy).mount)
        bases = {receiver: origin for receiver, (_, origin) in tally.bases.items()}
        report = Report(tool_version=__version__, mode="judge", targets=Targets(
            proxy_url=bases.get("proxy"), auth_url=bases.get("auth"), mlflow_url=bases.get("mlflow"),
            proxy="recorded"))
        fold = Fold(report, inputs.deviations, coverage_of=(inputs.auth, inputs.proxy))
        result = judge.result(tally)
        result.warnings += lines
        result.timings["judge"] = seconds
        result.metrics["judge.exchanges"] = float(tally.judged)
        result.metrics["judge.exchanges_per_s"] = round(tally.judged / seconds, 1) if seconds else 0.0
        result.metrics["judge.workers"] = float(watch.workers)
        fold.add(result)
        out(f"{tally.judged} recorded exchanges judged ({how}): "
            + ", ".join(f"{hop} {count}" for hop, count in sorted(tally.counts.items())))
        # A secret accepted with --accept-secrets is registered: the whole report is masked once more.
        report = fold.finish(rewrite=redact)
        fold.write(options.report_dir)
        return report


def _judge_all(sources: list[Source], bundle: ContractBundle, settings: JudgeSettings, options: JudgeOptions,
               out: Callable[[str], None], watch: _Watch, cluster: DaskExecutor | None) -> tuple[Tally, str]:
    """The captures judged, in this process (one small file) or on Dask; how, in a few words."""
    if options.workers is None and options.scheduler is None and sum(s.size for s in sources) <= IN_PROCESS_BYTES:
        tally = Tally()
        with Progress(out).phase("judge") as progress:
            for part in watch.plan(plan_partitions(sources, IN_PROCESS_BYTES + 1)):
                try:
                    mine = judge_partition(part, bundle, settings)
                except Exception as exc:
                    raise NotJudged(f"{part.source.url}: not judged ({exc}); no report written") from None
                tally.merge(mine)
                progress.update(watch.done(part, mine))
                if tally.refusal is not None:
                    break
        return tally, ", ".join(sorted({source.format.value for source in sources})) + ", in this process"
    from hokusai_contracts.checks.traffic_dask import DaskExecutor, cores

    workers = None if options.workers == "auto" else options.workers
    with Progress(out).phase("judge") as progress:
        progress.update(f"on the cluster of {options.scheduler}" if options.scheduler
                        else f"starting a local Dask cluster of {workers or cores()} workers")
        with nullcontext(cluster) if cluster else DaskExecutor(workers=workers) as executor:
            count = watch.workers = executor.worker_count
            parts = watch.plan(plan_partitions(sources, _chunk(sources, count)))
            progress.update(f"0 exchanges, files 0/{len(sources)} done")
            judged = executor.judge(parts, bundle, settings,
                                    done=lambda part, tally: progress.update(watch.done(part, tally)))
    if judged.failed and judged.tally.refusal is None:
        files = sorted({failed.part.source.url for failed in judged.failed})
        raise NotJudged(f"{len(files)} of {len(sources)} files not judged ({', '.join(files[:5])}"
                        f"{', ...' if len(files) > 5 else ''}): {judged.failed[0].reason}; no report written")
    return judged.tally, f"{len(parts)} partitions of {len(sources)} files on {count} Dask workers"


def _chunk(sources: list[Source], workers: int) -> int:
    total = sum(source.size for source in sources)
    return min(max(total // (workers * _CHUNKS_PER_WORKER) + 1, _CHUNK_MIN), _CHUNK_MAX)


def _named(sources: list[Source]) -> str:
    return sources[0].url if len(sources) == 1 else f"{sources[0].url} and {len(sources) - 1} more files"


class _Watch:
    """What the progress line says: exchanges judged, per second, files done."""

    def __init__(self, sources: list[Source]) -> None:
        self.files = len(sources)
        self.started = self.last = time.monotonic()
        self.exchanges = 0
        self.left: Counter[int] = Counter()
        self.finished = 0
        self.workers = 0

    def plan(self, parts: list[Partition]) -> list[Partition]:
        self.left.update(part.file for part in parts)
        self.started = self.last = time.monotonic()
        return parts

    @property
    def seconds(self) -> float:
        return self.last - self.started

    def done(self, part: Partition, tally: Tally) -> str:
        self.exchanges += tally.judged + tally.unmatched + tally.unreadable
        self.left[part.file] -= 1
        self.finished += self.left[part.file] == 0
        self.last = time.monotonic()
        rate = self.exchanges / max(self.seconds, 1e-6)
        return f"{self.exchanges} exchanges, {rate:.0f}/s, files {self.finished}/{self.files} done"
