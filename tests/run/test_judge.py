"""``hokusai-contracts judge``: small recorded captures judged as a run judges its journals."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import forget_secrets, mask
from hokusai_contracts.run.judge import JudgeOptions, run_judge

KEY = "hk_live_" + "J7k8L9m0" * 4
VALID = {"method": "POST", "url": "http://auth.internal/api/v1/keys/validate", "status": 200,
         "headers": {"content-type": "application/json"},
         "body": {"api_key": "<HOKUSAI_API_KEY>", "service_id": "platform"},
         "response_headers": {"content-type": "application/json"},
         "response_body": {"is_valid": True, "key_id": "k1", "service_id": "platform", "scopes": ["read"]}}
# Incident 1: the key moved from the body into a Bearer header.
MOVED = {**VALID, "headers": {"content-type": "application/json", "authorization": "Bearer <HOKUSAI_API_KEY>"},
         "body": {"service_id": "platform"}}


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def _capture(tmp_path: Path, lines: list[dict[str, Any]], name: str = "capture.ndjson") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _judge(path: Path, tmp_path: Path, **options: Any) -> Any:
    return run_judge(JudgeOptions(traffic=path, report_dir=tmp_path / "report", **options), out=lambda line: None)


def test_a_clean_capture_passes_and_writes_the_runs_report_files(tmp_path: Path) -> None:
    report = _judge(_capture(tmp_path, [VALID, VALID]), tmp_path)
    assert report.mode == "judge" and report.verdict == "pass" and report.findings == []
    assert [c.name for c in report.checks] == ["proxy->auth (2 requests)"]
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {"contract-report.json", "contract-report.md",
                                                                  "junit.xml"}
    assert any(c.exercised for c in report.coverage if c.operation == "POST /api/v1/keys/validate")


def test_incident_1_in_a_capture_is_named_merged_counted_and_reproducible(tmp_path: Path) -> None:
    report = _judge(_capture(tmp_path, [MOVED, MOVED, MOVED, VALID]), tmp_path)
    assert report.verdict == "fail"
    found = {(f.hop.value, f.kind.value, f.location): f for f in report.findings}
    missing = found["proxy->auth", "missing_required_field", "body.api_key"]
    assert missing.count == 3 and missing.cause and missing.reproduction
    assert "http://auth.internal/api/v1/keys/validate" in missing.reproduction
    assert ("proxy->auth", "undeclared_credential", "header.Authorization") in found
    assert [(c.hop.value, c.kind.value, c.location) for c in report.causes][:1] == [
        ("proxy->auth", "missing_required_field", "body.api_key")]
    assert report.diagnosis


def test_a_key_forwarded_to_mlflow_is_a_leak_and_hop_overrides_inference(tmp_path: Path) -> None:
    line = {"method": "GET", "url": "/api/2.0/mlflow/experiments/get?experiment_id=1", "status": 200,
            "headers": {"authorization": "Bearer <HOKUSAI_API_KEY>"}}
    report = _judge(_capture(tmp_path, [line]), tmp_path)
    assert {(f.hop, f.kind.value) for f in report.findings} == {(Hop.PROXY_TO_MLFLOW, "credential_leak")}
    direct = _judge(_capture(tmp_path, [line]), tmp_path / "direct", hop=Hop.CLIENT_TO_MLFLOW)
    assert Hop.CLIENT_TO_MLFLOW in {f.hop for f in direct.findings}
    assert "credential_leak" not in {f.kind.value for f in direct.findings}


def test_an_unredacted_key_is_refused_unless_accepted_and_then_masked_everywhere(tmp_path: Path) -> None:
    leaking = {**MOVED, "headers": {"authorization": f"Bearer {KEY}", "content-type": "application/json"}}
    path = _capture(tmp_path, [leaking])
    with pytest.raises(UsageError) as refused:
        _judge(path, tmp_path)
    assert "--accept-secrets" in str(refused.value) and mask(KEY) in str(refused.value)
    assert KEY not in str(refused.value) and not (tmp_path / "report").exists()

    report = _judge(path, tmp_path, accept_secrets=True)
    assert report.findings
    written = "".join(p.read_text("utf-8") for p in (tmp_path / "report").rglob("*") if p.is_file())
    assert KEY not in written and mask(KEY) in written


def test_exchanges_on_no_hop_are_warned_of_and_nothing_to_judge_is_exit_2(tmp_path: Path) -> None:
    stray = {"method": "GET", "url": "http://example.com/index.html", "status": 200}
    report = _judge(_capture(tmp_path, [stray, VALID]), tmp_path)
    assert any("entry 1 (GET http://example.com/index.html): matched to no hop" in w for w in report.warnings)
    with pytest.raises(UsageError, match="nothing to judge"):
        _judge(_capture(tmp_path, [stray], "only-stray.ndjson"), tmp_path / "stray")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hokusai_contracts", "judge", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("hello, world\n", "not a HAR 1.2 file"),
    (json.dumps({"method": "GET", "url": "http://example.com/"}) + "\n", "nothing to judge"),
    (json.dumps({**VALID, "headers": {"authorization": f"Bearer {KEY}"}}) + "\n", "--accept-secrets"),
], ids=["missing", "not-a-capture", "no-hop", "secret"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "capture.ndjson"
    if content is not None:
        path.write_text(content)
    completed = _cli(str(path), "--report-dir", str(tmp_path / "report"))
    assert completed.returncode == 2, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("hokusai-contracts: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in completed.stderr
    assert KEY not in completed.stdout + completed.stderr


def test_findings_are_exit_1_and_an_unknown_hop_is_refused(tmp_path: Path) -> None:
    assert _cli(str(_capture(tmp_path, [MOVED])), "--report-dir", str(tmp_path / "r")).returncode == 1
    refused = _cli(str(_capture(tmp_path, [MOVED])), "--hop", "proxy->nowhere")
    assert refused.returncode == 2 and "unknown hop 'proxy->nowhere'" in refused.stderr
