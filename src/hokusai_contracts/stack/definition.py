"""What the local stack is made of, as data.

``plan.build_plan`` turns this definition into the parts to run; the process runner, the
compose file (generated from the plan) and the tests all read it, so ports, settings, health
rules and seeded keys cannot drift apart.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Literal

from packaging.version import InvalidVersion, Version

from hokusai_contracts.contracts import files
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.masked import masked_repr
from hokusai_contracts.settings import ArtifactStore, BackendStore, MlflowArtifacts

__all__ = ["AUTH_PROFILES", "BUCKET", "COMPOSE_PARTS", "CORE_PARTS", "DEFAULT_PORTS", "HEALTH", "HEALTH_PATHS",
           "JOURNALS", "JOURNAL_FAULTS", "MLFLOW_FAULTS", "MLFLOW_SIDE_JOURNAL", "Expect", "HealthRule", "Part",
           "StackDefinition", "journals_needed", "mlflow_api_prefix", "mlflow_side_calls_auth", "project_root"]

AUTH_PROFILES = ("contract", "production")
#: Faults the stack can put between the proxy and MLflow: ``slow``, ``error`` and ``drop`` (the
#: connection cut mid-upload or before the answer) through the journal, ``down`` by pointing the
#: proxy at a port nobody listens on.
MLFLOW_FAULTS = ("none", "slow", "error", "down", "drop")
#: The MLflow faults the journal in front of MLflow injects: every one but ``down`` (no journal needed).
JOURNAL_FAULTS = tuple(fault for fault in MLFLOW_FAULTS if fault not in ("none", "down"))


class Part(StrEnum):
    MLFLOW = "mlflow"
    AUTH = "auth"
    PROXY = "proxy"
    AUTH_JOURNAL = "auth-journal"
    MLFLOW_JOURNAL = "mlflow-journal"
    #: In front of the auth service for the MLflow side's own calls (MLFLOW_CMD's {auth_url}, the gateway).
    MLFLOW_AUTH_JOURNAL = "mlflow-auth-journal"
    #: MLflow's stores, when a run asks for production's (``stores.py``).
    POSTGRES = "postgres"
    S3 = "s3"

    def __str__(self) -> str:
        return self.value


#: The parts a compose stack runs: every one but the MLflow side's journal (MLFLOW_CMD and the
#: reference gateway run as processes only).
COMPOSE_PARTS: tuple[Part, ...] = tuple(part for part in Part if part is not Part.MLFLOW_AUTH_JOURNAL)
#: The parts every stack has (less what a definition leaves out: journals, a borrowed MLflow); the
#: stores' parts come only with BACKEND_STORE=postgresql / ARTIFACT_STORE=s3.
CORE_PARTS = (Part.MLFLOW, Part.AUTH, Part.PROXY, Part.AUTH_JOURNAL, Part.MLFLOW_JOURNAL)


#: Fixed ports for the compose stack and for ``serve`` without ``--port``; the
#: process stack picks free ports instead so that runs never collide.
DEFAULT_PORTS: dict[Part, int] = {
    Part.MLFLOW: 5000,
    Part.AUTH: 8001,
    Part.PROXY: 8080,
    Part.AUTH_JOURNAL: 8101,
    Part.MLFLOW_JOURNAL: 8102,
    Part.MLFLOW_AUTH_JOURNAL: 8103,
    Part.POSTGRES: 5432,
    Part.S3: 9000,
}
#: The bucket of ARTIFACT_STORE=s3 (production's: hokusai-mlflow-artifacts-<env>).
BUCKET = "hokusai-mlflow-artifacts"

#: Each journal, the part it fronts and the hop it records.
JOURNALS: dict[Part, tuple[Part, Hop]] = {
    Part.AUTH_JOURNAL: (Part.AUTH, Hop.PROXY_TO_AUTH),
    Part.MLFLOW_JOURNAL: (Part.MLFLOW, Hop.PROXY_TO_MLFLOW),
}
#: The journal of the MLflow side's calls to the auth service: runs only when that side is not a
#: bare ``mlflow server`` (MLFLOW_CMD, the reference gateway), which never calls the auth service.
MLFLOW_SIDE_JOURNAL: dict[Part, tuple[Part, Hop]] = {Part.MLFLOW_AUTH_JOURNAL: (Part.AUTH, Hop.MLFLOW_TO_AUTH)}


class Expect(StrEnum):
    """What a health route must answer for its part to count as started."""

    OK = "200"  # exactly 200
    ANSWER = "any HTTP answer"  # listening and speaking HTTP, whatever the status
    #: Served, though perhaps refused: a gateway in front of MLflow answers 401 to a call without a key.
    SERVED = "any answer below 500"
    LOGIN = "a PostgreSQL login"  # asks a client to authenticate: past its start-up (postgres.accepts_logins)


@dataclass(frozen=True)
class HealthRule:
    path: str  # relative to the part's base URL
    expect: Expect

    def accepts(self, status: int) -> bool:
        if self.expect is Expect.SERVED:
            return 100 <= status < 500
        return status == 200 if self.expect is Expect.OK else 100 <= status < 600


#: The one start condition per part, used by both backends (and rendered into the compose file).
#: The parts that are ours (fake auth, journals) and MLflow itself answer 200 once they can
#: serve: anything else means they are broken, and a start that waits for them says so. The proxy
#: may be anyone's, and its health route reports on its upstreams: it may answer 503 (or 502) while
#: MLflow is still starting, or because a fault run took MLflow down on purpose. Whether it then
#: says "healthy" is a finding of the preflight check, not a reason to fail the start, so the
#: proxy is up as soon as it answers its health route at all. The fake auth service is up on any
#: answer too: a run with FAKE_AUTH_FAULT=down has it answer every request with the load
#: balancer's 503 on purpose, and that run must start to be diagnosed (preflight names the part).
HEALTH: dict[Part, HealthRule] = {
    # Not /health: MLflow answers it long before its first API call has opened the store (1.8 s on
    # 3.4.0 after /health said 200, more on a busy machine), and a proxy's first call meeting that
    # wait times out (504 beyond PROXY_MLFLOW_TIMEOUT_S). Up means an API call answered.
    Part.MLFLOW: HealthRule("/api/2.0/mlflow/experiments/search?max_results=1", Expect.OK),
    Part.AUTH: HealthRule("/health", Expect.ANSWER),
    Part.PROXY: HealthRule("/api/mlflow/health/mlflow", Expect.ANSWER),
    Part.AUTH_JOURNAL: HealthRule("/__journal__/entries", Expect.OK),
    Part.MLFLOW_JOURNAL: HealthRule("/__journal__/entries", Expect.OK),
    Part.MLFLOW_AUTH_JOURNAL: HealthRule("/__journal__/entries", Expect.OK),
    Part.POSTGRES: HealthRule("", Expect.LOGIN),
    # The bucket, not the server: MLflow must find somewhere to write once it is up.
    Part.S3: HealthRule(f"/{BUCKET}", Expect.OK),
}
#: Where each part answers its health check, relative to its base URL.
HEALTH_PATHS: dict[Part, str] = {part: rule.path for part, rule in HEALTH.items()}


def project_root() -> Path:
    """The checkout this package runs from (contracts/ and mocks/ live there)."""
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class StackDefinition:
    host: str = "127.0.0.1"
    service_id: str = "platform"
    auth_profile: Literal["contract", "production"] = "production"
    proxy_mount: str = "/api/mlflow"
    # The key the scenario authenticates with: the fixture's entry of this name.
    scenario_key_name: str = "primary"
    seed_file: Path = field(default_factory=files.seed_file)
    admin_token: str = field(default_factory=lambda: "adm_" + secrets.token_urlsafe(24))
    # A start that takes longer than this is a failed start, with the log tail shown.
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 5.0
    # The proxy's settings the stack sets (PROXY_CMD proxies get them as environment). The reference
    # proxy reads these two: short upstream timeouts make fault checks end in seconds, not minutes.
    proxy_env: dict[str, str] = field(default_factory=lambda: {"PROXY_AUTH_TIMEOUT_S": "2",
                                                               "PROXY_MLFLOW_TIMEOUT_S": "3"})
    #: The MLflow server's version (``MLFLOW_VERSION``): None runs the pinned one from the project's
    #: own environment; another runs from its cached environment (``mlflow_env``) or, with docker,
    #: as the official image of that version.
    mlflow_version: str | None = None
    #: MLflow's stores (BACKEND_STORE, ARTIFACT_STORE, MLFLOW_ARTIFACTS): see ``settings.LocalSettings``.
    backend_store: BackendStore = "sqlite"
    artifact_store: ArtifactStore = "local"
    mlflow_artifacts: MlflowArtifacts = "proxied"
    with_journals: bool = True
    #: Another stack's MLflow to use instead of starting one (the faults' own stack, ``run.faults``):
    #: the journal in front of MLflow forwards there, and killing MLflow stops only that journal.
    mlflow_url: str | None = None
    mlflow_fault: str = "none"
    # Longer than the proxy timeouts above, so that "slow" is slow beyond the proxy's patience.
    fault_delay_s: float = 6.0
    #: MLFLOW_CMD: a command run in the MLflow part's place (``plan.MLFLOW_CMD_PLACEHOLDERS``).
    mlflow_cmd: str | None = None
    #: MLFLOW_PREFIX: the path MLflow serves under, its ``--static-prefix`` (production: ``/mlflow``); "" for none.
    #: Where its REST API is depends on the version: ``mlflow_api_prefix``.
    mlflow_prefix: str = ""
    #: MLFLOW_PACKAGES: pip requirements added to the MLflow version's environment.
    mlflow_packages: tuple[str, ...] = ()
    #: The reference admin gateway (``hokusai_mocks.admin_gateway``) in front of MLflow: it validates
    #: every caller's key with the auth service again, as production's does (PROFILE=production).
    mlflow_gateway: bool = False
    __repr__ = masked_repr()

    @property
    def mlflow_api_prefix(self) -> str:
        """Where this stack's MLflow serves its REST API: ``mlflow_prefix`` or, before MLflow 3.12, the root."""
        return mlflow_api_prefix(self.mlflow_prefix, self.mlflow_version)  # the admin token masked


