"""The auth service against its own contract (``contracts/auth-service.yaml``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis import Case

from hokusai_contracts.checks.suites.context import load_context
from hokusai_contracts.checks.suites.recorder import Recorder
from hokusai_contracts.checks.suites.schemas import load_schema
from hokusai_contracts.domain.names import Suite

context = load_context()
schema = load_schema(context, "auth-service.yaml", context.auth_url,
                     bearer={"AuthServiceAuth": context.admin_token} if context.admin_token else None)

pytestmark = pytest.mark.suite(Suite.AUTH_SERVICE)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the recorder spans all examples
def test_auth_service(case: Case[Any], recorder: Recorder) -> None:
    recorder.call(case, context.auth_url)
