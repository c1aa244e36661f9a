"""The curl of an exchange: replayable (credentials as environment references), quoted, bodies bounded."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator

import pytest

from hokusai_contracts import Exchange
from hokusai_contracts.domain.redact import forget_secrets, register_secrets
from hokusai_contracts.domain.reproduction import INLINE_BODY_LIMIT, curl_for, curl_of_exchanges

KEY = "hk_live_" + "A1b2" * 8
ADMIN = "adm_" + "Zz9_" * 6


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    forget_secrets()
    register_secrets(KEY, ADMIN)
    yield
    forget_secrets()


def _argv(command: str, env: dict[str, str]) -> list[str]:
    """What bash makes of the command: the words curl would get."""
    script = f"for w in {command.split(' ', 1)[1]}; do printf '%s\\0' \"$w\"; done"
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split("\0")[:-1]


def test_the_key_becomes_an_environment_reference_in_headers_and_bodies() -> None:
    exchange = Exchange(method="POST", url="/api/v1/keys/validate",
                        request_headers={"Authorization": f"Bearer {ADMIN}", "Host": "x", "X-Note": "it's $HOME"},
                        request_body=f'{{"api_key": "{KEY}", "service_id": "mlflow"}}')
    curl = curl_for(exchange, "http://127.0.0.1:9/")
    assert KEY not in curl and ADMIN not in curl and "..." not in curl
    assert '"$HOKUSAI_ADMIN_TOKEN"' in curl and '"$HOKUSAI_API_KEY"' in curl
    words = _argv(curl, {"HOKUSAI_API_KEY": KEY, "HOKUSAI_ADMIN_TOKEN": ADMIN})
    assert words[words.index("--data-binary") + 1] == f'{{"api_key": "{KEY}", "service_id": "mlflow"}}'
    assert f"Authorization: Bearer {ADMIN}" in words
    assert "X-Note: it's $HOME" in words  # quoted: nothing else expands
    assert "Host: x" not in words
    assert words[-1] == "http://127.0.0.1:9/api/v1/keys/validate"


def test_a_wrong_key_stays_as_it_was_since_any_wrong_key_replays_the_refusal() -> None:
    curl = curl_for(Exchange(method="GET", url="http://p/x", request_headers={"Authorization": "Bearer hk_live_" +
                                                                               "Q" * 32}))
    assert "$HOKUSAI_API_KEY" not in curl and "hk_live_QQ...QQQQ" in curl


def test_a_large_body_is_a_comment_with_its_size_and_digest() -> None:
    curl = curl_for(Exchange(method="PUT", url="http://p/a", request_body="x" * (INLINE_BODY_LIMIT + 1)))
    first, command = curl.split("\n")
    assert first.startswith(f"# the request body was {INLINE_BODY_LIMIT + 1} bytes (sha256 ")
    assert "--data-binary" not in command and shlex.split(command)[0] == "curl"


def test_the_clients_request_follows_a_hop_request() -> None:
    hop = Exchange(method="POST", url="/api/v1/keys/validate")
    client = Exchange(method="GET", url="/api/2.0/mlflow/experiments/search")
    text = curl_of_exchanges([hop, client], "http://auth", cause_base_url="http://proxy")
    assert text is not None
    assert text.splitlines()[0].endswith("http://auth/api/v1/keys/validate")
    assert "# caused by this request:" in text and text.endswith("http://proxy/api/2.0/mlflow/experiments/search")


def test_a_curl_written_elsewhere_gets_environment_references_too() -> None:
    from hokusai_contracts.domain.redact import mask
    from hokusai_contracts.domain.reproduction import with_env_references

    written = f"curl -X GET -H 'Authorization: Bearer {mask(KEY)}' 'http://p/x?a=1&b=2'"
    fixed = with_env_references(written)
    assert "..." not in fixed
    words = _argv(fixed, {"HOKUSAI_API_KEY": KEY})
    assert words == ["-X", "GET", "-H", f"Authorization: Bearer {KEY}", "http://p/x?a=1&b=2"]
