"""Bad input refused before any work: one line naming the file, exit 2, no traceback, nothing left, fast.

Each command runs in-process with the contracts directory pointed at a broken copy; whatever
would start (the stack, the live gate) raises instead, so a command that starts anything before
refusing the input fails the test at once rather than minutes later.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts.commands import cli
from hokusai_contracts.run import inputs, live, local, spec

ROOT = Path(__file__).resolve().parents[2]
KEY = "hk_live_" + "Inpu7" * 6 + "ab"
CANDIDATE = str(ROOT / "contracts" / "examples" / "compatible-new-optional-field.yaml")

COMMANDS = {
    "local": ["local", "--suites", "none", "--no-faults"],
    "live": ["live"],
    "spec-check": ["spec-check", CANDIDATE, "--no-dynamic"],
    "spec-check (dynamic)": ["spec-check", CANDIDATE],
}

Break = Callable[[Path], None]


def _replace(name: str, text: str) -> Break:
    def apply(contracts: Path) -> None:
        (contracts / name).write_text(text, "utf-8")
    return apply


def _bad_entry(contracts: Path) -> None:
    path = contracts / "known-deviations.yaml"
    path.write_text(path.read_text("utf-8").replace("kind: undocumented_status", "kind: undocumented_statsu", 1))


BREAKS: dict[str, tuple[Break, str]] = {
    "deviations not YAML": (_replace("known-deviations.yaml", "deviations: [\n  - id: x\n    kind: : :\n"),
                            "known-deviations.yaml:"),
    "deviation entry invalid": (_bad_entry, "did you mean 'undocumented_status'?"),
    "contract not YAML": (_replace("mlflow.yaml", ": : :\n"), "mlflow.yaml:1: not valid YAML"),
    "contract not OpenAPI": (_replace("auth-service.yaml", "name: x\n"), "auth-service.yaml:1: not an OpenAPI"),
    "overlay not YAML": (_replace("mlflow-proxy.overlay.yaml", "paths: [\n"), "mlflow-proxy.overlay.yaml"),
    "consumers invalid": (_replace("consumers/mlflow-proxy.yaml", "operations: 3\n"), "mlflow-proxy.yaml"),
}


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    def must_not(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("started before the input was checked")

    monkeypatch.setattr(local, "running_stack", must_not)
    monkeypatch.setattr(spec, "running_stack", must_not)
    monkeypatch.setattr(live, "gated_client", must_not)
    monkeypatch.setattr(live, "check_hosts_resolve", must_not)
    for name, value in {"HOKUSAI_API_KEY": KEY, "HOKUSAI_PROXY_URL": "http://127.0.0.1:9/api/mlflow",
                        "HOKUSAI_AUTH_URL": "http://127.0.0.1:9", "HOKUSAI_MLFLOW_URL": ""}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    # A private temporary directory: whatever the command would leave (a stack's directory holds
    # secrets) shows there, and other runs on the machine do not.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    contracts = tmp_path / "checkout" / "contracts"
    shutil.copytree(ROOT / "contracts", contracts)
    monkeypatch.setattr(inputs, "contracts_dir", lambda: contracts)
    return contracts


def _refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith("hokusai-contracts: error: ") and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""  # nothing announced: nothing ran
    assert list(Path(tempfile.gettempdir()).iterdir()) == []  # no stack directory (with its secrets) left
    return captured.err


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_a_broken_contract_file_is_refused_before_anything_starts(
        command: str, broken: str, nothing_starts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply, says = BREAKS[broken]
    apply(nothing_starts)
    report_dir = tmp_path / "reports"
    error = _refused([*COMMANDS[command], "--report-dir", str(report_dir)], capsys)
    assert says in error
    assert not report_dir.exists()  # made to check it, removed with the refusal


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_report_dir_that_cannot_be_written_is_refused_first(command: str, nothing_starts: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    error = _refused([*COMMANDS[command], "--report-dir", str(blocker / "reports")], capsys)
    assert f"REPORT_DIR {blocker / 'reports'}: cannot create it" in error and "--report-dir" in error
    error = _refused([*COMMANDS[command], "--report-dir", str(blocker)], capsys)
    assert f"REPORT_DIR {blocker}" in error


def test_report_dir_ready_removes_only_what_it_made(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(RuntimeError), inputs.report_dir_ready(kept / "a" / "b"):
        raise RuntimeError("refused")
    assert kept.is_dir() and list(kept.iterdir()) == []
    with pytest.raises(RuntimeError), inputs.report_dir_ready(kept / "c") as made:
        (made / "logs").mkdir()  # the run wrote something: kept for the user
        raise RuntimeError("failed later")
    assert (kept / "c" / "logs").is_dir()


def test_the_committed_inputs_load() -> None:
    loaded = inputs.load_inputs()
    assert loaded.auth.display_path == "contracts/auth-service.yaml"
    assert loaded.deviations.deviations and loaded.consumers
