"""What every probe and fault finding must carry, as suite and journal findings do (issue 23).

A contract pointer with its line, the exchange that showed it, and (from the run's fold, which
writes every finding's curl in one place) a curl that replays that exchange.
"""

from __future__ import annotations

from hokusai_contracts.domain.findings import Finding
from hokusai_contracts.report.model import Targets
from hokusai_contracts.run.fold import reproduce

TARGETS = Targets(proxy_url="http://proxy.test/api/mlflow", auth_url="http://auth.test",
                  mlflow_url="http://mlflow.test")


def assert_reproducible(finding: Finding, contract_file: str = "contracts/mlflow-proxy.yaml") -> str:
    """``finding``'s curl, once it is shown to cite ``contract_file`` and keep its exchange."""
    assert finding.contract is not None, finding
    assert finding.contract.file == contract_file, finding.contract
    assert finding.contract.pointer.startswith(("/paths/", "/components/")), finding.contract
    assert finding.contract.line, finding.contract
    assert finding.exchanges, finding
    reproduce([finding], TARGETS)
    assert finding.reproduction is not None
    command = next(line for line in finding.reproduction.split("\n") if line.startswith("curl "))
    assert f"-X {finding.exchanges[0].method}" in command, command
    return finding.reproduction
