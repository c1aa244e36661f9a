"""Each real incident, replayed with a broken proxy through ``PROXY_CMD``, is caught and named.

These run the real command (``hokusai-contracts local``) with only the registration scenario and
the hop journals (the faults only where a test is about them), so each takes the stack's start-up
plus one registration.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).parent
BROKEN = f"{sys.executable} {HERE / 'broken_proxy.py'}"
ARGS = "--port {port} --auth-url {auth_url} --mlflow-url {mlflow_url}"


def run_local(tmp_path: Path, proxy_cmd: str, suites: str = "none", *extra: str,
              env: dict[str, str] | None = None) -> tuple[int, str, dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "hokusai_contracts", "local", "--suites", suites,
         "--report-dir", str(tmp_path), "--proxy-cmd", proxy_cmd, *extra],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )
    report = json.loads((tmp_path / "contract-report.json").read_text())
    return completed.returncode, completed.stdout + completed.stderr, report


def unknown(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(f["hop"], f["operation"], f["kind"], f["location"]) for f in report["findings"] if not f["known"]}


def test_incident_1_key_moved_from_body_to_header(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{BROKEN} key-in-header {ARGS}", "none", "--no-faults")
    assert code == 1
    assert "❌ FAILED at step 'connect'" in output
    # Issue 17: printed the moment the scenario's traffic shows it, before the suites and the full judging.
    early = output.index("⚠ Found in the scenario's traffic")
    assert early < output.index("suite tests and the hop journals judged")
    assert "[proxy->auth] POST /api/v1/keys/validate: missing_required_field at body.api_key" in output[early:]
    assert report["metrics"]["first_finding_s"] > 0
    found = unknown(report)
    assert ("proxy->auth", "POST /api/v1/keys/validate", "missing_required_field", "body.api_key") in found
    assert ("proxy->auth", "POST /api/v1/keys/validate", "undeclared_credential", "header.Authorization") in found
    missing = next(f for f in report["findings"] if f["kind"] == "missing_required_field")
    assert missing["contract"]["file"] == "contracts/auth-service.yaml"
    assert missing["contract"]["pointer"] == "/components/schemas/APIKeyValidation/required"
    assert missing["contract"]["line"]


def test_incident_2_unknown_service_id(tmp_path: Path) -> None:
    command = f"{sys.executable} -m hokusai_mocks.reference_proxy --service-id ml-platform {ARGS}"
    code, output, report = run_local(tmp_path, command)
    assert code == 1
    assert ("proxy->auth", "POST /api/v1/keys/validate", "unknown_value", "body.service_id") in unknown(report)
    finding = next(f for f in report["findings"] if f["kind"] == "unknown_value")
    assert "ml-platform" in finding["observed"] and "platform" in finding["expected"]
    # Every call is refused: the MLflow faults and the large artifact would only meet that refusal
    # again. The auth faults still run (issue 23), and this proxy answers an outage as documented.
    assert not [f for f in report["findings"] if "outage" in f["recommendation"]]
    later = {c["name"]: c for c in report["checks"] if c["suite"] in ("faults", "large-artifact")}
    skipped = {name for name, c in later.items() if c["status"] == "skipped"}
    assert {name for name in skipped if "MLflow" in name} == {n for n in later if "MLflow" in n} != set(), later
    assert "large_artifact" in skipped
    auth = [c for name, c in later.items() if name.startswith("auth ")]
    assert len(auth) == 4 and all(c["status"] == "passed" and not c["finding_ids"] for c in auth), auth


def test_a_proxy_forwarding_the_callers_key_to_mlflow_leaks_it(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{BROKEN} leak-authorization {ARGS}", "none", "--no-faults")
    assert code == 1
    leaks = [f for f in report["findings"] if f["kind"] == "credential_leak"]
    assert leaks and all(f["hop"] == "proxy->mlflow" for f in leaks)
    assert {f["location"].lower() for f in leaks} == {"header.authorization"}
    assert "..." in leaks[0]["observed"]


def test_a_proxy_dropping_patch_bodies_is_named_on_the_patch_operation(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{BROKEN} drop-patch-body {ARGS}", "none", "--no-faults")
    assert code == 1
    assert "❌ FAILED at step 'log_model'" in output
    assert ("proxy->mlflow", "PATCH /api/2.0/mlflow/logged-models/{model_id}", "missing_required_field",
            "body") in unknown(report)


def test_the_reference_proxy_has_no_unknown_findings_on_its_hops(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{sys.executable} -m hokusai_mocks.reference_proxy {ARGS}")
    assert unknown(report) == set(), output
    # Not vacuous: the scenario's requests (its search and deletes too) were compared in transit.
    assert "✓ Deleted version 1" in output
    (transit,) = [c for c in report["checks"] if c["name"].startswith("in transit (")]
    assert transit["cases"] > 10 and not transit["finding_ids"] and transit["status"] == "passed"
    assert code == 0


def test_incident_4_artifact_routes_missing_in_the_proxy(tmp_path: Path) -> None:
    code, output, report = run_local(tmp_path, f"{BROKEN} no-artifact-route {ARGS}", "proxy", "--no-faults")
    assert code == 1
    assert "❌ FAILED at step 'log_model'" in output
    found = unknown(report)
    assert ("client->proxy", "GET /api/2.0/mlflow-artifacts/artifacts", "path_not_found", "path") in found
    assert ("client->proxy", "PUT /api/2.0/mlflow-artifacts/artifacts/{path}", "artifact_mismatch", "body") in found
    assert any(d["category"] == "contract_mismatch" for d in report["diagnosis"])


def test_no_key_is_left_in_the_report_folder_of_a_run(tmp_path: Path) -> None:
    """The credential probes send the seeded key in ``?api_key=``: none of it may stay in a report or log."""
    code, output, report = run_local(tmp_path, f"{BROKEN} forward-query-key,forward-x-api-key {ARGS}", "none",
                                     "--no-faults", env={"HOKUSAI_ARTIFACT_MB": "0"})
    leaks = {f["location"] for f in report["findings"] if f["kind"] == "credential_leak"}
    assert {"query.api_key", "header.X-API-Key"} <= leaks, leaks
    key = re.compile(r"hk_(live|test)_[A-Za-z0-9]{32}")
    assert [p for p in tmp_path.rglob("*") if p.is_file() and key.search(p.read_text(errors="replace"))] == []


def test_one_defect_on_every_operation_is_one_cause(tmp_path: Path) -> None:
    """Issue 16: one defect seen on many operations is one cause listing them, and the report stays readable."""
    from markdown_it import MarkdownIt

    code, output, report = run_local(tmp_path, f"{BROKEN} json-as-text {ARGS}", "proxy", "--no-faults")
    assert code == 1, output
    relabelled = [c for c in report["causes"] if c["kind"] == "content_type" and not c["known"]]
    # One defect, seen by two checkers (Schemathesis' content-type check on the suites' calls, the
    # contract judge on the proxy's own refusals), which word its rule differently: at most one
    # cause each, never one per operation.
    rules = [(c["location"], c["shape"], (c["contract"] or {}).get("pointer")) for c in relabelled]
    assert 1 <= len(relabelled) <= 2 and len(set(rules)) == len(rules), rules
    cause = max(relabelled, key=lambda c: len(c["operations"]))
    assert len(cause["operations"]) > 5 and cause["count"] >= len(cause["operations"])
    assert {report["findings"][i]["cause"] for i in cause["finding_ids"]} == {cause["id"]}
    assert all(f["reproduction"] for f in report["findings"])
    assert "$HOKUSAI_API_KEY" in (cause["reproduction"] or "")  # Schemathesis' curl, replayable
    assert "Top causes (" in output and "✗ proxy: " in output and "pytest exit" not in output
    text = (tmp_path / "contract-report.md").read_text("utf-8")
    assert text.index("## Causes") < text.index("## Findings by hop")
    lines = text.split("\n")
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "table_open" and token.map:
            header, _, *rows = [line for line in lines[token.map[0]:token.map[1]] if line.strip()]
            cells = [len(re.findall(r"(?<!\\)\|", row)) for row in rows]
            assert cells == [len(re.findall(r"(?<!\\)\|", header))] * len(rows), header


def test_every_401_in_the_wrong_shape_is_one_cause_per_rule_listing_the_operations(tmp_path: Path) -> None:
    """Issue 16's case: 401 without WWW-Authenticate and with FastAPI's {detail} on every operation.

    The proxy's own refusals (the credential probes: no key, malformed, unknown, expired, revoked,
    another service's key, on a read, a write and an artifact call) meet it on every run; each
    broken rule is one cause that lists the operations, not one finding per operation.
    """
    code, output, report = run_local(tmp_path, f"{BROKEN} 401-detail {ARGS}", "none", "--no-faults",
                                     env={"HOKUSAI_ARTIFACT_MB": "0"})
    assert code == 1, output
    refusals = [c for c in report["causes"] if not c["known"] and c["hop"] == "client->proxy"
                and c["kind"] in ("missing_header", "response_schema")]
    by_rule: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cause in refusals:
        by_rule.setdefault((cause["kind"], cause["location"]), []).append(cause)
    assert ("missing_header", "header.WWW-Authenticate") in by_rule, sorted(by_rule)
    assert any(kind == "response_schema" for kind, _ in by_rule), sorted(by_rule)
    for rule, causes in by_rule.items():
        # One cause per broken rule (hop, kind, location, pointer, shape), whatever the operation.
        assert len(causes) == 1, (rule, [(c["shape"], c["operations"]) for c in causes])
        assert len(causes[0]["operations"]) >= 3 and causes[0]["count"] >= len(causes[0]["operations"])
    assert sum(len(c["operations"]) for c in refusals) > len(refusals)


def test_an_auth_outage_answered_401_is_found_although_the_valid_key_is_refused(tmp_path: Path) -> None:
    """Issue 23: the answer due to an auth outage does not depend on a key that works."""
    code, output, report = run_local(tmp_path, f"{BROKEN} outage-as-401 --service-id ml-platform {ARGS}",
                                     env={"HOKUSAI_ARTIFACT_MB": "0"})
    assert code == 1
    faults = {c["name"]: c for c in report["checks"] if c["suite"] == "faults"}
    mlflow = [c for name, c in faults.items() if "MLflow" in name]
    assert mlflow and all(c["status"] == "skipped" and "consequence" in c["message"] for c in mlflow), mlflow
    found = [report["findings"][i] for name, c in faults.items() if name.startswith("auth ") for i in c["finding_ids"]]
    assert {(f["hop"], f["kind"], f["location"]) for f in found} == {("client->proxy", "auth_rejected", "status")}
    # Each outage case: auth failing (500), down (503), unreachable, and slow (401 before auth answered).
    assert sum(f["count"] for f in found) >= 4 and all(f["observed"].startswith("401") for f in found)
    for finding in found:
        assert finding["contract"]["file"] == "contracts/mlflow-proxy.yaml" and finding["contract"]["line"]
        assert finding["exchanges"] and finding["reproduction"].startswith("curl ")


def test_a_large_upload_refused_413_is_an_undocumented_status_with_a_curl(tmp_path: Path) -> None:
    """Issue 23: the 50 MB artifact's 413 is pinpointed on the upload, with its body by size and SHA-256."""
    code, output, report = run_local(tmp_path, f"{BROKEN} 413-large-upload {ARGS}", "none", "--no-faults")
    assert code == 1
    assert "✓ Model logged" in output  # the scenario's small model went through
    (finding,) = [f for f in report["findings"] if f["suite"] == "large-artifact"]
    assert (finding["hop"], finding["operation"], finding["kind"], finding["location"]) == (
        "client->proxy", "PUT /api/2.0/mlflow-artifacts/artifacts/{path}", "undocumented_status", "status")
    assert finding["observed"].startswith("413")
    assert finding["contract"]["file"] == "contracts/mlflow-proxy.yaml"
    assert finding["contract"]["pointer"].endswith("/put/responses") and finding["contract"]["line"]
    (exchange,) = finding["exchanges"]
    assert exchange["status"] == 413 and exchange["request_body_size"] == 50 * 1024 * 1024
    curl = finding["reproduction"]
    assert f"{50 * 1024 * 1024} bytes (sha256 {exchange['request_body_sha256']})" in curl
    assert '"$HOKUSAI_API_KEY"' in curl and "-X PUT" in curl
