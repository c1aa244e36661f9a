"""The stack as a plan of parts: what each runs, with which environment, on which port, healthy when.

``build_plan`` is the one place that knows how the parts are wired together. Where they run is a
``Site``: the process runner's site resolves every name to loopback URLs, free ports and files in
its temporary directory; the compose site (``compose_render``) to service names, the fixed ports
and the container's mounts, with the run's choices as ``${HOKUSAI_*}`` variables. The process
runner executes the plan it gets; the compose file is this plan rendered, so both backends start
the same parts with the same settings and wait for them by the same health rules.

Secrets (the admin token, seeded keys) only ever go into a part's environment, never its argv:
``ps`` and ``/proc/<pid>/cmdline`` show argv to every user of the machine.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts import files
from hokusai_contracts.stack.definition import (
    HEALTH,
    JOURNAL_FAULTS,
    JOURNALS,
    MLFLOW_SIDE_JOURNAL,
    Expect,
    HealthRule,
    Part,
    StackDefinition,
    journals_needed,
    mlflow_side_calls_auth,
)

__all__ = ["MLFLOW_CMD_PLACEHOLDERS", "PROXY_CMD_PLACEHOLDERS", "PartPlan", "Site", "StackPlan", "build_plan",
           "check_mlflow_cmd", "check_proxy_cmd"]

#: What a PROXY_CMD may name, with a sample value of the type it gets (for the check before any start).
PROXY_CMD_PLACEHOLDERS: dict[str, object] = {"port": 8080, "auth_url": "http://127.0.0.1:8001",
                                             "mlflow_url": "http://127.0.0.1:5000", "host": "127.0.0.1",
                                             "service_id": "platform"}
#: What an MLFLOW_CMD may name ({auth_url} is the journal in front of the auth service, hop mlflow->auth).
MLFLOW_CMD_PLACEHOLDERS: dict[str, object] = {"port": 5000, "backend_store_uri": "sqlite:///mlflow.db",
                                              "default_artifact_root": "mlflow-artifacts:/",
                                              "artifacts_destination": "/tmp/artifacts",
                                              "auth_url": "http://127.0.0.1:8103", "mlflow_python": "python"}


@dataclass(frozen=True)
class PartPlan:
    part: Part
    argv: tuple[str, ...]
    env: Mapping[str, str]
    port: int  # where it listens, as its site sees it
    health: HealthRule
    #: Parts that must be healthy before this one starts.
    needs: tuple[Part, ...] = ()
    #: argv is one shell command line (a user's PROXY_CMD).
    shell: bool = False
    #: The account it runs as (PostgreSQL refuses root); None: the runner's.
    user: str | None = None


@dataclass(frozen=True)
class StackPlan:
    parts: dict[Part, PartPlan]

    def startable(self, started: set[Part], healthy: set[Part]) -> list[PartPlan]:
        """Parts not yet started whose every dependency is healthy."""
        return [p for p in self.parts.values() if p.part not in started and set(p.needs) <= healthy]


@dataclass
class Site:
    """Where the parts of a plan run, and how they name each other.

    ``value`` and ``secret`` let a site keep a definition's choices out of what it renders (the
    compose site turns them into variables); here they are the values themselves.
    """

    python: str
    mlflow: str
    bind_host: str
    ports: Mapping[Part, int]
    hosts: Mapping[Part, str]  # the address other parts reach each part at
    run_dir: str  # where the journals and the fake auth's state file go
    seed_file: str
    unreachable_url: str  # where the proxy is sent when MLflow is "down": nobody listens there
    mlflow_stores: tuple[str, str] = ("", "")  # backend store URI, artifacts destination
    mlflow_env: Mapping[str, str] = field(default_factory=dict)
    #: The Python of the MLflow version's environment (MLFLOW_CMD's {mlflow_python}).
    mlflow_python: str = ""
    #: What MLflow hands clients as the default artifact root ({default_artifact_root}).
    default_artifact_root: str = "mlflow-artifacts:/"

    def url(self, part: Part) -> str:
        return f"http://{self.hosts[part]}:{self.ports[part]}"

    def value(self, name: str, value: str) -> str:
        return value

    def secret(self, name: str, value: str) -> str:
        return value

    def auth_env(self, definition: StackDefinition) -> dict[str, str]:
        """Extra environment of the fake auth service (the compose site seeds a key of its own)."""
        return {}

    def store_parts(self, definition: StackDefinition) -> dict[Part, PartPlan]:
        """The parts of MLflow's stores that run beside it (the process site's ``stores.store_parts``)."""
        return {}

    def mlflow_store_env(self, definition: StackDefinition) -> dict[str, str]:
        """MLflow's environment for its stores: here ``mlflow_stores`` as they are."""
        backend, artifacts = self.mlflow_stores
        return {"MLFLOW_BACKEND_STORE_URI": self.value("HOKUSAI_MLFLOW_BACKEND_STORE_URI", backend),
                "MLFLOW_ARTIFACTS_DESTINATION": self.value("HOKUSAI_MLFLOW_ARTIFACTS_DESTINATION", artifacts)}

    @property
    def state_file(self) -> str:
        return f"{self.run_dir}/state/auth-state.json"

    def journal_file(self, journal: Part) -> str:
        return f"{self.run_dir}/journals/{journal.value}.jsonl"


