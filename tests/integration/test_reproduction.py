"""Issue 16: the curl of a hop finding, run with bash against the stack's receiver, answers what was observed."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from hokusai_contracts import Finding, FindingKind, Hop
from hokusai_contracts.domain.redact import forget_secrets, register_secrets
from hokusai_contracts.journal.lines import read_journal
from hokusai_contracts.report.model import Targets
from hokusai_contracts.run.fold import reproduce
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import running_stack

pytestmark = [pytest.mark.integration, pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")]


def test_a_proxy_to_auth_curl_replays_against_the_auth_service() -> None:
    forget_secrets()
    with running_stack(StackDefinition()) as stack:
        endpoints = stack.endpoints
        assert endpoints is not None and endpoints.auth_journal is not None
        register_secrets(endpoints.api_key, endpoints.admin_token)
        answer = httpx.get(endpoints.proxy_url + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=30,
                           headers={"Authorization": f"Bearer {endpoints.api_key}"})
        assert answer.status_code == 200
        entries = [e for e in read_journal(endpoints.auth_journal) if e.path == "/api/v1/keys/validate"]
        assert entries
        findings = [Finding(hop=Hop.PROXY_TO_AUTH, operation="POST /api/v1/keys/validate",
                            kind=FindingKind.UNDOCUMENTED_STATUS, location="status", expected="e",
                            observed=str(entry.status), recommendation="r", exchanges=[entry.evidence()])
                    for entry in entries]
        reproduce(findings, Targets(auth_url=endpoints.auth_url, proxy_url=endpoints.proxy_url))
        for finding, entry in zip(findings, entries, strict=True):
            curl = finding.reproduction
            assert curl and "$HOKUSAI_API_KEY" in curl and endpoints.api_key not in curl and "..." not in curl
            done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30,
                                  env={"PATH": "/usr/bin:/bin", "HOKUSAI_API_KEY": endpoints.api_key,
                                       "HOKUSAI_ADMIN_TOKEN": endpoints.admin_token})
            status_line = done.stdout.splitlines()[0] if done.stdout else done.stderr
            assert status_line.split()[1] == str(entry.status), (curl, done.stdout[:500])
    forget_secrets()
