import pytest

from hokusai_contracts import mask, redact
from hokusai_contracts.domain.redact import redact_obj

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
