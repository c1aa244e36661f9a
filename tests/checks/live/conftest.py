"""Live probes whose client is mocked at httpx's transport by respx (no gate: the checks' own logic)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.stack.definition import project_root

from .targets import AUTH, KEY, MLFLOW, PROXY


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """Routes a test adds; a request no route matches fails the test (respx's assert_all_mocked)."""
    with respx.mock(assert_all_called=False) as mocked:
        yield mocked


@pytest.fixture
def probes(router: respx.MockRouter) -> Iterator[LiveProbes]:
    root = project_root()
    contracts = {name: Contract.load(root / "contracts" / name, root=root)
                 for name in ("auth-service.yaml", "mlflow.yaml", "mlflow-proxy.yaml")}
    with httpx.Client() as client:
        yield LiveProbes(client=client, proxy_url=PROXY, auth_url=AUTH, mlflow_url=MLFLOW, api_key=KEY,
                         auth_contract=contracts["auth-service.yaml"], proxy_contract=contracts["mlflow-proxy.yaml"],
                         mlflow_contract=contracts["mlflow.yaml"], out=lambda line: None)
