"""Where the faults run (``run.faults``): on a stack of their own beside the suites, else on the run's."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import httpx
import pytest

from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.run.faults import FaultsPlace
from hokusai_contracts.run.inputs import load_inputs
from hokusai_contracts.settings import UpstreamTimeouts
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_faults_break_a_stack_of_their_own_and_never_the_runs(tmp_path: Path) -> None:
    definition = StackDefinition()
    with running_stack(definition) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None and endpoints.mlflow_journal is not None
        before = len(read_journal(endpoints.mlflow_journal))
        place = FaultsPlace(stack, endpoints, definition, None, definition.fault_delay_s,
                            UpstreamTimeouts.from_env(definition.proxy_env), logs=tmp_path / "logs",
                            contract=load_inputs().proxy)
        place.prepare()
        place.start_beside()
        lines: list[str] = []
        result = place.result(lines.append)
        place.close()
        assert [c.status.value for c in result.checks] == ["passed"] * 7 and not result.warnings
        assert not any(c.findings for c in result.checks), [c.message for c in result.checks]
        assert "faults.beside_suites" in result.timings and any("MLflow unreachable" in line for line in lines)
        # "MLflow unreachable" and "auth unreachable" stopped parts of the faults' stack only.
        for url in (endpoints.mlflow_url + "/health", endpoints.auth_url + "/health",
                    endpoints.proxy_url + "/health/mlflow"):
            assert httpx.get(url, timeout=10).status_code == 200, url
        # Their traffic is the run's recorded traffic too.
        assert len(read_journal(endpoints.mlflow_journal)) > before
        assert (tmp_path / "logs" / "proxy.log").exists()


def test_a_proxy_that_cannot_run_twice_has_its_faults_after_the_suites(tmp_path: Path) -> None:
    lock = tmp_path / "one-instance"
    once = f"mkdir {shlex.quote(str(lock))} && exec {shlex.quote(sys.executable)} -m hokusai_mocks.reference_proxy"
    definition = StackDefinition()
    with running_stack(definition, once) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None
        place = FaultsPlace(stack, endpoints, definition, once, definition.fault_delay_s,
                            UpstreamTimeouts.from_env(definition.proxy_env), contract=load_inputs().proxy)
        place.prepare()
        place.start_beside()
        result = place.result(lambda line: None)
        place.close()
    assert len(result.checks) == 7 and "faults.beside_suites" not in result.timings
    assert result.warnings and "their own stack did not start" in result.warnings[0]
