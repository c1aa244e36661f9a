"""The MLflow side's contract with a gateway's overlay: credentials judged by the receiver's contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hokusai_contracts import FindingKind, Hop
from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.judge import judge_request
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.contracts.overlay import mlflow_side, requires_credentials
from hokusai_contracts.safety.policy import OutgoingRequest, SafetyPolicy, Target

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "contracts" / "mlflow-gateway.overlay.yaml"
KEY = "hk_live_" + "G4" * 15 + "tW"  # made up, built in code
SEARCH = "/mlflow/api/2.0/mlflow/experiments/search"


@pytest.fixture(scope="module")
def bare() -> Contract:
    return mlflow_side(Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT), "/mlflow")


@pytest.fixture(scope="module")
def gateway() -> Contract:
    return mlflow_side(Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT), "/mlflow", OVERLAY, ROOT)


def kinds(contract: Contract, path: str = SEARCH, query: tuple[tuple[str, str], ...] = (),
          **headers: str) -> set[tuple[str, str]]:
    found = judge_request(contract, Hop.PROXY_TO_MLFLOW, "GET", path, query=query, headers=headers,
                          forbid_credentials=True)
    credentials = (FindingKind.CREDENTIAL_LEAK, FindingKind.MISSING_CREDENTIAL, FindingKind.UNDECLARED_CREDENTIAL)
    return {(f.kind.value, f.location) for f in found if f.kind in credentials}


def test_the_gateway_overlay_requires_a_key_everywhere_but_health(gateway: Contract, bare: Contract) -> None:
    assert requires_credentials(gateway) and not requires_credentials(bare)
    assert gateway.find_operation("GET", "/mlflow/health") is not None
    assert gateway.find_operation("GET", "/mlflow/health").security == ()  # type: ignore[union-attr]
    assert gateway.display_path == "contracts/mlflow.yaml + contracts/mlflow-gateway.overlay.yaml"


@pytest.mark.parametrize(("headers", "query", "expected"), [
    # Required, and where the contract says: no finding.
    ({"Authorization": f"Bearer {KEY}"}, (), set()),
    ({"X-API-Key": KEY}, (), set()),
    # Required and stripped on the way (a proxy dropping Authorization before the gateway).
    ({}, (), {("missing_credential", "header.Authorization")}),
    # A key in a query string is a leak whatever the contract says.
    ({"Authorization": f"Bearer {KEY}"}, (("api_key", KEY),), {("credential_leak", "query.api_key")}),
    # A header the contract does not name still leaks it.
    ({"Authorization": f"Bearer {KEY}", "X-Forwarded-Key": KEY}, (), {("credential_leak", "header.X-Forwarded-Key")}),
])
def test_credentials_on_proxy_to_mlflow_by_the_gateways_contract(
        gateway: Contract, headers: dict[str, str], query: tuple[tuple[str, str], ...],
        expected: set[tuple[str, str]]) -> None:
    assert kinds(gateway, query=query, **headers) == expected


def test_health_is_open_so_a_key_there_is_still_a_leak(gateway: Contract) -> None:
    assert kinds(gateway, "/mlflow/health", Authorization=f"Bearer {KEY}") == \
        {("credential_leak", "header.Authorization")}
    assert kinds(gateway, "/mlflow/health") == set()


def test_without_the_overlay_a_forwarded_key_is_a_leak_and_none_is_missing(bare: Contract) -> None:
    assert kinds(bare, Authorization=f"Bearer {KEY}") == {("credential_leak", "header.Authorization")}
    assert kinds(bare) == set()


@pytest.mark.parametrize(("text", "words"), [
    (None, "cannot read the overlay"),
    ("a: [b", "is not valid YAML"),
    ("- a list", "must be a mapping"),
    ("paths:\n  /no/such/path:\n    get: {}\n", "does not apply to contracts/mlflow.yaml"),
    ("components:\n  schemas:\n    x:\n      $ref: '#/components/schemas/nowhere'\n", "does not apply"),
])
def test_a_bad_overlay_is_one_line_naming_mlflow_overlay(tmp_path: Path, text: str | None, words: str) -> None:
    path = tmp_path / "overlay.yaml"
    if text is not None:
        path.write_text(text, "utf-8")
    with pytest.raises(UsageError) as caught:
        mlflow_side(Contract.load(ROOT / "contracts" / "mlflow.yaml", root=ROOT), "", path, ROOT)
    message = str(caught.value)
    assert message.startswith("MLFLOW_OVERLAY: ") and words in message and "\n" not in message


def _read(headers: dict[str, str], query: str = "") -> OutgoingRequest:
    return OutgoingRequest(Target.MLFLOW, "GET", SEARCH, query=query, headers=headers)


def test_the_live_gate_sends_the_key_to_mlflow_only_where_its_contract_requires_it(
        gateway: Contract, bare: Contract) -> None:
    auth = Contract.load(ROOT / "contracts" / "auth-service.yaml", root=ROOT)
    behind_gateway, bare_policy = SafetyPolicy(KEY, auth, gateway), SafetyPolicy(KEY, auth, bare)
    assert behind_gateway.refusal(_read({"Authorization": f"Bearer {KEY}"})) is None
    assert bare_policy.refusal(_read({"Authorization": f"Bearer {KEY}"})) is not None
    assert behind_gateway.refusal(_read({"X-Other": KEY})) is not None
    assert behind_gateway.refusal(_read({}, query=f"api_key={KEY}")) is not None
    post = OutgoingRequest(Target.MLFLOW, "POST", SEARCH, headers={"Authorization": f"Bearer {KEY}"},
                           body=json.dumps({"filter": KEY}).encode())
    assert behind_gateway.refusal(post) is not None


def test_a_path_the_contract_lacks_is_covered_by_the_gateways_document_security(gateway: Contract,
                                                                                  bare: Contract) -> None:
    path = "/mlflow/api/2.0/mlflow/no-such-route"
    assert ("credential_leak", "header.Authorization") not in kinds(gateway, path, Authorization=f"Bearer {KEY}")
    assert ("credential_leak", "header.Authorization") in kinds(bare, path, Authorization=f"Bearer {KEY}")
