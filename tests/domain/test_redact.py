from collections.abc import Iterator
from urllib.parse import quote

import pytest

from hokusai_contracts import Exchange, Finding, FindingKind, Hop, mask, redact
from hokusai_contracts.domain.redact import forget_secrets, redact_headers, redact_obj, register_secrets

KEY = "hk_live_" + "ch" + "X" * 26 + "cOWL"


def test_mask_keeps_first_ten_and_last_four() -> None:
    assert mask(KEY) == "hk_live_ch...cOWL"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer hk_live_ch...cOWL"),
        (f'{{"api_key": "{KEY}"}}', '{"api_key": "hk_live_ch...cOWL"}'),
        ("no secret here", "no secret here"),
        ("hk_live_short", "hk_live_short"),
    ],
)
def test_redact_masks_keys_in_text(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_masks_given_secrets_that_do_not_look_like_keys() -> None:
    assert "s3cr3t-token-value" not in redact("token=s3cr3t-token-value", ["s3cr3t-token-value"])


def test_redact_obj_walks_nested_values() -> None:
    value = {"a": [KEY, {"b": KEY}], "n": 1}
    assert KEY not in str(redact_obj(value))
    assert redact_obj(value)["n"] == 1


ADMIN = "adm_" + "Zq-9_" * 6 + "xy"  # the stack's admin token shape: adm_ + token_urlsafe(24)


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize("token", [ADMIN, "fake-admin-" + "Ab3_-" * 6])
def test_admin_tokens_are_masked_by_shape(token: str) -> None:
    text = redact(f"curl -H 'Authorization: Bearer {token}' http://x")
    assert token not in text and mask(token) in text


def test_registered_secrets_are_masked_by_every_later_redact() -> None:
    opaque = "opaque-session-7f3c9e"
    assert redact(f"token={opaque}") == f"token={opaque}"
    register_secrets(opaque, None, "short")
    assert opaque not in redact(f"token={opaque}")
    assert opaque not in redact(f"url?token={quote(opaque, safe='')}&x=1")
    assert redact("short words stay") == "short words stay"  # too short to mask by value
    assert opaque not in str(redact_obj({"deep": [f"x {opaque} y"]}))


def test_a_secret_holding_another_is_masked_whole() -> None:
    inner, outer = "inner-secret-1", "prefix-inner-secret-1-suffix"
    register_secrets(inner, outer)
    assert redact(outer) == mask(outer)


def test_credential_headers_are_masked_whole_whatever_their_value() -> None:
    cleaned = redact_headers({"Authorization": "Bearer opaque-token-not-shaped-like-a-key",
                              "x-api-key": "another-opaque-value", "Cookie": "session=abcdefghijkl",
                              "Content-Type": "application/json"})
    assert cleaned == {"Authorization": "Bearer opaque-tok...-key", "x-api-key": "another-op...alue",
                       "Cookie": "session=ab...ijkl", "Content-Type": "application/json"}


def test_masking_twice_changes_nothing() -> None:
    once = redact_headers({"Authorization": f"Bearer {ADMIN}"})
    assert redact_headers(once) == once and redact(redact(KEY)) == redact(KEY)


def test_exchanges_and_findings_are_redacted_whoever_builds_them() -> None:
    # The builders of exchanges (Schemathesis failures, probes, journals) pass no secrets list: the
    # admin token of the fake auth service reached contract-report.json this way.
    register_secrets("dotenv-cloud-token-123")
    exchange = Exchange(method="POST", url=f"http://auth/api/v1/keys?t={KEY}",
                        request_headers={"Authorization": f"Bearer {ADMIN}", "X-Other": "dotenv-cloud-token-123"},
                        request_body=f'{{"api_key": "{KEY}"}}', response_headers={"Set-Cookie": "s=abcdefghijklmnop"},
                        response_body=f"token {ADMIN}", error=f"failed with {KEY}")
    finding = Finding(hop=Hop.CLIENT_TO_AUTH, operation="POST /api/v1/keys", kind=FindingKind.UNDOCUMENTED_STATUS,
                      location="status", expected=f"x {KEY}", observed=f"401 {ADMIN}",
                      recommendation="dotenv-cloud-token-123",
                      reproduction=f"curl -H 'Authorization: Bearer {ADMIN}'", exchanges=[exchange])
    dumped = finding.model_dump_json()
    for secret in (KEY, ADMIN, "dotenv-cloud-token-123", "abcdefghijklmnop"):
        assert secret not in dumped, secret
    assert exchange.request_headers["Authorization"] == f"Bearer {mask(ADMIN)}"
