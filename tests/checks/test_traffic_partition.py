"""Partitions judged apart and merged in any order give one tally: the same report however it ran."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts.checks.traffic import TrafficJudge
from hokusai_contracts.checks.traffic_partition import ContractBundle, JudgeSettings, judge_partition
from hokusai_contracts.checks.traffic_tally import Tally
from hokusai_contracts.domain.redact import forget_secrets, mask
from hokusai_contracts.run.inputs import load_inputs
from hokusai_contracts.traffic.partitions import plan_partitions
from hokusai_contracts.traffic.sources import resolve_sources

from ..traffic.captures import KEY, write_captures


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_captures(tmp_path_factory.mktemp("captures"), files=3, registrations=60)


def _summary(tally: Tally, judge: TrafficJudge, names: list[str]) -> dict[str, Any]:
    phase = judge.result(tally)
    return {
        "checks": [(c.name, [(f.identity(), f.count, f.observed, [e.model_dump() for e in f.exchanges])
                             for f in c.findings]) for c in phase.checks],
        "coverage": phase.coverage.seen if phase.coverage else None,
        "bases": tally.bases, "problems": tally.problem_lines(names),
        "counts": (tally.judged, tally.unmatched, tally.unreadable),
    }


def test_any_cut_merged_in_any_order_gives_the_same_findings_counts_and_evidence(captures: Path) -> None:
    inputs = load_inputs()
    bundle = ContractBundle.of(inputs.auth, inputs.mlflow, inputs.proxy)
    judge = TrafficJudge(inputs.auth, inputs.mlflow, inputs.proxy)
    sources = resolve_sources([captures])
    names = [s.name for s in sources]
    whole = Tally()
    for part in plan_partitions(sources, 1 << 40):  # one partition per file, read in order: the reference
        whole.merge(judge_partition(part, bundle, JudgeSettings()))
    expected = _summary(whole, judge, names)
    assert whole.judged > 700 and whole.unmatched == 3 and whole.unreadable == 2
    assert any("capture-0.ndjson: line " in line and "not a NDJSON exchange" in line for line in expected["problems"])
    tallies = [judge_partition(part, bundle, JudgeSettings()) for part in plan_partitions(sources, 9_000)]
    assert len(tallies) > 6
    for seed in range(3):
        random.Random(seed).shuffle(tallies)
        merged = Tally()
        for tally in tallies:
            merged.merge(Tally().merge(tally))  # merge copies: the tallies are merged again next round
        assert _summary(merged, judge, names) == expected


def test_a_whole_key_refuses_the_partition_that_holds_it(tmp_path: Path) -> None:
    forget_secrets()
    inputs = load_inputs()
    bundle = ContractBundle.of(inputs.auth, inputs.mlflow, inputs.proxy)
    [source] = resolve_sources([write_captures(tmp_path, files=1, registrations=5, key_in=0) / "capture-0.har"])
    [part] = plan_partitions([source], 1 << 20)
    refused = judge_partition(part, bundle, JudgeSettings())
    assert refused.refusal is not None and mask(KEY) in refused.refusal.message
    assert "--accept-secrets" in refused.refusal.message and KEY not in refused.refusal.message
    accepted = judge_partition(part, bundle, JudgeSettings(accept_secrets=True))
    assert accepted.refusal is None and KEY not in repr(accepted)
    forget_secrets()
