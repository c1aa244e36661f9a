"""Drift between the committed generated contracts and a fresh generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_mlflow_openapi.generate import (
    MLFLOW_CONTRACT,
    OVERLAY,
    PROXY_CONTRACT,
    check_drift,
    generate_contracts,
    main,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
OVERLAY_FILE = CONTRACTS / OVERLAY


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    generate_contracts(out, OVERLAY_FILE)
    return out


def copy_of(generated: Path, tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in (MLFLOW_CONTRACT, PROXY_CONTRACT):
        (tmp_path / name).write_text((generated / name).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_committed_contracts_match_a_fresh_generation() -> None:
    assert check_drift(CONTRACTS, OVERLAY_FILE) == [], "run `make contracts` and commit the result"


def test_generation_writes_both_files(generated: Path) -> None:
    assert sorted(p.name for p in generated.iterdir()) == sorted([MLFLOW_CONTRACT, PROXY_CONTRACT])
    assert check_drift(generated, OVERLAY_FILE) == []


def test_a_hand_edit_is_detected(generated: Path, tmp_path: Path) -> None:
    out = copy_of(generated, tmp_path)
    path = out / MLFLOW_CONTRACT
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("minLength: 1", "minLength: 0", 1), encoding="utf-8")

    problems = check_drift(out, OVERLAY_FILE)

    assert len(problems) == 1
    assert str(path) in problems[0]
    assert "1 lines only in the committed file, 1 only in the generated one" in problems[0]
    assert "-" in problems[0] and "minLength: 0" in problems[0]


def test_a_missing_file_is_detected(generated: Path, tmp_path: Path) -> None:
    out = copy_of(generated, tmp_path)
    (out / PROXY_CONTRACT).unlink()
    assert check_drift(out, OVERLAY_FILE) == [f"{out / PROXY_CONTRACT}: missing; run `make contracts` and commit it."]


def test_an_overlay_change_is_drift_of_the_proxy_contract_only(generated: Path, tmp_path: Path) -> None:
    out = copy_of(generated, tmp_path / "out")
    overlay = tmp_path / OVERLAY
    overlay.write_text(OVERLAY_FILE.read_text(encoding="utf-8").replace(
        "Earlier mount, still served.", "Earlier mount."), encoding="utf-8")
    problems = check_drift(out, overlay)
    assert len(problems) == 1 and PROXY_CONTRACT in problems[0]


def test_command_line_check_exits_1_on_drift(generated: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = copy_of(generated, tmp_path)
    args = ["--check", "--out-dir", str(out), "--overlay", str(OVERLAY_FILE)]
    assert main(args) == 0
    (out / MLFLOW_CONTRACT).write_text("# edited\n", encoding="utf-8")
    assert main(args) == 1
    assert "differs from a fresh generation" in capsys.readouterr().err


def test_command_line_reports_a_missing_overlay_with_exit_2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out-dir", str(tmp_path), "--overlay", str(tmp_path / "nope.yaml")]) == 2
    assert "Cannot read the proxy overlay" in capsys.readouterr().err
