"""``make contract-live`` against a deployment on loopback: HTTPS, a throw-away CA, no internet.

The local stack stands in for production behind HTTPS fronts (``tests/live_deployment.py``); the
command users run is run unchanged, configured only by environment, and judged on what it promises:
it passes against a healthy deployment, leaves no ``contract-probe-*`` experiment or model behind,
keeps under its rate limit and request budget as the servers count them, deletes only what it created,
never administers keys, names the right root cause first when something is broken, and never shows
the full key anywhere.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hokusai_contracts.domain.exchange import HttpExchange
from hokusai_contracts.domain.redact import mask
from hokusai_contracts.stack.definition import Part, StackDefinition

from ..live_deployment import HttpsFront, LiveDeployment, live_deployment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE_PREFIX = "contract-probe-"
RATE_LIMIT = 20
REQUEST_BUDGET = 2000
MAX_EXAMPLES = 3
RUN_TIMEOUT_S = 600
FAULT_RUN_TIMEOUT_S = 240
# A run whose preflight fails skips its suites: it has no business taking minutes.
FAULT_RUN_BOUND_S = 120

# The variables the run is configured by, and those that would configure it behind the test's back: a
# CA bundle from the environment would hide a tool ignoring HOKUSAI_CA_BUNDLE, an HTTP proxy would
# take loopback traffic elsewhere, MAKEFLAGS from an outer `make test` would hand over its jobserver.
_FOREIGN_PREFIXES = ("HOKUSAI_", "MLFLOW_", "FAKE_AUTH_")
_FOREIGN_NAMES = {"REPORT_DIR", "KEEP", "PROXY_CMD", "PROXY_IMAGE", "STACK", "FULL", "SPEC", "MAKEFLAGS",
                  "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                  "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}


@dataclass(frozen=True)
class LiveRun:
    """One ``make contract-live`` and what the deployment's servers saw of it."""

    make_code: int
    tool_code: int | None  # the command's own exit code: make turns any failure into its own 2
    seconds: float
    stdout: str
    stderr: str
    report_dir: Path
    entries: list[HttpExchange]  # every request the run sent to any of the three hosts, by arrival

    @property
    def report(self) -> dict[str, Any]:
        path = self.report_dir / "contract-report.json"
        assert path.exists(), f"no {path.name} written (exit {self.tool_code}):\n{self.output_tail()}"
        loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return loaded

    def output_tail(self, chars: int = 3000) -> str:
        return f"--- stdout:\n{self.stdout[-chars:]}\n--- stderr:\n{self.stderr[-chars:]}"

    def summary(self) -> str:
        """What a failed assertion should show: exit codes, verdict, diagnosis and failed checks."""
        try:
            report = self.report
        except (AssertionError, ValueError):
            return self.output_tail()
        failed = [c for c in report.get("checks", []) if c.get("status") not in ("passed", "skipped")]
        return json.dumps({"make": self.make_code, "tool": self.tool_code, "verdict": report.get("verdict"),
                           "diagnosis": report.get("diagnosis"), "failed_checks": failed[:10]}, indent=1)[:6000]


def _environment(deployment: LiveDeployment, report_dir: Path, api_key: str) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith(_FOREIGN_PREFIXES) and name.upper() not in _FOREIGN_NAMES}
    return {
        **inherited,
        "HOKUSAI_API_KEY": api_key,
        "HOKUSAI_PROXY_URL": deployment.proxy_url,
        "HOKUSAI_AUTH_URL": deployment.auth_url,
        "HOKUSAI_MLFLOW_URL": deployment.mlflow_url,
        "HOKUSAI_CA_BUNDLE": str(deployment.ca_bundle),
        "HOKUSAI_RATE_LIMIT": str(RATE_LIMIT),
        "HOKUSAI_REQUEST_BUDGET": str(REQUEST_BUDGET),
        "HOKUSAI_LIVE_MAX_EXAMPLES": str(MAX_EXAMPLES),
        "REPORT_DIR": str(report_dir),
    }


