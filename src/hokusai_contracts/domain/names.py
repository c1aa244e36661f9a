"""The names a run shares across modules: suites and phases, as enums.

A suite groups checks in the report (``CheckRecord.suite``, a JUnit testsuite); a phase is one
step of a run (a timing in the report). Both were strings repeated in several lists; one enum
each keeps the spelling in one place, and the values are what the report has always shown.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEFAULT_LOCAL_SUITES", "LIVE_SCHEMATHESIS_SUITES", "SCHEMATHESIS_SUITES", "PhaseName", "Suite"]


class Suite(StrEnum):
    """The suite a check (and the findings it made) belongs to."""

    # Both runs
    SCENARIO = "scenario"
    VERIFY_PROXY = "verify-proxy"
    AUTH_SERVICE = "auth-service"  # the Schemathesis suite (local) and the key checks (live)
    MLFLOW_DIRECT = "mlflow-direct"
    PROXY = "proxy"
    SUITES = "suites"  # the Schemathesis suites as a whole, when they are skipped
    # Local run
    STATEFUL = "stateful"
    HOP_JOURNAL = "hop-journal"
    LARGE_ARTIFACT = "large-artifact"
    CONCURRENCY = "concurrency"
    FAULTS = "faults"
    # Live run
    BEARER_AUTH = "bearer-auth"
    INVESTIGATE = "investigate"
    PERFORMANCE = "performance"
    CLEANUP = "cleanup"
    LIVE_SAFETY = "live-safety"
    # Spec check
    SPEC_DIFF = "spec-diff"
    SPEC_DYNAMIC = "spec-dynamic"

    def __str__(self) -> str:
        return self.value


#: The Schemathesis suites (pytest modules) a local run can run, in the order they run.
SCHEMATHESIS_SUITES: tuple[Suite, ...] = (Suite.AUTH_SERVICE, Suite.MLFLOW_DIRECT, Suite.PROXY, Suite.STATEFUL)
#: Those ``make contract-local`` runs unless told (``--suites``): MLflow itself (mlflow-direct) is
#: fuzzed by ``FULL=1`` or when the server runs a version whose contracts nobody reviewed. Of a
#: reviewed version its answers are a known, recorded property of the server, not of the proxy under
#: test, and the proxy suite's differential reads ask MLflow the same questions every case.
DEFAULT_LOCAL_SUITES: tuple[Suite, ...] = (Suite.AUTH_SERVICE, Suite.PROXY, Suite.STATEFUL)
#: Those a live run may use: the stateful one creates resources.
LIVE_SCHEMATHESIS_SUITES: tuple[Suite, ...] = (Suite.AUTH_SERVICE, Suite.MLFLOW_DIRECT, Suite.PROXY)


class PhaseName(StrEnum):
    """One step of a run; the value is the phase's key in the report's ``timings``."""

    # Local run (and the spec check's dynamic part)
    STACK = "stack"
    PREFLIGHT = "preflight"
    SCENARIO = "scenario"
    CREDENTIALS = "credentials"
    LARGE_ARTIFACT = "large_artifact"
    CONCURRENCY = "concurrency"
    SUITES = "suites"
    HOP_JOURNALS = "hop_journals"
    FAULTS = "faults"
    #: The scenario with each MLFLOW_CLIENTS version, and the REST differences older clients meet.
    CLIENTS = "clients"
    MLFLOW_DIFF = "mlflow_diff"
    #: REPLAY=: a recording's client->proxy exchanges sent again to the local stack.
    REPLAY = "replay"
    # Live run
    VERIFY_PROXY = "verify-proxy"
    AUTH_SERVICE = "auth-service"
    BEARER_AUTH = "bearer-auth"
    INVESTIGATE = "investigate"
    PERFORMANCE = "performance"
    CLEANUP = "cleanup"
    GATE = "gate"
    # Spec check
    SPEC_DIFF = "spec_diff"
    SPEC_DYNAMIC = "spec_dynamic"

    def __str__(self) -> str:
        return self.value
