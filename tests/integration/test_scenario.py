"""The registration scenario end to end: real MLflow server, fake auth, reference proxy."""

from __future__ import annotations

import pytest

from hokusai_contracts.checks.scenario import ModelKind, run_registration
from hokusai_contracts.stack.processes import ProcessStack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", list(ModelKind))
def test_each_model_kind_registers_through_the_proxy(hokusai_stack: ProcessStack, kind: ModelKind) -> None:
    endpoints = hokusai_stack.endpoints
    assert endpoints is not None
    lines: list[str] = []
    result = run_registration(endpoints.proxy_url, endpoints.api_key, model_kind=kind,
                              health_url=endpoints.proxy_url + "/health/mlflow", out=lines.append)
    assert result.ok, lines
    assert result.version == "1"
    assert lines[0].startswith("✓ API Key: hk_live_") and "..." in lines[0]
    assert lines[-1] == "✅ SUCCESS: Third-party model registration completed!"
    assert endpoints.api_key not in "\n".join(lines)


def test_an_invalid_key_fails_at_the_connect_step(hokusai_stack: ProcessStack) -> None:
    endpoints = hokusai_stack.endpoints
    assert endpoints is not None
    lines: list[str] = []
    unknown = "hk_live_" + "0" * 32
    result = run_registration(endpoints.proxy_url, unknown, out=lines.append)
    assert not result.ok
    assert result.failed_step is not None and result.failed_step.name == "connect"
    assert lines[-1].startswith("❌ FAILED at step 'connect'")
    assert unknown not in "\n".join(lines)


def test_the_proxy_registers_against_the_contract_profile_too() -> None:
    from hokusai_contracts.stack.definition import StackDefinition
    from hokusai_contracts.stack.processes import running_stack

    with running_stack(StackDefinition(auth_profile="contract", with_journals=False)) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        ok = run_registration(endpoints.proxy_url, endpoints.api_key, out=lambda line: None)
        refused = run_registration(endpoints.proxy_url, endpoints.keys["revoked"]["key"], out=lambda line: None)
    assert ok.ok
    assert refused.failed_step is not None and refused.failed_step.name == "connect"
    assert "UNAUTHENTICATED" in refused.failed_step.detail
