"""What MLFLOW_VERSION / MLFLOW_CLIENTS add to a run: version detection, contract choice, client-named findings."""

from __future__ import annotations

import httpx
import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.mlflow_versions import pinned_version
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check
from hokusai_contracts.run.mlflow_versions import (
    _name_clients,
    detect_mlflow_version,
    live_contracts,
    prepare_versions,
)

KEY = "hk_live_" + "Ab3" * 10 + "Zz"


def client_answering(status: int, text: str, seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=text)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_version_is_read_from_mlflow_direct_without_the_key() -> None:
    seen: list[httpx.Request] = []
    assert detect_mlflow_version(client_answering(200, "3.9.0", seen), "https://mlflow.example/x", "https://p/api/mlflow",
                                 KEY) == "3.9.0"
    assert str(seen[0].url) == "https://mlflow.example/x/version" and "authorization" not in seen[0].headers


def test_without_mlflow_direct_the_version_comes_through_the_proxy_with_the_key() -> None:
    seen: list[httpx.Request] = []
    assert detect_mlflow_version(client_answering(200, "2.9.2\n", seen), None, "https://p/api/mlflow", KEY) == "2.9.2"
    assert str(seen[0].url) == "https://p/api/mlflow/version" and seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_mlflow_behind_a_gateway_refusing_a_keyless_read_is_asked_through_the_proxy() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "mlflow.example":  # the gateway: no key, no answer
            return httpx.Response(401, json={"detail": "API key required"})
        return httpx.Response(200, text="3.9.0")

    client = httpx.Client(transport=httpx.MockTransport(handler))
    assert detect_mlflow_version(client, "https://mlflow.example/mlflow", "https://p/api/mlflow", KEY) == "3.9.0"
    assert [(str(r.url), "authorization" in r.headers) for r in seen] == [
        ("https://mlflow.example/mlflow/version", False), ("https://p/api/mlflow/version", True)]


@pytest.mark.parametrize(("status", "text"), [(404, "3.9.0"), (200, "<html>not a version</html>")])
def test_no_version_when_the_server_does_not_say_one(status: int, text: str) -> None:
    assert detect_mlflow_version(client_answering(status, text, []), "https://m", "https://p", KEY) is None


def test_a_committed_version_gets_its_contracts_an_unknown_one_a_warning() -> None:
    chosen, warnings = live_contracts("2.9.2")
    assert chosen is not None and chosen.mlflow.parts[-2:] == ("2.9.2", "mlflow.yaml") and warnings == []
    assert live_contracts(pinned_version()) == (None, [])
    chosen, warnings = live_contracts("3.5.1")
    assert chosen is None and "3.5.1, which has no committed contract" in warnings[0]
    chosen, warnings = live_contracts(None)
    assert chosen is None and "version is unknown" in warnings[0]


def test_the_pinned_server_and_no_clients_build_nothing() -> None:
    plan = prepare_versions(None, [], lambda line: None)
    assert plan.server == pinned_version() and plan.clients == []
    assert plan.contract_files() == {} and plan.contracts.reviewed and plan.warnings() == []


def test_bad_client_lists_are_refused_before_anything_starts() -> None:
    with pytest.raises(UsageError, match="MLFLOW_CLIENTS='two' is not an MLflow version"):
        prepare_versions(None, ["two"], lambda line: None)


def finding(observed: str = "POST /api/2.0/mlflow/logged-models") -> Finding:
    return Finding(hop=Hop.PROXY_TO_MLFLOW, operation="POST /api/2.0/mlflow/logged-models",
                   kind=FindingKind.UNKNOWN_OPERATION, location="path", expected="an operation of the contract",
                   observed=observed, recommendation="Check the path.")


def test_findings_name_every_client_that_sent_them_and_the_server() -> None:
    checks = [(Check(suite=Suite.HOP_JOURNAL, name=f"client {v}", status=CheckStatus.PASSED, findings=[finding()]), v)
              for v in ("3.4.0", "3.9.0")]
    _name_clients(checks, "2.9.2")
    for check, _ in checks:
        (named,) = check.findings
        assert "(sent for the MLflow 3.4.0, MLflow 3.9.0 clients; judged by MLflow 2.9.2's contract)" in named.observed
        assert "MLflow 3.4.0, MLflow 3.9.0 clients send this" in named.recommendation
