"""``make bench``'s ratios: computed from one run's figures, and the plain Schemathesis config it writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hokusai_contracts.checks.suites.schemas import EXCLUDED_PATH_REGEX, schema_config
from hokusai_contracts.commands.bench import ratios
from hokusai_contracts.commands.bench_yardsticks import PLAIN_SUITES, PlainRun, plain_equivalent, toml_of
from hokusai_contracts.domain.names import Suite


def test_ratios_come_from_the_same_run() -> None:
    timings = {"suites.proxy": 24.0, "suites.auth-service": 5.0}
    plain = {suite: PlainRun(suite, seconds, 0, ours_s=ours) for suite, seconds, ours in
             ((Suite.PROXY, 16.0, 24.0), (Suite.MLFLOW_DIRECT, 20.0, 22.0), (Suite.AUTH_SERVICE, 4.0, 4.4))}
    figures = ratios(60.0, timings, 20.0, plain)
    assert figures["default_run_s"] == 60.0 and figures["floor_s"] == 20.0
    assert figures["ratio_to_floor"] == 3.0
    assert figures["suites"]["proxy"] == {"suite_s": 24.0, "suite_alone_s": 24.0, "plain_schemathesis_s": 16.0,
                                          "ratio_to_plain_schemathesis": 1.5}
    # Not in the default run (FULL=1's), still measured alone against plain.
    assert figures["suites"]["mlflow-direct"]["suite_s"] is None
    assert figures["suites"]["mlflow-direct"]["ratio_to_plain_schemathesis"] == 1.1
    assert {name for name in figures["suites"]} == {s.value for s in PLAIN_SUITES}
    assert all("ratio_to_plain_schemathesis" in row for row in figures["suites"].values())


def test_a_suite_not_measured_alone_has_no_ratio() -> None:
    figures = ratios(10.0, {}, 5.0, {Suite.PROXY: PlainRun(Suite.PROXY, 3.0, 0)})
    assert figures["suites"]["proxy"]["ratio_to_plain_schemathesis"] is None
    assert figures["ratio_to_floor"] == 2.0


def test_the_plain_run_does_the_suites_work() -> None:
    config = plain_equivalent(schema_config(5, "http://127.0.0.1:1"))
    assert config["continue-on-failure"] is True  # the suites send every case, failing or not
    assert config["workers"] == 1 and plain_equivalent(schema_config(5, "http://x"), workers=2)["workers"] == 2
    assert config["phases"]["stateful"] == {"enabled": False}
    assert config["operations"] == [{"include-path-regex": EXCLUDED_PATH_REGEX, "enabled": False}]
    from schemathesis import Config

    assert Config.from_dict(tomllib.loads(toml_of(config)))  # Schemathesis reads it


def test_the_plain_run_gets_the_suites_own_configuration_as_toml() -> None:
    config = schema_config(10, "http://127.0.0.1:1/api/mlflow", bearer={"AuthServiceAuth": "${HOKUSAI_BENCH_TOKEN}"},
                           positive_only=True)
    assert tomllib.loads(toml_of(config)) == config


def test_the_judge_benchs_capture_is_ndjson_of_the_size_asked(tmp_path: Path) -> None:
    from hokusai_contracts.commands.bench_traffic import generate_capture
    from hokusai_contracts.traffic.reading import Format, detect_format

    path = tmp_path / "capture.ndjson"
    count = generate_capture(path, megabytes=1)
    assert 1024 * 1024 <= path.stat().st_size < 2 * 1024 * 1024
    assert detect_format(path) is Format.NDJSON and count == len(path.read_text().splitlines())
