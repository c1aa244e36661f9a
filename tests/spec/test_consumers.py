"""Consumer expectations: the committed mlflow-proxy file, which changes hit it, refreshing from a journal."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hokusai_contracts._errors import ContractError
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import Body, HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.spec import Consumer, diff_specs, expectations_from_journal, impact, load_consumers
from hokusai_contracts.spec.consumers import render_expectations

from . import test_diff as battery

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = ROOT / "contracts" / "consumers"
EXAMPLES = ROOT / "contracts" / "examples"


@pytest.fixture(scope="module")
def current() -> Contract:
    return Contract.load(ROOT / "contracts" / "auth-service.yaml", ROOT)


@pytest.fixture(scope="module")
def consumers() -> list[Consumer]:
    return load_consumers(CONSUMERS, ROOT)


def hits(current: Contract, candidate: Contract, consumers: list[Consumer]) -> dict[tuple[str, str, str], list[str]]:
    changes = diff_specs(current, candidate)
    return {(c.kind.value, c.operation, c.location): who for c, who in impact(changes, consumers)}


def test_committed_consumer_file(consumers: list[Consumer], current: Contract) -> None:
    (proxy,) = consumers
    assert proxy.name == "mlflow-proxy" and proxy.contract == "contracts/auth-service.yaml"
    validate = proxy.operation("POST /api/v1/keys/validate")
    assert validate is not None
    assert validate.sends == ["body.api_key", "body.service_id"]
    assert sorted(validate.reads) == ["200", "401", "403", "422", "429"]
    assert {"body.is_valid", "body.key_id", "body.user_id"} <= set(validate.reads["200"])
    usage = proxy.operation("POST /api/v1/usage/{id}")  # path parameter names do not matter
    assert usage is not None and usage.sends == ["path.key_id", "body.service_id", "body.endpoint",
                                                 "body.status_code", "body.response_time_ms"]
    labels = {op.label for op in current.operations}
    assert set(proxy.operations) <= labels


@pytest.mark.parametrize(("example", "expected"), [
    ("incident-1-key-in-header.yaml", {
        ("field_moved", "POST /api/v1/keys/validate", "body.api_key"): ["mlflow-proxy"]}),
    ("narrowed-service-id.yaml", {
        ("enum_narrowed", "POST /api/v1/keys/validate", "body.service_id"): ["mlflow-proxy"],
        ("enum_narrowed", "POST /api/v1/keys", "body.service_id"): [],
        ("pattern_changed", "POST /api/v1/keys", "body.service_id"): []}),
    ("compatible-new-optional-field.yaml", {
        ("response_field_added", "POST /api/v1/keys/validate", "response.200.body.expires_at"): []}),
])
def test_examples_impact(current: Contract, consumers: list[Consumer], example: str,
                         expected: dict[tuple[str, str, str], list[str]]) -> None:
    assert hits(current, Contract.load(EXAMPLES / example, ROOT), consumers) == expected


def _narrow_unsent_usage_field(d: battery.Doc) -> None:
    battery.schema(d, "UsageRecord")["properties"]["predictions_count"]["minimum"] = 1


def _security_on_usage(d: battery.Doc) -> None:
    battery.op(d, "/api/v1/usage/{key_id}")["security"] = [{"AuthServiceAuth": []}]


def _remove_error_field(d: battery.Doc) -> None:
    del battery.schema(d, "ValidationResult")["properties"]["error"]


def _remove_scopes_field(d: battery.Doc) -> None:
    del battery.schema(d, "ValidationResult")["properties"]["scopes"]


def _key_get_response_field_removed(d: battery.Doc) -> None:
    response = battery.op(d, "/api/v1/keys/{key_id}", "get")["responses"]["200"]
    response["content"]["application/json"]["schema"] = {"type": "object"}


@pytest.mark.parametrize(("mutate", "who"), [
    # what the proxy sends or reads
    (battery.remove_status, ["mlflow-proxy"]),  # it handles 422
    (battery.add_required_field, ["mlflow-proxy"]),  # it does not send client_version
    (battery.make_field_required, []),  # it already sends service_id
    (battery.remove_response_field, ["mlflow-proxy"]),  # it reads user_id
    (battery.make_response_field_optional, ["mlflow-proxy"]),  # it reads is_valid
    (battery.change_response_media_type, ["mlflow-proxy"]),
    (battery.change_request_media_type, ["mlflow-proxy"]),
    (battery.add_security, ["mlflow-proxy"]),
    (_security_on_usage, ["mlflow-proxy"]),
    (_remove_error_field, ["mlflow-proxy"]),
    # what it does not
    (_remove_scopes_field, []),
    (battery.remove_response_header_free_status, []),  # usage: it never reads the answer
    (_narrow_unsent_usage_field, []),  # predictions_count: it does not send it
    (battery.add_required_query_parameter, []),  # GET /api/v1/keys/{key_id}: it never calls it
    (battery.remove_operation, []),
    (_key_get_response_field_removed, []),
    (battery.lower_max_length, []),
])
def test_change_hits(current: Contract, consumers: list[Consumer], tmp_path: Path,
                     mutate: Callable[[battery.Doc], None], who: list[str]) -> None:
    document = copy.deepcopy(current.document)
    mutate(document)
    changes = diff_specs(current, battery._write(tmp_path / "candidate.yaml", document))
    breaking = [c for c in changes if c.severity.value == "breaking"]
    assert breaking
    hit = sorted({name for _, names in impact(breaking, consumers) for name in names})
    assert hit == who


def test_a_change_to_an_operation_nobody_calls_hits_nobody(current: Contract, consumers: list[Consumer],
                                                          tmp_path: Path) -> None:
    document = copy.deepcopy(current.document)
    battery.add_required_query_parameter(document)
    battery.remove_status(document)
    del battery.op(document, "/api/v1/keys/{key_id}", "get")["responses"]["422"]
    found = hits(current, battery._write(tmp_path / "c.yaml", document), consumers)
    assert found == {
        ("parameter_added_required", "GET /api/v1/keys/{key_id}", "query.tenant"): [],
        ("status_removed", "GET /api/v1/keys/{key_id}", "response.422"): [],
        ("status_removed", "POST /api/v1/keys/validate", "response.422"): ["mlflow-proxy"],
    }


# -- loading errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    ("name: x\noperations: [unclosed\n", "not valid YAML"),
    ("operations: {}\n", "name: Field required"),
    ("name: x\noperations:\n  POST /a:\n    sends: [bodyapi_key]\n", "not a request location"),
    ("name: x\noperations:\n  POST /a:\n    reads: {200: [status]}\n", "not a response location"),
    ("name: x\noperations:\n  POST /a:\n    reads: {OK: []}\n", "not a status"),
    ("name: x\nextra: 1\n", "extra"),
])
def test_bad_consumer_file(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ContractError, match=problem) as caught:
        load_consumers(tmp_path, tmp_path)
    assert caught.value.file == "bad.yaml"


def test_no_consumer_folder_means_no_consumers(tmp_path: Path) -> None:
    assert load_consumers(tmp_path / "missing") == []


# -- refreshing from a journal ---------------------------------------------------------------

def _entry(seq: int, method: str, path: str, body: object, status: int | None, answer: object = None,
           **headers: str) -> HttpExchange:
    return HttpExchange(seq=seq, hop=Hop.PROXY_TO_AUTH, started_at=0.0, method=method, path=path,
                        request_headers={"host": "auth", "content-type": "application/json", **headers},
                        request_body=Body.of(json.dumps(body)), status=status,
                        response_body=Body.of(json.dumps(answer) if answer is not None else None))


PROXY_TRAFFIC = [
    _entry(1, "POST", "/api/v1/keys/validate", {"api_key": "hk_live_***", "service_id": "platform"}, 200,
           {"is_valid": True, "key_id": "k", "user_id": "u", "service_id": "platform", "scopes": ["a"]}),
    _entry(2, "POST", "/api/v1/keys/validate", {"api_key": "hk_live_***", "service_id": "platform"}, 422,
           {"detail": [{"loc": ["body"], "msg": "m", "type": "t"}]}),
    _entry(3, "POST", "/api/v1/usage/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
           {"service_id": "platform", "endpoint": "POST /x", "status_code": 200, "response_time_ms": 3}, 200, {}),
    _entry(4, "GET", "/not/in/the/contract", {}, 404),
]


def test_expectations_from_journal(current: Contract, consumers: list[Consumer]) -> None:
    found = expectations_from_journal(PROXY_TRAFFIC, current)
    assert found["name"] == "mlflow-proxy" and found["contract"] == "contracts/auth-service.yaml"
    assert list(found["operations"]) == ["POST /api/v1/keys/validate", "POST /api/v1/usage/{key_id}"]
    validate = found["operations"]["POST /api/v1/keys/validate"]
    assert validate["sends"] == ["body.api_key", "body.service_id"]
    assert validate["reads"]["200"] == ["body.is_valid", "body.key_id", "body.scopes", "body.service_id",
                                        "body.user_id"]
    assert validate["reads"]["422"] == ["body.detail", "body.detail[].loc", "body.detail[].msg", "body.detail[].type"]
    committed = consumers[0].operation("POST /api/v1/usage/{key_id}")
    assert committed is not None
    assert sorted(found["operations"]["POST /api/v1/usage/{key_id}"]["sends"]) == sorted(committed.sends)
    assert Consumer.model_validate(found).name == "mlflow-proxy"


def test_journal_sees_a_key_in_a_header(current: Contract) -> None:
    entry = _entry(1, "POST", "/api/v1/keys/validate", {"service_id": "platform"}, 401, None,
                   authorization="Bearer hk_live_***")
    found = expectations_from_journal([entry], current)
    assert found["operations"]["POST /api/v1/keys/validate"] == {
        "sends": ["body.service_id", "header.Authorization"], "reads": {"401": []}}


def test_refresh_keeps_what_was_written_by_hand(current: Contract, tmp_path: Path) -> None:
    existing = load_consumers(CONSUMERS, ROOT)[0].model_dump()
    found = expectations_from_journal(PROXY_TRAFFIC[:1], current, existing=existing)
    validate = found["operations"]["POST /api/v1/keys/validate"]
    assert {"403", "429"} <= set(validate["reads"]) and "header.Retry-After" in validate["reads"]["429"]
    assert "body.scopes" in validate["reads"]["200"]  # seen in the journal: added
    (tmp_path / "mlflow-proxy.yaml").write_text(render_expectations(found))
    (reloaded,) = load_consumers(tmp_path, tmp_path)
    assert reloaded.model_dump() == Consumer.model_validate(found).model_dump()
    assert (tmp_path / "mlflow-proxy.yaml").read_text().startswith("# What mlflow-proxy sends")


def test_a_consumer_of_another_provider_is_not_hit(current: Contract, consumers: list[Consumer]) -> None:
    changes = diff_specs(current, Contract.load(EXAMPLES / "incident-1-key-in-header.yaml", ROOT))
    other = consumers[0].model_copy(update={"name": "mlflow-client", "contract": "contracts/mlflow.yaml"})
    anyone = consumers[0].model_copy(update={"name": "unpinned", "contract": None})
    assert impact(changes, [other, anyone, consumers[0]])[0][1] == ["unpinned", "mlflow-proxy"]
