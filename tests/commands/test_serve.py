"""``serve``'s ``--profile`` means what it means in ``local`` (a deployment profile); ``--auth-profile`` is how
the fake auth service answers bad keys, and the old spelling ``--profile contract|production`` still works,
with one deprecation line. Parsing only: nothing is started here."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts.commands import serve
from hokusai_contracts.commands.cli import build_parser, main
from hokusai_contracts.commands.local import _mlflow_side
from hokusai_contracts.contracts import files
from hokusai_contracts.run.local import LocalOptions
from hokusai_contracts.run.local_stack import stack_definition
from hokusai_contracts.settings import load_local_settings


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv ``serve auth`` would run (its child is not started); a stack start fails the test."""
    started: list[list[str]] = []

    def foreground(argv: list[str], env: Any = None, cwd: Any = None) -> int:
        started.append(argv)
        return 0

    def running_stack(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("serve stack started a stack for input it should have refused")

    monkeypatch.setattr(serve, "_foreground", foreground)
    monkeypatch.setattr(serve, "running_stack", running_stack)
    return started


def _definition(*argv: str) -> Any:
    return serve._stack_definition(build_parser().parse_args(["serve", "stack", *argv]))


@pytest.mark.parametrize(("argv", "auth_profile"), [
    ([], "production"),
    (["--auth-profile", "contract"], "contract"),
    (["--auth-profile", "production"], "production"),
])
def test_auth_profile_is_how_the_fake_answers_bad_keys(argv: list[str], auth_profile: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    definition = _definition(*argv)
    assert definition.auth_profile == auth_profile
    assert not definition.mlflow_gateway and definition.mlflow_version is None  # the default stack
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("part", "value"), [("stack", "contract"), ("auth", "contract"), ("auth", "production")])
def test_an_auth_profile_given_as_profile_still_works_with_one_deprecation_line(
        part: str, value: str, nothing_starts: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    if part == "stack":
        definition = _definition("--profile", value)
        assert definition.auth_profile == value
        assert not definition.mlflow_gateway  # not the twin: the old meaning
    else:
        assert main(["serve", "auth", "--port", "0", "--profile", value]) == 0
        (argv,) = nothing_starts
        assert argv[argv.index("--profile") + 1] == value
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"serve {part}: --profile {value} is deprecated; write --auth-profile {value} (--profile names "
                    "a deployment profile, as in `local`)")


def test_an_explicit_auth_profile_wins_over_the_deprecated_spelling() -> None:
    assert _definition("--profile", "contract", "--auth-profile", "production").auth_profile == "production"


def test_profile_production_starts_the_twin_local_tests(capsys: pytest.CaptureFixture[str]) -> None:
    served = _definition("--profile", "production")
    # What `local --profile production` would start, through local's own option handling.
    args = build_parser().parse_args(["local", "--profile", "production"])
    options = LocalOptions(auth_profile=args.auth_profile)
    _mlflow_side(options, args, load_local_settings())
    local = stack_definition(options, options.mlflow_version)
    assert served == dataclasses.replace(local, admin_token=served.admin_token)
    assert (served.mlflow_version, served.mlflow_prefix, served.mlflow_gateway) == ("3.9.0", "/mlflow", True)
    assert (served.backend_store, served.artifact_store, served.mlflow_artifacts) == ("postgresql", "s3", "root")
    assert served.proxy_env["PROXY_FORWARD_CREDENTIALS"] == "true"
    assert served.seed_file == files.profile_seed_file("production")
    assert served.auth_profile == "production"
    assert "deprecated" not in capsys.readouterr().err


def test_a_seed_given_wins_over_the_profiles(tmp_path: Path) -> None:
    seed = tmp_path / "keys.yaml"
    seed.write_text(files.profile_seed_file("production").read_text("utf-8"), "utf-8")
    assert _definition("--profile", "production", "--seed", str(seed)).seed_file == seed


@pytest.mark.parametrize(("argv", "says"), [
    (["serve", "stack", "--profile", "staging"],
     "serve stack --profile 'staging' is not a profile; give a deployment profile (production) or --auth-profile "
     "contract|production for how the fake auth service answers bad keys"),
    (["serve", "auth", "--port", "0", "--profile", "staging"],
     "serve auth --profile 'staging' is not a profile; give --auth-profile contract|production for how the fake "
     "auth service answers bad keys"),
])
def test_an_unknown_profile_is_one_line_and_exit_2_before_anything_starts(
        argv: list[str], says: str, nothing_starts: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"hokusai-contracts: error: {says}"]
    assert captured.out == "" and nothing_starts == []