#: MLflow's server puts its REST API (``/api/2.0/...``) under ``--static-prefix`` from 3.12 on (mlflow#22159).
#: Before, only its UI, ``ajax-api`` and health move there and the REST API stays at the root (measured
#: on 3.9.0, production's: ``/mlflow/api/2.0/...`` answers 404, ``/api/2.0/...`` 200).
REST_API_PREFIXED_SINCE = Version("3.12")


def mlflow_api_prefix(static_prefix: str, mlflow_version: str | None) -> str:
    """The path MLflow's REST API is under, for MLflow ``mlflow_version`` (None: the installed one) serving
    under ``static_prefix``: what a client's tracking URI (and so the proxy's ``{mlflow_url}``) must end with."""
    if not static_prefix:
        return ""
    try:
        server = Version(mlflow_version or installed_version("mlflow"))
    except InvalidVersion:
        return static_prefix
    return static_prefix if server >= REST_API_PREFIXED_SINCE else ""


def mlflow_side_calls_auth(definition: StackDefinition) -> bool:
    """The MLflow side is more than a bare ``mlflow server``: its calls to the auth service get a journal."""
    return (definition.mlflow_cmd is not None or definition.mlflow_gateway) and definition.mlflow_url is None


def journals_needed(definition: StackDefinition) -> bool:
    """Journals run when asked for, and when one carries the MLflow fault."""
    return definition.with_journals or definition.mlflow_fault in JOURNAL_FAULTS