def check_proxy_cmd(proxy_cmd: str | None) -> None:
    """A UsageError now, before anything starts, for a PROXY_CMD that would not format."""
    _check_template(proxy_cmd, "PROXY_CMD", PROXY_CMD_PLACEHOLDERS)


def check_mlflow_cmd(mlflow_cmd: str | None) -> None:
    """A UsageError now, before anything starts, for an MLFLOW_CMD that would not format."""
    _check_template(mlflow_cmd, "MLFLOW_CMD", MLFLOW_CMD_PLACEHOLDERS)


def _check_template(command: str | None, setting: str, placeholders: Mapping[str, object]) -> None:
    if command is None:
        return
    known = ", ".join("{" + name + "}" for name in placeholders)
    hint = f"{setting} may use {known}; write {{{{ and }}}} for literal braces"
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(command) if name is not None]
        unknown = sorted({name for name in names if name not in placeholders})
        if unknown:
            shown = ", ".join("{" + name + "}" if name else "{}" for name in unknown)
            raise UsageError(f"{setting} has an unknown placeholder {shown}; {hint}")
        command.format(**placeholders)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise UsageError(f"{setting} is not a valid command template ({exc}); {hint}") from None


def build_plan(definition: StackDefinition, site: Site, proxy_cmd: str | None = None) -> StackPlan:
    d, url, port = definition, site.url, site.ports
    journals = journals_needed(d)
    delay = site.value("HOKUSAI_FAULT_DELAY_S", f"{d.fault_delay_s:g}")
    parts: dict[Part, PartPlan] = {}

    if d.mlflow_url is None:
        stores = site.store_parts(d)
        parts |= stores
        parts[Part.MLFLOW] = _mlflow_part(d, site, url(Part.MLFLOW_AUTH_JOURNAL) if journals else url(Part.AUTH),
                                          needs=tuple(stores))
    upstreams = {Part.AUTH: url(Part.AUTH), Part.MLFLOW: d.mlflow_url or url(Part.MLFLOW)}
    parts[Part.AUTH] = PartPlan(
        Part.AUTH, (site.python, "-m", "hokusai_mocks.fake_auth", "--host", site.bind_host,
                    "--port", str(port[Part.AUTH]), "--seed", site.seed_file,
                    "--profile", site.value("HOKUSAI_AUTH_PROFILE", d.auth_profile), "--state-file", site.state_file,
                    # SEED=path: the probes' keys (expired, revoked...) follow its primary key's scopes.
                    *(("--probe-keys-from-primary",) if d.seed_file != files.seed_file() else ())),
        {"FAKE_AUTH_ADMIN_TOKEN": site.secret("HOKUSAI_ADMIN_TOKEN", d.admin_token), **site.auth_env(d)},
        port[Part.AUTH], HEALTH[Part.AUTH])

    auth_target, mlflow_target = upstreams[Part.AUTH], upstreams[Part.MLFLOW]
    if journals:
        side = MLFLOW_SIDE_JOURNAL if mlflow_side_calls_auth(d) else {}
        for journal, (upstream, hop) in {**JOURNALS, **side}.items():
            fault = "none"
            if journal is Part.MLFLOW_JOURNAL:
                fault = site.value("HOKUSAI_MLFLOW_JOURNAL_FAULT",
                                   d.mlflow_fault if d.mlflow_fault in JOURNAL_FAULTS else "none")
            parts[journal] = PartPlan(
                journal, (site.python, "-m", "hokusai_contracts.journal.recording", "--upstream", upstreams[upstream],
                          "--hop", hop.value, "--out", site.journal_file(journal), "--host", site.bind_host,
                          "--port", str(port[journal]), "--fault", fault, "--fault-delay", delay),
                {}, port[journal], HEALTH[journal])
        auth_target, mlflow_target = url(Part.AUTH_JOURNAL), url(Part.MLFLOW_JOURNAL)
    if d.mlflow_fault == "down":
        mlflow_target = site.unreachable_url

    env = {
        "HOST": site.bind_host, "PORT": str(port[Part.PROXY]),
        "HOKUSAI_AUTH_SERVICE_URL": site.value("HOKUSAI_PROXY_AUTH_URL", auth_target),
        "MLFLOW_SERVER_URL": site.value("HOKUSAI_PROXY_MLFLOW_URL", mlflow_target + d.mlflow_api_prefix),
        "AUTH_SERVICE_ID": site.value("HOKUSAI_SERVICE_ID", d.service_id), **d.proxy_env,
    }
    # A proxy may look at its upstreams when it starts: it starts once the auth service (and the
    # journals it talks through) answer. MLflow is not waited for: it takes seconds, and a proxy
    # must cope with a slow upstream anyway.
    needs = (Part.AUTH, *JOURNALS) if journals else (Part.AUTH,)
    if proxy_cmd is None:
        # Configured by environment only, like any user's proxy (and the compose image's default).
        argv: tuple[str, ...] = (site.python, "-m", "hokusai_mocks.reference_proxy")
    else:
        check_proxy_cmd(proxy_cmd)
        argv = (proxy_cmd.format(port=port[Part.PROXY], auth_url=env["HOKUSAI_AUTH_SERVICE_URL"],
                                 mlflow_url=env["MLFLOW_SERVER_URL"], host=site.bind_host, service_id=d.service_id),)
    parts[Part.PROXY] = PartPlan(Part.PROXY, argv, env, port[Part.PROXY], HEALTH[Part.PROXY], needs,
                                 shell=proxy_cmd is not None)
    return StackPlan(parts)


