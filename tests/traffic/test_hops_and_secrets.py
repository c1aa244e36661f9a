"""Which hop an exchange crossed, and secrets in captures: refused, masked, placeholders both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.redact import forget_secrets, mask, register_secrets
from hokusai_contracts.traffic.hops import HopRules, hop_file_name, hop_of_file
from hokusai_contracts.traffic.records import as_judged
from hokusai_contracts.traffic.secrets import (
    OTHER_PLACEHOLDER,
    PLACEHOLDER,
    STAND_IN,
    header_to_placeholder,
    secrets_in,
    to_placeholders,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "hk_live_" + "a1B2c3D4" * 4


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture(scope="module")
def rules() -> HopRules:
    load = lambda name: Contract.load(ROOT / "contracts" / name, root=ROOT)  # noqa: E731
    return HopRules(load("auth-service.yaml"), load("mlflow.yaml"), load("mlflow-proxy.yaml"))


@pytest.mark.parametrize(("method", "url", "hop"), [
    ("GET", "https://registry.hokus.ai/api/mlflow/api/2.0/mlflow/experiments/get?x=1", Hop.CLIENT_TO_PROXY),
    ("GET", "/api/mlflow/health/mlflow", Hop.CLIENT_TO_PROXY),
    ("POST", "http://10.0.0.5:8001/api/v1/keys/validate", Hop.PROXY_TO_AUTH),
    ("GET", "http://auth.internal/health", Hop.PROXY_TO_AUTH),
    ("GET", "http://mlflow.internal/health", Hop.PROXY_TO_MLFLOW),
    ("POST", "/api/2.0/mlflow/runs/create", Hop.PROXY_TO_MLFLOW),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/model.pkl", Hop.PROXY_TO_MLFLOW),
    ("GET", "http://example.com/index.html", None),
    ("GET", "http://example.com/", None),
    ("GET", "http://10.0.0.5/health", None),
])
def test_the_hop_is_inferred_from_host_and_path(rules: HopRules, method: str, url: str, hop: Hop | None) -> None:
    assert rules.mount == "/api/mlflow"
    assert rules.hop_of(method, url) is hop


def test_hop_file_names_both_ways() -> None:
    assert hop_file_name(Hop.PROXY_TO_AUTH) == "proxy-auth"
    assert hop_of_file(Path("x/proxy-auth.har")) is Hop.PROXY_TO_AUTH
    assert hop_of_file(Path("client-proxy.ndjson")) is Hop.CLIENT_TO_PROXY
    assert hop_of_file(Path("capture.har")) is None


def test_whole_keys_and_bearer_tokens_are_secrets_masked_ones_and_placeholders_are_not() -> None:
    texts = [f"api_key={KEY}", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc", f"Bearer {mask(KEY)}",
             f"Bearer {PLACEHOLDER}", "Bearer short"]
    assert secrets_in(texts) == [KEY, "eyJhbGciOiJIUzI1NiJ9.abc"]


def test_the_runs_key_and_any_other_become_placeholders() -> None:
    other = "hk_test_" + "Z9y8X7w6" * 4
    register_secrets(KEY, other)
    assert to_placeholders(f'{{"api_key": "{KEY}", "old": "{mask(other)}"}}', KEY) == (
        f'{{"api_key": "{PLACEHOLDER}", "old": "{OTHER_PLACEHOLDER}"}}')
    assert to_placeholders(f"key={mask(KEY)}", KEY) == f"key={PLACEHOLDER}"
    assert header_to_placeholder("Authorization", f"Bearer {KEY}", KEY) == f"Bearer {PLACEHOLDER}"
    assert header_to_placeholder("Authorization", "Bearer adm_" + "x" * 32, KEY) == f"Bearer {OTHER_PLACEHOLDER}"
    assert header_to_placeholder("X-API-Key", "opaque-value", KEY) == OTHER_PLACEHOLDER
    assert header_to_placeholder("Accept", "*/*", KEY) == "*/*"


def test_a_placeholder_is_judged_as_a_masked_key() -> None:
    item = HttpExchange(seq=1, method="post", path="/api/v1/keys/validate",
                        request_headers={"Authorization": f"Bearer {PLACEHOLDER}"})
    entry = as_judged(item, Hop.PROXY_TO_AUTH)
    assert entry.method == "POST" and entry.request_headers["Authorization"] == f"Bearer {STAND_IN}"
