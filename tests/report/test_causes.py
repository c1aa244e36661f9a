"""Causes: one defect seen on many operations is one cause; two defects never merge; ranked by registration."""

from __future__ import annotations

from datetime import date

from hokusai_contracts import Exchange, Finding, FindingKind, Hop, Suite
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.domain.findings import ContractRef
from hokusai_contracts.report.causes import build_causes, cause_lines
from hokusai_contracts.report.markdown import render_markdown
from hokusai_contracts.report.model import Report
from hokusai_contracts.report.phase import PhaseResult
from hokusai_contracts.run.fold import Fold

FUZZED = [f"GET /api/2.0/mlflow/thing-{n}/get" for n in range(57)]


def _401(operation: str, body: str = '{"detail": "Not authenticated"}', status: int = 401,
         suite: Suite = Suite.PROXY, pointer: str = "/responses/401") -> Finding:
    path = operation.split()[1].replace("/", "~1")
    return Finding(
        hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.RESPONSE_SCHEMA, location="body",
        contract=ContractRef(file="contracts/mlflow-proxy.yaml", pointer=f"/paths/{path}/get{pointer}"),
        expected="{error_code, message}", observed=f"{status} {body} on {operation}", recommendation="answer the "
        "documented error body", suite=suite,
        exchanges=[Exchange(method="GET", url=f"http://proxy{operation.split()[1]}", status=status,
                            response_body=body)])


def _fold(findings: list[Finding]) -> Report:
    fold = Fold(Report(tool_version="t", mode="local"), KnownDeviations(deviations=[]), today=date(2026, 12, 1),
                diagnosis=None)
    fold.add(PhaseResult(findings=findings))
    return fold.finish()


def test_one_wrong_401_on_57_operations_is_one_cause_with_the_operations() -> None:
    report = _fold([_401(op, body=f'{{"detail": "no key for {op}"}}') for op in FUZZED])
    assert len(report.findings) == 57
    assert len(report.causes) == 1
    cause = report.causes[0]
    assert cause.operations == FUZZED
    assert cause.count == 57 and cause.shape == "401 json{detail}"
    assert cause.example is not None and cause.example.url.endswith("thing-0/get")
    assert {f.cause for f in report.findings} == {"C1"}
    assert len(cause_lines(report)) == 2  # the heading and the one cause


def test_two_defects_on_the_same_rule_stay_two_causes() -> None:
    findings = [_401(op) for op in FUZZED[:3]] + [_401(op, body="oops", status=500) for op in FUZZED[3:6]]
    findings += [_401(op, status=403, pointer="/responses/403") for op in FUZZED[6:8]]
    causes = build_causes(findings)
    assert [len(c.operations) for c in causes] == [3, 3, 2]
    assert {c.shape for c in causes} == {"401 json{detail}", "500 text", "403 json{detail}"}


def test_a_body_breaking_its_schema_is_one_cause_however_the_judge_words_it() -> None:
    """A suite's schema error at body (the status's response) and a probe's missing fields (the schema's
    required list), on the same answer shape: one defect, one cause (production's 401 {detail})."""
    suite = [_401(op) for op in FUZZED[:3]]
    probe = [_401(FUZZED[3], suite=Suite.BEARER_AUTH).model_copy(update={
        "location": f"body.{field}", "observed": "absent",
        "contract": ContractRef(file="contracts/mlflow-proxy.yaml", pointer="/components/schemas/proxy_Error/required"),
    }) for field in ("error_code", "message")]
    causes = build_causes(suite + probe)
    assert len(causes) == 1 and causes[0].location == "body" and causes[0].shape == "401 json{detail}"
    assert len(build_causes(suite + [_401(FUZZED[4], body='{"error": "x"}')])) == 2  # another body: another cause


def test_what_blocks_registration_ranks_first_and_known_last() -> None:
    fuzzed = _401(FUZZED[0])
    on_path = _401("GET /api/2.0/mlflow/runs/get", body="{}")
    scenario = _401("GET /api/2.0/mlflow/other", body="[]", suite=Suite.SCENARIO)
    known = _401("GET /api/2.0/mlflow/experiments/get", body="x")
    known.known = True
    causes = build_causes([known, fuzzed, on_path, scenario])
    assert [c.operations[0] for c in causes] == ["GET /api/2.0/mlflow/runs/get", "GET /api/2.0/mlflow/other",
                                                 FUZZED[0], "GET /api/2.0/mlflow/experiments/get"]
    assert [c.rank for c in causes] == [1, 2, 3, 4]