def run_contract_live(deployment: LiveDeployment, report_dir: Path, api_key: str,
                      timeout_s: float = RUN_TIMEOUT_S) -> LiveRun:
    started_at = time.time()
    started = time.monotonic()
    # --assume-old: every target re-installs the venv when pyproject.toml or the lock is newer than its
    # stamp; offline that fails (or hangs) for reasons that have nothing to do with the live run.
    # Run beside report_dir, not in the checkout: the CLI reads a .env in its working directory, and
    # a developer's .env in the checkout must not reach the run.
    completed = subprocess.run(["make", "--no-print-directory", "-f", str(REPO_ROOT / "Makefile"),
                                f"VENV={REPO_ROOT / '.venv'}", f"--assume-old={REPO_ROOT / '.venv' / '.installed'}",
                                "contract-live"],
                               cwd=report_dir.parent,
                               env=_environment(deployment, report_dir, api_key), capture_output=True, text=True,
                               timeout=timeout_s)
    seconds = time.monotonic() - started
    failed = re.search(r"\[[^\]]*contract-live\] Error (\d+)", completed.stderr)
    tool_code = 0 if completed.returncode == 0 else int(failed.group(1)) if failed else None
    # Earlier runs on the same deployment ended before this one began: arrival time tells them apart.
    entries = [e for e in deployment.entries() if e.started_at >= started_at]
    return LiveRun(completed.returncode, tool_code, seconds, completed.stdout, completed.stderr, report_dir, entries)


# -- MLflow asked directly: plain HTTP past the fronts, so the questions are not part of the run ------------


def _mlflow(deployment: LiveDeployment) -> httpx.Client:
    return httpx.Client(base_url=deployment.direct_mlflow_url + "/api/2.0/mlflow", timeout=30)


def probe_experiments(deployment: LiveDeployment, view_type: str) -> list[dict[str, Any]]:
    with _mlflow(deployment) as mlflow:
        answer = mlflow.post("/experiments/search", json={
            "filter": f"name LIKE '{PROBE_PREFIX}%'", "view_type": view_type, "max_results": 1000})
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json().get("experiments", [])
    return found


def probe_registered_models(deployment: LiveDeployment) -> list[dict[str, Any]]:
    with _mlflow(deployment) as mlflow:
        answer = mlflow.get("/registered-models/search",
                            params={"filter": f"name LIKE '{PROBE_PREFIX}%'", "max_results": 1000})
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json().get("registered_models", [])
    return found


def probe_run_ids(deployment: LiveDeployment, experiment_ids: list[str]) -> set[str]:
    if not experiment_ids:
        return set()
    with _mlflow(deployment) as mlflow:
        answer = mlflow.post("/runs/search", json={"experiment_ids": experiment_ids, "run_view_type": "ALL",
                                                   "max_results": 1000})
    answer.raise_for_status()
    return {run["info"]["run_id"] for run in answer.json().get("runs", [])}


@dataclass(frozen=True)
class Bystanders:
    """What somebody else keeps in the MLflow the run visits: it must look the same afterwards."""

    experiment_id: str
    experiment_name: str
    run_id: str
    model_name: str


def create_bystanders(deployment: LiveDeployment) -> Bystanders:
    suffix = secrets.token_hex(4)
    with _mlflow(deployment) as mlflow:
        experiment_name = f"partner-experiment-{suffix}"
        experiment_id = mlflow.post("/experiments/create", json={"name": experiment_name}).json()["experiment_id"]
        run = mlflow.post("/runs/create", json={"experiment_id": experiment_id}).json()["run"]
        model_name = f"partner-model-{suffix}"
        mlflow.post("/registered-models/create", json={"name": model_name}).raise_for_status()
        mlflow.post("/model-versions/create", json={"name": model_name, "source": run["info"]["artifact_uri"],
                                                    "run_id": run["info"]["run_id"]}).raise_for_status()
    return Bystanders(experiment_id, experiment_name, run["info"]["run_id"], model_name)


# -- judging the server-side journals ------------------------------------------------------------------------