def _mlflow_part(d: StackDefinition, site: Site, auth_url: str, needs: tuple[Part, ...] = ()) -> PartPlan:
    """MLflow as ``mlflow server``, behind the reference gateway, or as the user's MLFLOW_CMD."""
    port = site.ports[Part.MLFLOW]
    env = {**site.mlflow_store_env(d), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **site.mlflow_env}
    prefix = ("--static-prefix", d.mlflow_prefix) if d.mlflow_prefix else ()
    # Up means an API call answered (HEALTH's reason), where the REST API is; behind a gateway or a
    # user's command that call may be refused for want of a key: any answer short of 5xx then.
    served = d.mlflow_cmd is not None or d.mlflow_gateway
    health = HealthRule(d.mlflow_api_prefix + HEALTH[Part.MLFLOW].path, Expect.SERVED if served else Expect.OK)
    if d.mlflow_cmd is not None:
        check_mlflow_cmd(d.mlflow_cmd)
        # MLFLOW_ARTIFACTS=root: the store is the default root and there is no destination (the entrypoint's shape).
        root = env.get("MLFLOW_DEFAULT_ARTIFACT_ROOT", site.default_artifact_root)
        destination = env.get("MLFLOW_ARTIFACTS_DESTINATION", "")
        env.update(_mlflow_cmd_env(d, site, auth_url, port, env["MLFLOW_BACKEND_STORE_URI"], root))
        command = d.mlflow_cmd.format(port=port, backend_store_uri=env["MLFLOW_BACKEND_STORE_URI"],
                                      default_artifact_root=root, artifacts_destination=destination,
                                      auth_url=auth_url, mlflow_python=site.mlflow_python)
        return PartPlan(Part.MLFLOW, (command,), env, port, health, needs, shell=True)
    if d.mlflow_gateway:
        # The gateway listens on the part's port and starts ``mlflow server`` behind it, on a port of its own,
        # with the static prefix as production's entrypoint gives it: the gateway passes paths as they come.
        argv = (site.python, "-m", "hokusai_mocks.admin_gateway", "--host", site.bind_host, "--port", str(port),
                "--auth-url", auth_url, "--service-id", d.service_id, "--static-prefix", d.mlflow_prefix, "--",
                site.mlflow, "server", "--host", site.bind_host, "--workers", "1")
        return PartPlan(Part.MLFLOW, argv, env, port, health, needs)
    return PartPlan(Part.MLFLOW, (site.mlflow, "server", "--host", site.bind_host, "--port", str(port), "--workers",
                                  "1", *prefix), env, port, health, needs)


def _mlflow_cmd_env(d: StackDefinition, site: Site, auth_url: str, port: int, backend: str,
                    root: str) -> dict[str, str]:
    """What an MLFLOW_CMD finds in its environment: production's entrypoint and gateway read these names."""
    bin_dir = site.mlflow_python.rsplit("/", 1)[0] if "/" in site.mlflow_python else ""
    path = os.environ.get("PATH", "")
    return {"PORT": str(port), "HOST": site.bind_host, "HOKUSAI_AUTH_SERVICE_URL": auth_url,
            "HOKUSAI_AUTH_SERVICE_ID": d.service_id, "BACKEND_STORE_URI": backend,
            "DEFAULT_ARTIFACT_ROOT": root, "MLFLOW_STATIC_PREFIX": d.mlflow_prefix,
            # `mlflow`, `uvicorn` and `python` of the MLflow version's environment come first.
            **({"PATH": f"{bin_dir}:{path}"} if bin_dir else {})}
