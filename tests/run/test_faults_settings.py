"""The faults' own stack is started with the proxy settings the run chose for it (``run.faults.ProxySettings``)."""

from __future__ import annotations

from hokusai_contracts.run.faults import FaultsPlace, ProxySettings
from hokusai_contracts.run.inputs import load_inputs
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.health import StackEndpoints
from hokusai_contracts.stack.processes import ProcessStack

RUN_ENV = {"PROXY_AUTH_TIMEOUT_S": "2", "PROXY_MLFLOW_TIMEOUT_S": "30"}


def _place(own: ProxySettings | None) -> FaultsPlace:
    definition = StackDefinition(proxy_env=RUN_ENV, mlflow_prefix="/mlflow")
    endpoints = StackEndpoints(mlflow_url="http://127.0.0.1:5000/mlflow", auth_url="http://127.0.0.1:8001",
                               proxy_root="http://127.0.0.1:8000", proxy_url="http://127.0.0.1:8000/api/mlflow",
                               api_key="hk_live_" + "f" * 28 + "AULT", admin_token="adm_x", keys={},
                               service_id="platform", mlflow_prefix="/mlflow")
    return FaultsPlace(ProcessStack(definition), endpoints, definition, None, 6.0, UpstreamTimeouts.from_env(RUN_ENV),
                       contract=load_inputs().proxy, own=own)


def test_the_faults_own_proxy_gets_its_own_settings_in_front_of_the_runs_mlflow() -> None:
    own = ProxySettings({**RUN_ENV, "PROXY_MLFLOW_TIMEOUT_S": "10"}, UpstreamTimeouts(auth=2, mlflow=10))
    place = _place(own)
    definition = place.own_definition()
    assert definition.proxy_env["PROXY_MLFLOW_TIMEOUT_S"] == "10" and place.own.timeouts.mlflow == 10
    assert definition.mlflow_url == "http://127.0.0.1:5000"  # the root: the prefix is added where the proxy points
    # The run's stack keeps its own.
    assert place.definition.proxy_env["PROXY_MLFLOW_TIMEOUT_S"] == "30" and place.timeouts.mlflow == 30


def test_without_settings_of_their_own_the_faults_proxy_is_the_runs() -> None:
    place = _place(None)
    assert place.own_definition().proxy_env == RUN_ENV and place.own.timeouts == place.timeouts