def test_the_markdown_puts_the_causes_before_the_findings() -> None:
    report = _fold([_401(op) for op in FUZZED[:5]])
    text = render_markdown(report)
    assert text.index("## Causes") < text.index("## Findings by hop")
    assert text.count("### C") == 1 and "```mermaid" in text.split("## Findings by hop")[0]
    assert "curl" in text.split("## Findings by hop")[0]


def test_the_fold_gives_every_finding_with_an_exchange_a_curl_to_its_receiver() -> None:
    hop = _401("GET /api/2.0/mlflow/runs/get")
    hop.hop = Hop.PROXY_TO_AUTH
    hop.exchanges = [Exchange(method="POST", url="/api/v1/keys/validate", status=401)]
    fold = Fold(Report(tool_version="t", mode="local"), KnownDeviations(deviations=[]), today=date(2026, 12, 1),
                diagnosis=None)
    fold.report.targets.auth_url = "http://127.0.0.1:7001"
    fold.add(PhaseResult(findings=[hop, _401(FUZZED[0])]))
    report = fold.finish()
    assert all(f.reproduction for f in report.findings)
    assert report.findings[0].reproduction is not None
    assert report.findings[0].reproduction.endswith(" http://127.0.0.1:7001/api/v1/keys/validate")


def test_a_header_defect_is_one_cause_whatever_the_status_and_body() -> None:
    def relabelled(operation: str, status: int, body: str, value: str = "text/plain") -> Finding:
        finding = _401(operation, body=body, status=status)
        finding.kind, finding.location = FindingKind.CONTENT_TYPE, "header.Content-Type"
        finding.exchanges[0].response_headers = {"content-type": value}
        return finding

    causes = build_causes([relabelled(FUZZED[0], 200, '{"run": {}}'), relabelled(FUZZED[1], 400, '{"a": 1}'),
                           relabelled(FUZZED[2], 200, "{}", value="text/html; charset=utf-8")])
    assert [(c.shape, len(c.operations)) for c in causes] == [("header text/plain", 2), ("header text/html", 1)]


def test_a_header_defect_is_one_cause_whether_or_not_its_answer_is_documented() -> None:
    documented, undocumented = _401(FUZZED[0]), _401(FUZZED[1])
    for finding in (documented, undocumented):
        finding.kind, finding.location = FindingKind.CONTENT_TYPE, "header.Content-Type"
        finding.exchanges[0].response_headers = {"content-type": "text/plain"}
    assert undocumented.contract is not None
    undocumented.contract = ContractRef(file=undocumented.contract.file, pointer="/paths/~1y/get")
    assert len(build_causes([documented, undocumented])) == 1


def test_what_a_request_carried_is_one_cause_whatever_came_back() -> None:
    """A key forwarded in the query is one leak whether MLflow answered 401 or 500 (production's proxy)."""
    def leak(operation: str, status: int) -> Finding:
        return Finding(hop=Hop.PROXY_TO_MLFLOW, operation=operation, kind=FindingKind.CREDENTIAL_LEAK,
                       location="query.api_key", expected="no key", observed="api_key=hk_live_gU...a35Y",
                       recommendation="drop it", exchanges=[Exchange(method="GET", url="http://mlflow/x",
                                                                     status=status, response_body="{}")])
    causes = build_causes([leak("GET /api/2.0/mlflow/experiments/search", 401),
                           leak("GET /api/2.0/mlflow-artifacts/artifacts", 500)])
    assert len(causes) == 1 and causes[0].shape == "the request"


def test_one_artifact_location_scheme_is_one_cause_in_every_field() -> None:
    def handed(location: str, operation: str) -> Finding:
        return Finding(hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.UNREACHABLE_ARTIFACT_LOCATION,
                       location=location, expected="mlflow-artifacts:", recommendation="serve artifacts",
                       observed="s3://bucket/artifacts/1 (scheme s3): the store itself")
    causes = build_causes([handed("body.experiment.artifact_location", "GET /api/2.0/mlflow/experiments/get"),
                           handed("body.run.info.artifact_uri", "POST /api/2.0/mlflow/runs/create"),
                           handed("body.run.info.artifact_uri", "GET /api/2.0/mlflow/runs/get")])
    assert len(causes) == 1 and causes[0].shape == "scheme s3" and len(causes[0].operations) == 3
