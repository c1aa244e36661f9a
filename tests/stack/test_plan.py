"""The stack's plan: one health rule per part, dependencies, secrets only in the environment, PROXY_CMD
checked first."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.stack.definition import DEFAULT_PORTS, HEALTH, JOURNALS, Expect, Part, StackDefinition
from hokusai_contracts.stack.plan import PROXY_CMD_PLACEHOLDERS, Site, build_plan, check_proxy_cmd
from hokusai_contracts.stack.processes import ProcessStack, running_stack


def _site() -> Site:
    return Site(python="python3", mlflow="mlflow", bind_host="127.0.0.1", ports=DEFAULT_PORTS,
                hosts=dict.fromkeys(Part, "127.0.0.1"), run_dir="/run", seed_file="/seed.yaml",
                unreachable_url="http://127.0.0.1:1", mlflow_stores=("sqlite:////run/m.db", "/run/artifacts"))


@pytest.mark.parametrize(
    ("part", "status", "up"),
    [
        (Part.PROXY, 200, True),
        (Part.PROXY, 503, True),  # MLflow still starting, or down on purpose: preflight judges that
        (Part.PROXY, 502, True),
        (Part.PROXY, 404, True),  # listening; a health route elsewhere is a preflight finding
        (Part.AUTH, 200, True),
        (Part.AUTH, 503, True),  # FAKE_AUTH_FAULT=down answers the load balancer's 503 on purpose
        (Part.MLFLOW, 200, True),
        (Part.MLFLOW, 503, False),
        (Part.AUTH_JOURNAL, 200, True),
        (Part.MLFLOW_JOURNAL, 500, False),
    ],
)
def test_one_health_rule_per_part(part: Part, status: int, up: bool) -> None:
    assert HEALTH[part].accepts(status) is up


def test_only_the_proxy_and_the_fake_auth_count_as_up_on_any_answer() -> None:
    assert {part for part, rule in HEALTH.items() if rule.expect is Expect.ANSWER} == {Part.PROXY, Part.AUTH}


def test_the_proxy_starts_once_auth_and_the_journals_are_healthy() -> None:
    plan = build_plan(StackDefinition(), _site())
    assert list(plan.parts) == [Part.MLFLOW, Part.AUTH, Part.AUTH_JOURNAL, Part.MLFLOW_JOURNAL, Part.PROXY]
    assert set(plan.parts[Part.PROXY].needs) == {Part.AUTH, *JOURNALS}
    assert {p.part for p in plan.startable(set(), set())} == set(plan.parts) - {Part.PROXY}
    assert [p.part for p in plan.startable(set(plan.parts) - {Part.PROXY}, {Part.AUTH, *JOURNALS})] == [Part.PROXY]
    assert plan.parts[Part.PROXY].env["HOKUSAI_AUTH_SERVICE_URL"] == "http://127.0.0.1:8101"


def test_without_journals_the_proxy_talks_to_the_parts() -> None:
    plan = build_plan(StackDefinition(with_journals=False), _site())
    assert set(plan.parts) == {Part.MLFLOW, Part.AUTH, Part.PROXY}
    assert plan.parts[Part.PROXY].needs == (Part.AUTH,)
    assert plan.parts[Part.PROXY].env["MLFLOW_SERVER_URL"] == "http://127.0.0.1:5000"


@pytest.mark.parametrize(("fault", "journal_fault", "mlflow_url"),
                         [("slow", "slow", "http://127.0.0.1:8102"), ("down", "none", "http://127.0.0.1:1")])
def test_mlflow_faults_reach_the_journal_or_the_proxys_url(fault: str, journal_fault: str, mlflow_url: str) -> None:
    plan = build_plan(StackDefinition(mlflow_fault=fault, with_journals=False), _site())
    journal = plan.parts.get(Part.MLFLOW_JOURNAL)
    if fault == "down":
        assert journal is None  # no journal needed: nobody listens where the proxy is sent
    else:
        assert journal is not None and journal.argv[journal.argv.index("--fault") + 1] == journal_fault
    assert plan.parts[Part.PROXY].env["MLFLOW_SERVER_URL"] == mlflow_url


def test_a_stack_borrowing_an_mlflow_starts_none_and_fronts_the_borrowed_one() -> None:
    """The faults' own stack (run.faults): its journal in front of MLflow forwards to the run's MLflow."""
    plan = build_plan(StackDefinition(mlflow_url="http://127.0.0.1:5999"), _site())
    assert Part.MLFLOW not in plan.parts
    journal = plan.parts[Part.MLFLOW_JOURNAL].argv
    assert journal[journal.index("--upstream") + 1] == "http://127.0.0.1:5999"
    assert plan.parts[Part.PROXY].env["MLFLOW_SERVER_URL"] == f"http://127.0.0.1:{DEFAULT_PORTS[Part.MLFLOW_JOURNAL]}"


def test_no_secret_is_in_any_argv() -> None:
    definition = StackDefinition()
    plan = build_plan(definition, _site(), proxy_cmd="my-proxy --port {port} --auth {auth_url}")
    for part in plan.parts.values():
        assert not any(definition.admin_token in arg for arg in part.argv), part.part
    assert plan.parts[Part.AUTH].env["FAKE_AUTH_ADMIN_TOKEN"] == definition.admin_token
    assert plan.parts[Part.PROXY].argv == ("my-proxy --port 8080 --auth http://127.0.0.1:8101",)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("my-proxy --port {prot}", "unknown placeholder {prot}"),
        ("my-proxy --port {}", "unknown placeholder {}"),
        ("my-proxy --port {0}", "unknown placeholder {0}"),
        ("my-proxy --port {port.real}", "unknown placeholder {port.real}"),
        ("my-proxy --port {port", "not a valid command template"),
        ("my-proxy } --port {port}", "not a valid command template"),
        ("my-proxy --url {auth_url:d}", "not a valid command template"),
        ("my-proxy --url {auth_url!z}", "not a valid command template"),
    ],
)
def test_a_bad_proxy_cmd_names_proxy_cmd_and_the_placeholders(command: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_proxy_cmd(command)
    message = str(caught.value)
    assert message.startswith("PROXY_CMD ") and words in message and "\n" not in message
    assert all("{" + name + "}" in message for name in PROXY_CMD_PLACEHOLDERS)


@pytest.mark.parametrize("command", ["my-proxy --port {port} --json '{{\"a\": 1}}'", "x {port:d} {host}", "plain"])
def test_a_good_proxy_cmd_passes(command: str) -> None:
    check_proxy_cmd(command)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tempfile's folder of this test alone: other runs on the machine make hokusai-stack-* too."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path


@pytest.mark.parametrize("start", ["ProcessStack.start", "running_stack"])
def test_a_bad_proxy_cmd_is_refused_before_any_process_or_temp_dir(private_tmp: Path, start: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    children = {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    made: list[str] = []  # not only nothing left: nothing made and undone either
    real_mkdtemp, real_popen = tempfile.mkdtemp, subprocess.Popen
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append("dir") or real_mkdtemp(*a, **k))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: made.append("process") or real_popen(*a, **k))
    with pytest.raises(UsageError, match="PROXY_CMD"):
        if start == "running_stack":
            with running_stack(StackDefinition(), proxy_cmd="my-proxy {prot}"):
                pass
        else:
            ProcessStack(StackDefinition(), proxy_cmd="my-proxy {prot}").start()
    assert made == []
    assert list(private_tmp.iterdir()) == []
    assert {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)} == children
