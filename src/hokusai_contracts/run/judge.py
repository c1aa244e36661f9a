"""``hokusai-contracts judge TRAFFIC``: a recorded capture judged hop by hop, reported as a run is.

The capture (HAR 1.2, the journal's JSONL, NDJSON: ``traffic.reading``) streams through the
``TrafficJudge`` one exchange at a time, each placed on its hop (``--hop``; else what the capture
records; else the file's name, ``proxy-auth.har``; else its host and path: ``traffic.hops``). The
result goes through the same fold as a run: known deviations, merged findings, a curl for each,
causes, diagnosis, and the same report files. Bad input is one line and exit 2: a file that is not
a capture, a capture with an unredacted key or token (unless ``--accept-secrets``: then every
output masks it), one where nothing could be placed on a hop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hokusai_contracts import __version__
from hokusai_contracts._errors import UsageError
from hokusai_contracts.checks.traffic import TrafficJudge
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import mask, redact, register_secrets
from hokusai_contracts.report.model import Report, Targets
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.inputs import load_inputs, report_dir_ready
from hokusai_contracts.traffic.hops import HopRules, hop_of_file
from hokusai_contracts.traffic.reading import detect_format, read_traffic
from hokusai_contracts.traffic.records import Unreadable, as_judged
from hokusai_contracts.traffic.secrets import secrets_in

__all__ = ["JudgeOptions", "run_judge"]

#: Problems shown one line each; past this many, one line says how many more there were.
_SHOWN = 10


@dataclass
class JudgeOptions:
    traffic: Path
    hop: Hop | None = None
    report_dir: Path = Path("reports")
    accept_secrets: bool = False


def run_judge(options: JudgeOptions, out: Callable[[str], None] = print) -> Report:
    path = options.traffic
    if not path.is_file():
        raise UsageError(f"{path}: no such file; give the path of a HAR, JSONL or NDJSON capture")
    fmt = detect_format(path)
    with report_dir_ready(options.report_dir):
        inputs = load_inputs()
        rules = HopRules(inputs.auth, inputs.mlflow, inputs.proxy)
        judge = TrafficJudge(inputs.auth, inputs.mlflow, inputs.proxy, mount=rules.mount)
        named = options.hop or hop_of_file(path)
        problems: list[str] = []
        unmatched = unreadable = 0
        started = time.perf_counter()
        for item in read_traffic(path, fmt):
            if isinstance(item, Unreadable):
                unreadable += 1
                problems.append(item.reason)
                continue
            _check_secrets(item, path, options.accept_secrets)
            hop = options.hop or item.hop or named or rules.hop_of(item.method, item.url)
            if hop is None:
                unmatched += 1
                problems.append(f"entry {item.seq} ({item.method} {redact(item.url.split('?', 1)[0])}): matched "
                                "to no hop; give --hop")
                continue
            judge.add(as_judged(item, hop))
        seconds = round(time.perf_counter() - started, 3)
        lines = problems[:_SHOWN] + ([f"... and {len(problems) - _SHOWN} more"] if len(problems) > _SHOWN else [])
        if not judge.judged:
            for line in lines:
                out(f"Warning: {line}")
            raise UsageError(f"{path}: nothing to judge ({unmatched} exchanges matched to no hop, {unreadable} "
                             "unreadable); give --hop, or a capture of the proxy's, auth's or MLflow's traffic")
        report = Report(tool_version=__version__, mode="judge", targets=Targets(
            proxy_url=judge.bases.get("proxy"), auth_url=judge.bases.get("auth"),
            mlflow_url=judge.bases.get("mlflow"), proxy="recorded"))
        fold = Fold(report, inputs.deviations, coverage_of=(inputs.auth, inputs.proxy))
        result = judge.result()
        result.warnings += [f"{path.name}: {line}" for line in lines]
        result.timings["judge"] = seconds
        result.metrics["judge.exchanges"] = float(judge.judged)
        fold.add(result)
        out(f"{judge.judged} recorded exchanges judged ({fmt.value}): "
            + ", ".join(f"{hop} {count}" for hop, count in judge.counts.items()))
        # A secret accepted with --accept-secrets is registered: the whole report is masked once more.
        report = fold.finish(rewrite=redact)
        fold.write(options.report_dir)
        return report


def _check_secrets(item: HttpExchange, path: Path, accept: bool) -> None:
    found = secrets_in(item.texts())
    if not found:
        return
    if not accept:
        raise UsageError(f"{path}: entry {item.seq} holds an unredacted API key or Bearer token "
                         f"({mask(found[0])}); redact the capture, or pass --accept-secrets to judge it with "
                         "every output masked")
    register_secrets(*found)