def busiest_second(entries: list[HttpExchange]) -> int:
    """The most requests that arrived within any one second, across all hosts together."""
    arrivals = sorted(e.started_at for e in entries)
    most, first = 0, 0
    for last, arrived in enumerate(arrivals):
        while arrived - arrivals[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _is_delete(entry: HttpExchange) -> bool:
    # MLflow deletes by DELETE (registered models, versions, aliases, artifacts, logged models) and by POST
    # to .../delete, .../delete-tag, .../delete-traces (experiments, runs, tags, traces).
    return entry.method == "DELETE" or entry.path.rstrip("/").rsplit("/", 1)[-1].startswith("delete")


def _identifiers(entry: HttpExchange) -> list[tuple[str, str]]:
    """What a request names: (field, value) from its JSON body, its query and an artifact path."""
    named: list[tuple[str, str]] = list(entry.query)
    if entry.request_body.text:
        try:
            body = json.loads(entry.request_body.text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for field, value in body.items():
                values = value if isinstance(value, list) else [value]
                named += [(field, str(v)) for v in values if isinstance(v, str | int)]
    artifact = re.search(r"/mlflow-artifacts/artifacts/([^/]+)/([^/]+)", entry.path)
    if artifact:
        named += [("experiment_id", artifact.group(1)), ("run_id", artifact.group(2))]
    logged_model = re.search(r"/logged-models/([^/]+)$", entry.path)
    if logged_model and entry.method == "DELETE":
        named.append(("model_id", logged_model.group(1)))
    return named


def _handed_out(entries: list[HttpExchange]) -> set[str]:
    """Every id in an answer to one of the run's own creates: what it may delete besides probe names."""
    ids: set[str] = set()

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for field, inner in value.items():
                if field.endswith(("_id", "_uuid")) and isinstance(inner, str | int) and str(inner):
                    ids.add(str(inner))
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)

    for entry in entries:
        if entry.path.rstrip("/").endswith("/create") and entry.status == 200 and entry.response_body.text:
            try:
                collect(json.loads(entry.response_body.text))
            except ValueError:
                pass
    return ids


def foreign_deletes(entries: list[HttpExchange], own_ids: set[str]) -> list[str]:
    """Delete calls on anything but the run's own ``contract-probe-*`` resources, one line each."""
    wrong = []
    for entry in filter(_is_delete, entries):
        named = [(field, value) for field, value in _identifiers(entry)
                 if field == "name" or field.endswith(("_id", "_ids", "_uuid"))]
        strangers = [f"{field}={value}" for field, value in named
                     if not (value.startswith(PROBE_PREFIX) if field == "name" else value in own_ids)]
        if strangers or not named:
            wrong.append(f"{entry.hop} {entry.method} {entry.path} -> {entry.status}: "
                         f"{', '.join(strangers) or 'names nothing this test can attribute'}")
    return wrong


def forbidden_auth_calls(entries: list[HttpExchange]) -> list[str]:
    """Anything sent to the auth service but reads and key validation: key admin, usage reports, ..."""
    return [f"{e.method} {e.path} -> {e.status}" for e in entries if e.hop == f"client->{Part.AUTH}"
            and e.method != "GET" and (e.method, e.path.rstrip("/")) != ("POST", "/api/v1/keys/validate")]


def leaks(run: LiveRun, key: str) -> list[str]:
    """Where the full key shows: the run's output and every file it wrote (logs included)."""
    places = {"stdout": run.stdout, "stderr": run.stderr}
    places.update({str(p.relative_to(run.report_dir)): p.read_text("utf-8", errors="replace")
                   for p in sorted(run.report_dir.rglob("*")) if p.is_file()})
    return [where for where, text in places.items() if key in text]


# -- a healthy deployment --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDeployment]:
    with live_deployment(tmp_path_factory.mktemp("deployment")) as started:
        yield started


@pytest.fixture(scope="module")
def bystanders(deployment: LiveDeployment) -> Bystanders:
    return create_bystanders(deployment)


@pytest.fixture(scope="module")
def happy_run(deployment: LiveDeployment, bystanders: Bystanders,
              tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    return run_contract_live(deployment, tmp_path_factory.mktemp("happy-report"), deployment.api_key)


def test_the_run_passes(happy_run: LiveRun) -> None:
    assert (happy_run.make_code, happy_run.tool_code) == (0, 0), happy_run.summary()
    report = happy_run.report
    assert report["mode"] == "live"
    assert report["verdict"] == "pass", happy_run.summary()
    for name in ("junit.xml", "contract-report.md"):
        assert (happy_run.report_dir / name).is_file(), name
    assert (happy_run.report_dir / "logs").is_dir()
    # Through TLS with the given CA: every host was reached, none refused the handshake.
    assert {e.hop for e in happy_run.entries} == {"client->proxy", "client->auth", "client->mlflow"}


def test_no_probe_experiment_or_model_is_left_behind(happy_run: LiveRun, deployment: LiveDeployment) -> None:
    # Whatever the verdict: a run that fails halfway must clean up all the same.
    assert [e["name"] for e in probe_experiments(deployment, "ACTIVE_ONLY")] == []
    assert [m["name"] for m in probe_registered_models(deployment)] == []
    # Not vacuous: the run did make probes, and cleaning up moved them to MLflow's "deleted" stage.
    deleted = probe_experiments(deployment, "DELETED_ONLY")
    assert deleted, "no contract-probe-* experiment was created at all:\n" + happy_run.summary()
    assert all(e["lifecycle_stage"] == "deleted" for e in deleted)


def test_the_run_stays_under_its_rate_limit_and_budget_as_the_servers_count(happy_run: LiveRun) -> None:
    # +1: a token bucket starts with a token in hand, so a window opening on that first request holds it
    # and the RATE_LIMIT earned during the second.
    assert busiest_second(happy_run.entries) <= RATE_LIMIT + 1, happy_run.summary()
    assert len(happy_run.entries) <= REQUEST_BUDGET


def test_the_run_deletes_only_what_it_created(happy_run: LiveRun, deployment: LiveDeployment,
                                              bystanders: Bystanders) -> None:
    probe_experiment_ids = [e["experiment_id"] for e in probe_experiments(deployment, "ALL")]
    own = set(probe_experiment_ids) | probe_run_ids(deployment, probe_experiment_ids) | _handed_out(
        happy_run.entries)
    assert foreign_deletes(happy_run.entries, own) == []

    # And what belongs to somebody else is as it was.
    with _mlflow(deployment) as mlflow:
        experiment = mlflow.get("/experiments/get", params={"experiment_id": bystanders.experiment_id}).json()
        run = mlflow.get("/runs/get", params={"run_id": bystanders.run_id}).json()
        model = mlflow.get("/registered-models/get", params={"name": bystanders.model_name})
        default = mlflow.get("/experiments/get", params={"experiment_id": "0"}).json()
    assert (experiment["experiment"]["name"], experiment["experiment"]["lifecycle_stage"]) == (
        bystanders.experiment_name, "active")
    assert run["run"]["info"]["lifecycle_stage"] == "active"
    assert model.status_code == 200 and model.json()["registered_model"]["latest_versions"]
    assert default["experiment"]["lifecycle_stage"] == "active"


def test_the_run_never_administers_keys_or_reports_usage(happy_run: LiveRun) -> None:
    assert forbidden_auth_calls(happy_run.entries) == []
    assert any(e.path == "/api/v1/keys/validate" for e in happy_run.entries)


def test_the_full_key_appears_in_no_output_report_or_log(happy_run: LiveRun, deployment: LiveDeployment) -> None:
    # The seeded key is the canary: random per stack start, so nothing can show it but this run.
    assert leaks(happy_run, deployment.api_key) == []
    report_text = "".join((happy_run.report_dir / name).read_text("utf-8")
                          for name in ("contract-report.json", "contract-report.md"))
    assert mask(deployment.api_key) in report_text


def keys_in_urls(entries: list[HttpExchange], key: str) -> list[str]:
    """Requests whose path or query held ``key``, as the fronts recorded them (masked: so look for the mask)."""
    masked = mask(key)
    return [f"{e.hop} {e.method} {e.path}" for e in entries
            if any(form in text for form in (key, masked) for text in [e.path, *(v for _, v in e.query)])]


def test_no_recorded_url_holds_the_key(happy_run: LiveRun, deployment: LiveDeployment) -> None:
    # What the load balancers and CDNs in front of production would log: the URL of every request.
    assert keys_in_urls(happy_run.entries, deployment.api_key) == []
    # Not vacuous: the "key in a query parameter" check did send one (a decoy of the key's format).
    assert any(name == "api_key" for e in happy_run.entries for name, _ in e.query), happy_run.summary()


# -- broken deployments: the first diagnosis names the root cause ----------------------------------------------


@dataclass(frozen=True)
class Breakage:
    key_name: str = "primary"
    down: Part | None = None
    service_id: str = "platform"  # what the proxy validates keys for
    own_deployment: bool = False  # needs a stack of its own (a part killed, another proxy)


BREAKAGES = [
    pytest.param(Breakage(down=Part.AUTH, own_deployment=True), "infrastructure", "auth", id="auth-down"),
    pytest.param(Breakage(down=Part.MLFLOW, own_deployment=True), "infrastructure", "mlflow", id="mlflow-down"),
    pytest.param(Breakage(key_name="revoked"), "api_key", None, id="revoked-key"),
    pytest.param(Breakage(key_name="website"), "api_key", None, id="other-service-key"),
    pytest.param(Breakage(service_id="website", own_deployment=True), "service_config", None,
                 id="wrong-service-id-proxy"),
]


@pytest.mark.parametrize(("breakage", "category", "part"), BREAKAGES)
def test_a_broken_deployment_is_diagnosed_by_its_root_cause(
        breakage: Breakage, category: str, part: str | None, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with _deployment_for(breakage, request, tmp_path / "deployment") as broken:
        if breakage.down is not None:
            broken.take_down(breakage.down)
        key = broken.keys[breakage.key_name]
        run = run_contract_live(broken, tmp_path / "report", key, timeout_s=FAULT_RUN_TIMEOUT_S)

    assert run.tool_code == 1, run.summary()
    diagnosis = run.report["diagnosis"]
    assert diagnosis, run.summary()
    assert diagnosis[0]["category"] == category, run.summary()
    if part is not None:
        assert part in json.dumps(diagnosis[0]).lower(), run.summary()
    confidences = [d["confidence"] for d in diagnosis]
    assert confidences == sorted(confidences, reverse=True)
    assert run.report["verdict"] == "fail"
    assert run.seconds < FAULT_RUN_BOUND_S, f"{run.seconds:.0f} s"
    assert leaks(run, key) == []
    assert keys_in_urls(run.entries, key) == []
    assert forbidden_auth_calls(run.entries) == []


@contextmanager
def _deployment_for(breakage: Breakage, request: pytest.FixtureRequest, workdir: Path) -> Iterator[LiveDeployment]:
    """A stack of its own when the breakage damages one; else the healthy one (a bad key harms nothing)."""
    if not breakage.own_deployment:
        shared: LiveDeployment = request.getfixturevalue("deployment")
        yield shared
        return
    with live_deployment(workdir, StackDefinition(service_id=breakage.service_id)) as own:
        yield own


# -- a gateway in front of MLflow (issue 25): noticed, and the key sent there only as its contract says ---------


@contextmanager
def _admin_gateway(deployment: LiveDeployment, workdir: Path) -> Iterator[HttpsFront]:
    """The reference admin gateway in front of the deployment's MLflow (at its root: no static prefix there), asking
    the deployment's auth service; behind an HTTPS front whose journal is what reached the gateway."""
    import uvicorn
    from hokusai_mocks.admin_gateway.app import AdminGateway

    from hokusai_contracts.journal.listening import serving_in_thread

    endpoints = deployment.stack.endpoints
    assert endpoints is not None
    gateway = AdminGateway(endpoints.mlflow_url, endpoints.auth_url, "platform", "")
    # lifespan: the gateway closes its client at shutdown (an open one is a ResourceWarning, an error here).
    config = uvicorn.Config(gateway, log_config=None, log_level="warning", access_log=False, lifespan="on")
    with serving_in_thread(config, "admin gateway", "the admin gateway did not start") as port:
        cert_file = deployment.fronts[Part.MLFLOW].cert_file
        assert cert_file is not None
        front = HttpsFront.start(f"http://127.0.0.1:{port}", "client->mlflow", workdir / "gateway-front.jsonl",
                                 cert_file)
        try:
            yield front
        finally:
            front.stop()


def _admin_key(deployment: LiveDeployment) -> str:
    """A platform key with the admin scope the gateway admits, made with the fake's admin API (not by the run)."""
    endpoints = deployment.stack.endpoints
    assert endpoints is not None
    made = httpx.post(endpoints.auth_url + "/api/v1/keys", timeout=30,
                      headers={"Authorization": f"Bearer {deployment.stack.definition.admin_token}"},
                      json={"name": "gateway-admin", "service_id": "platform", "scopes": ["read", "write", "admin"]})
    made.raise_for_status()
    key: str = made.json()["api_key"]
    return key


def _live_past_gateway(deployment: LiveDeployment, gateway: HttpsFront, report_dir: Path, key: str,
                       overlay: bool) -> tuple[LiveRun, list[HttpExchange]]:
    """``hokusai-contracts live`` without the Schemathesis suites, its MLflow URL the gateway's; what reached it."""
    env = {**_environment(deployment, report_dir, key), "HOKUSAI_MLFLOW_URL": gateway.url,
           "HOKUSAI_PERF_SAMPLES": "1"}
    if overlay:
        env["HOKUSAI_MLFLOW_OVERLAY"] = str(REPO_ROOT / "contracts" / "mlflow-gateway.overlay.yaml")
    started_at, started = time.time(), time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "live", "--suites", "none", "--report-dir",
                                str(report_dir)], cwd=report_dir.parent, env=env, capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_S)
    run = LiveRun(completed.returncode, completed.returncode, time.monotonic() - started, completed.stdout,
                  completed.stderr, report_dir, [])
    return run, [e for e in gateway.entries() if (e.started_at or 0) >= started_at]


def test_a_gateway_in_front_of_mlflow_is_noticed_and_gets_the_key_only_where_its_contract_requires_it(
        deployment: LiveDeployment, tmp_path: Path) -> None:
    key = _admin_key(deployment)
    with _admin_gateway(deployment, tmp_path) as gateway:
        judged, judged_reads = _live_past_gateway(deployment, gateway, tmp_path / "overlay", key, overlay=True)
        blind, blind_reads = _live_past_gateway(deployment, gateway, tmp_path / "plain", key, overlay=False)

    # With the overlay: noticed; the direct reads carried the key in the header the overlay names, the gateway
    # let them in, and the gate let them go (no refusal, no finding about the key).
    notice = f"MLflow at {gateway.url} answers 401 without a key (a gateway)"
    warnings = judged.report["warnings"]
    assert any(w.startswith(notice + ": direct reads carry the key") for w in warnings), judged.summary()
    assert judged.report["targets"]["mlflow_overlay"] == "contracts/mlflow-gateway.overlay.yaml"
    with_key = [e for e in judged_reads if ("header.authorization", mask(key)) in
                {(c.location.lower(), c.masked) for c in e.credentials}]
    assert with_key and all(e.status == 200 for e in with_key), [f"{e.method} {e.path} {e.status}"
                                                                 for e in judged_reads]
    assert "the API key would go to mlflow" not in json.dumps(judged.report)
    assert not [f for f in judged.report["findings"] if f["kind"] in ("credential_leak", "missing_credential")]
    # No false alarm either way: MLflow refusing a key-less direct read is not the proxy differing from it.
    assert (judged.report["verdict"], blind.report["verdict"]) == ("pass", "pass"), judged.summary() + blind.summary()

    # Without it: noticed, and told what to set; the gateway was asked, but never with the key.
    assert any(w.startswith(notice + ", and its contract requires none: set HOKUSAI_MLFLOW_OVERLAY=")
               for w in blind.report["warnings"]), blind.summary()
    assert blind_reads, "no direct read reached the gateway:\n" + blind.summary()
    assert [f"{e.method} {e.path}" for e in blind_reads if e.credentials] == []
    assert leaks(judged, key) == [] and leaks(blind, key) == []
