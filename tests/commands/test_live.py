"""``live`` and ``watch`` declare a live run's options once (``add_live_options``): same names, types and defaults."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hokusai_contracts.checks.scenario import ModelKind
from hokusai_contracts.commands.cli import build_parser
from hokusai_contracts.commands.live import apply_live_options
from hokusai_contracts.domain.names import Suite

SHARED = ["--report-dir", "--suites", "--models", "--contracts-dir"]


def _options(command: str) -> set[str]:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name for action in commands.choices[command]._actions for name in action.option_strings}


@pytest.mark.parametrize(("command", "own"), [
    ("live", {"--keep", "--record"}),
    ("watch", {"--every", "--once", "--metrics-port", "--state", "--keep", "--alert-webhook"}),
])
def test_each_command_has_the_live_options_and_its_own(command: str, own: set[str]) -> None:
    assert _options(command) == {"-h", "--help", *SHARED, *own}


@pytest.mark.parametrize("command", ["live", "watch"])
def test_the_live_options_parse_alike(command: str) -> None:
    args = build_parser().parse_args([command, "--report-dir", "out", "--suites", "proxy,auth-service", "--models",
                                      "logistic,pipeline", "--contracts-dir", "c"])
    assert (args.report_dir, args.contracts_dir) == (Path("out"), Path("c"))
    assert args.suites == [Suite.PROXY, Suite.AUTH_SERVICE]
    assert args.models == [ModelKind.LOGISTIC, ModelKind.PIPELINE]
    defaults = build_parser().parse_args([command])
    assert (defaults.report_dir, defaults.suites, defaults.models, defaults.contracts_dir) == (
        Path("reports"), None, None, None)


@pytest.mark.parametrize("command", ["live", "watch"])
def test_a_suite_the_live_run_lacks_is_refused(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "--suites", "stateful"])
    assert exit_.value.code == 2
    assert "unknown live suite 'stateful'" in capsys.readouterr().err


@dataclass
class _RunOptions:
    suites: list[Suite] | None = None
    models: list[ModelKind] = field(default_factory=lambda: [ModelKind.LOGISTIC])


@pytest.mark.parametrize("command", ["live", "watch"])
def test_options_not_given_leave_the_runs_defaults(command: str) -> None:
    options = _RunOptions()
    apply_live_options(build_parser().parse_args([command]), options)
    assert options == _RunOptions()
    apply_live_options(build_parser().parse_args([command, "--suites", "none", "--models", "pipeline"]), options)
    assert options == _RunOptions(suites=[], models=[ModelKind.PIPELINE])
