"""The spec check: the committed examples' verdicts, unusable input, and the dynamic check on a real stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.findings import FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.report.model import CheckRecord, CheckStatus, Report
from hokusai_contracts.run.spec import SPEC_CHANGES_FILE, judge_against_candidate, run_spec_check, spec_exit_code

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "contracts" / "examples"
VALIDATE = "POST /api/v1/keys/validate"

# example -> (verdict line, exit code, [(kind, operation, location, consumers broken)])
Change = tuple[str, str, str, list[str]]
EXPECTED: dict[str, tuple[str, int, list[Change]]] = {
    "compatible-new-optional-field.yaml": (
        "Verdict: COMPATIBLE (0 breaking, 1 compatible)", 0,
        [("response_field_added", VALIDATE, "response.200.body.expires_at", [])]),
    "incident-1-key-in-header.yaml": (
        "Verdict: BREAKING (1 breaking, 0 compatible; 1 breaks mlflow-proxy)", 1,
        [("field_moved", VALIDATE, "body.api_key", ["mlflow-proxy"])]),
    "narrowed-service-id.yaml": (
        "Verdict: BREAKING (3 breaking, 0 compatible; 1 breaks mlflow-proxy)", 1,
        [("enum_narrowed", "POST /api/v1/keys", "body.service_id", []),
         ("pattern_changed", "POST /api/v1/keys", "body.service_id", []),
         ("enum_narrowed", VALIDATE, "body.service_id", ["mlflow-proxy"])]),
}


def check(example: str, report_dir: Path) -> tuple[Report, list[str]]:
    lines: list[str] = []
    report = run_spec_check(EXAMPLES / example, report_dir=report_dir, dynamic=False, out=lines.append)
    return report, lines


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_committed_examples(example: str, tmp_path: Path) -> None:
    verdict_line, code, changes = EXPECTED[example]
    report, lines = check(example, tmp_path)
    output = "\n".join(lines)

    assert lines[0] == verdict_line  # the verdict comes first
    assert spec_exit_code(report) == code
    assert report.mode == "spec"
    assert report.verdict == ("pass" if code == 0 else "fail")
    # Each breaking change is a finding too (issue 16): a BREAKING verdict has findings.
    breaking = list(dict.fromkeys((o, loc) for _, o, loc, _ in changes)) if code else []  # same place: one
    assert [(f.hop, f.kind, f.operation, f.location) for f in report.findings] == [
        (Hop.PROXY_TO_AUTH, FindingKind.BREAKING_CHANGE, o, loc) for o, loc in breaking]
    assert all(f.reproduction and f.contract and f.cause for f in report.findings)

    # One check per change, failed when breaking (each example's changes are all of one severity).
    status = CheckStatus.FAILED if code else CheckStatus.PASSED
    assert [(c.suite, c.name, c.status) for c in report.checks] == [
        ("spec-diff", f"{kind} {operation} {location}", status) for kind, operation, location, _ in changes]
    for record, (_, operation, _, who) in zip(report.checks, changes, strict=True):
        assert record.operation == operation
        assert "contracts/auth-service.yaml:" in record.message
        assert f"contracts/examples/{example}:" in record.message
        assert SPEC_CHANGES_FILE in record.message
        if record.status is CheckStatus.FAILED:
            assert (f"breaks {', '.join(who)}" if who else "breaks nobody we know of") in record.message

    # The sidecar: every SpecChange field plus the consumers it breaks.
    sidecar = json.loads((tmp_path / SPEC_CHANGES_FILE).read_text("utf-8"))
    assert [(c["kind"], c["operation"], c["location"], c["consumers"]) for c in sidecar] == changes
    for change in sidecar:
        assert change["current"]["file"] == "contracts/auth-service.yaml" and change["current"]["line"]
        assert change["candidate"]["file"] == f"contracts/examples/{example}" and change["candidate"]["line"]
        assert {"severity", "summary", "recommendation"} <= set(change)

    # The printed changes: severity, kind, operation, location, both pointers, who breaks.
    severity = "BREAKING" if code else "COMPATIBLE"
    for kind, operation, location, _ in changes:
        assert f"  {severity:<10} {kind}  {operation}  {location}" in lines
    assert output.count("current:   contracts/auth-service.yaml:") == len(changes)
    assert output.count(f"candidate: contracts/examples/{example}:") == len(changes)
    if code:
        assert "breaks mlflow-proxy" in output
        assert ("breaks nobody we know of" in output) == any(not who for *_, who in changes)
    else:
        assert "breaks nobody\n" in output + "\n" and "breaks mlflow-proxy" not in output

    for name in ("contract-report.json", "junit.xml", "contract-report.md", SPEC_CHANGES_FILE):
        assert (tmp_path / name).is_file()
    assert not (tmp_path / "logs").exists()  # no stack was started
    assert Report.model_validate_json((tmp_path / "contract-report.json").read_text("utf-8")).mode == "spec"


def test_the_current_contract_against_itself_is_compatible(tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_spec_check(ROOT / "contracts" / "auth-service.yaml", report_dir=tmp_path, dynamic=False,
                            out=lines.append)
    assert lines[0] == "Verdict: COMPATIBLE (no changes)"
    assert report.checks == [] and spec_exit_code(report) == 0
    assert json.loads((tmp_path / SPEC_CHANGES_FILE).read_text("utf-8")) == []


def test_exit_code_of_a_check_that_could_not_run() -> None:
    report = Report(tool_version="0", mode="spec")
    report.checks.append(CheckRecord(suite="spec-diff", name="x", status=CheckStatus.PASSED))
    report.checks.append(CheckRecord(suite="spec-dynamic", name="y", status=CheckStatus.ERROR))
    assert spec_exit_code(report) == 2  # compatibility unproven
    report.checks.append(CheckRecord(suite="spec-diff", name="z", status=CheckStatus.FAILED))
    assert spec_exit_code(report) == 1  # a known break outranks an unproven check


# -- the command line ---------------------------------------------------------------------------

def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hokusai_contracts", "spec-check", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(("example", "code"), [("compatible-new-optional-field.yaml", 0),
                                               ("incident-1-key-in-header.yaml", 1)])
def test_command_exit_codes(example: str, code: int, tmp_path: Path) -> None:
    completed = run(str(EXAMPLES / example), "--report-dir", str(tmp_path), "--no-dynamic")
    assert completed.returncode == code, completed.stderr
    assert completed.stdout.startswith("Verdict: ")
    assert (tmp_path / "contract-report.json").is_file()


@pytest.mark.parametrize(("name", "text", "says"), [
    ("colons.yaml", ": : :\n", "colons.yaml:1: not valid YAML"),
    ("plain.yaml", "name: mlflow-proxy\nitems: [1, 2]\n", "plain.yaml:1: not an OpenAPI document"),
    ("missing.yaml", None, "missing.yaml: cannot read the contract"),
    ("swagger.yaml", "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n", "not an OpenAPI document"),
    ("no-info.yaml", "openapi: 3.0.3\npaths: {}\n", "no-info.yaml:1: not a valid OpenAPI 3.0.3 document"),
])
def test_unusable_input_is_one_paragraph_and_exit_2(name: str, text: str | None, says: str, tmp_path: Path) -> None:
    candidate = tmp_path / name
    if text is not None:
        candidate.write_text(text, "utf-8")
    report_dir = tmp_path / "reports"
    completed = run(str(candidate), "--report-dir", str(report_dir), "--no-dynamic")
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("hokusai-contracts: error: ")
    assert says in completed.stderr and str(candidate) in completed.stderr
    assert completed.stderr.strip().count("\n") == 0  # one paragraph
    assert completed.stdout == ""  # no verdict for a file we could not read
    assert not report_dir.exists()  # and no report


# -- the dynamic check ---------------------------------------------------------------------------

def _entry(seq: int, method: str, path: str, body: dict[str, object] | None) -> HttpExchange:
    return HttpExchange(seq=seq, hop=Hop.PROXY_TO_AUTH, started_at=0.0, method=method, path=path,
                        request_headers={"content-type": "application/json"},
                        request_body=Body.of(json.dumps(body) if body is not None else None), status=200,
                        response_headers={"content-type": "application/json"},
                        response_body=Body.of(json.dumps({"is_valid": True, "key_id": "k", "user_id": "u"})))


def test_only_what_the_candidate_newly_rejects_counts() -> None:
    current = Contract.load(ROOT / "contracts" / "auth-service.yaml", ROOT)
    candidate = Contract.load(EXAMPLES / "narrowed-service-id.yaml", ROOT)
    entries = [
        _entry(1, "POST", "/api/v1/keys/validate", {"api_key": "hk_live_ab...cdef", "service_id": "platform"}),
        _entry(2, "GET", "/api/v1/nothing-here", None),  # wrong under both contracts
    ]
    new, preexisting = judge_against_candidate(entries, current, candidate)
    assert [(f.hop, f.operation, f.kind.value, f.location, f.suite) for f in new] == [
        (Hop.PROXY_TO_AUTH, VALIDATE, "unknown_value", "body.service_id", "spec-dynamic")]
    assert new[0].contract is not None and new[0].contract.file == "contracts/examples/narrowed-service-id.yaml"
    assert [(f.kind.value, f.location) for f in preexisting] == [("unknown_operation", "path")]
    assert judge_against_candidate(entries[:1], current, current) == ([], [])


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("example", ["incident-1-key-in-header.yaml", "narrowed-service-id.yaml"])
def test_dynamic_check_on_the_local_stack(example: str, tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_spec_check(EXAMPLES / example, report_dir=tmp_path, dynamic=True, out=lines.append)
    (dynamic,) = [c for c in report.checks if c.suite == "spec-dynamic"]
    assert "✅ SUCCESS: Third-party model registration completed!" in lines
    assert dynamic.cases > 0  # the journal recorded the proxy's calls
    assert (tmp_path / "logs" / "proxy.log").is_file()  # the stack's logs are kept in REPORT_DIR/logs
    assert report.targets.proxy_url and report.targets.auth_url
    # What the dynamic check found; the static diff's breaking changes are findings of their own.
    found = {(f.hop, f.operation, f.kind.value, f.location) for f in report.findings if f.suite == "spec-dynamic"}
    if example == "incident-1-key-in-header.yaml":
        # The candidate moves the key from body.api_key to `Authorization: Bearer` (security
        # AuthServiceAuth). The reference proxy keeps sending it in the body and sends no
        # Authorization header: the judge reports the credential the candidate's security requires.
        assert found == {(Hop.PROXY_TO_AUTH, VALIDATE, "missing_required_field", "header.Authorization")}
        assert dynamic.status is CheckStatus.FAILED
        assert spec_exit_code(report) == 1
    else:
        # The proxy validates keys for service_id "platform", which the candidate no longer knows;
        # it also sends "platform" in every usage record. The static diff sees no change to
        # UsageRecord (it has no closed set of its own), but the judge knows service_id's values
        # contract-wide (x-known-values, contracts/known_values.py), so the usage calls are rejected too.
        assert found == {(Hop.PROXY_TO_AUTH, VALIDATE, "unknown_value", "body.service_id"),
                         (Hop.PROXY_TO_AUTH, "POST /api/v1/usage/{key_id}", "unknown_value", "body.service_id")}
        assert dynamic.status is CheckStatus.FAILED
        dynamic_ids = [i for i, f in enumerate(report.findings) if f.suite == "spec-dynamic"]
        assert sorted(dynamic.finding_ids) == dynamic_ids
        assert all(f.kind.value == "breaking_change" for f in report.findings if f.suite != "spec-dynamic")
        assert spec_exit_code(report) == 1
        assert "platform" in (tmp_path / "contract-report.md").read_text("utf-8")
