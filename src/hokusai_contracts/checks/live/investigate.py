"""``investigate``: which path variants answer what (the seeds' ``investigate_mlflow.py``).

The proxy was mounted under several prefixes, MLflow answered under ``api/``
and ``ajax-api/``, the proxy once rewrote one into the other, and artifacts
went missing behind it (incidents 3 and 4). Each variant is asked through the
proxy (with the key) and of MLflow directly (without it); where the two
disagree, the proxy changed something it should have passed through.
Other prefixes of the proxy's host are asked without the key: they are
not the tracking URI, and the key goes nowhere else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from hokusai_contracts.checks.live.probing import LiveProbes, answer_of
from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import Suite

__all__ = ["PREFIXES", "SUITE", "run_investigation"]

SUITE = Suite.INVESTIGATE
#: Mounts the proxy has had (topology.md).
PREFIXES = ("/api/mlflow", "/mlflow", "/api/2.0/mlflow")
VARIANTS: tuple[tuple[str, str, dict[str, str], bool], ...] = (
    # name, path, query, must answer 200 through the proxy
    ("api/ read", "/api/2.0/mlflow/experiments/search", {"max_results": "1"}, True),
    ("ajax-api/ read", "/ajax-api/2.0/mlflow/experiments/search", {"max_results": "1"}, False),
    ("artifacts list", "/api/2.0/mlflow-artifacts/artifacts", {}, True),
)
_REFUSALS = (401, 403)


def run_investigation(probes: LiveProbes) -> None:
    bearer = {"Authorization": f"Bearer {probes.api_key}"}
    for name, path, params, required in VARIANTS:
        through = probes.ask("GET", probes.proxy_url + path, params=params, headers=bearer)
        direct = probes.ask_mlflow("GET", path, params=params) if probes.mlflow_url else None
        findings: list[Finding] = []
        if required and through.status == 404:
            findings.append(Finding(
                hop=Hop.CLIENT_TO_PROXY, operation=f"GET {path}", kind=FindingKind.PATH_NOT_FOUND, location="path",
                contract=probes.ref(probes.proxy_contract, "GET", path),
                expected="200: the MLflow client calls this route", observed=answer_of(through), suite=SUITE,
                recommendation=f"Route {path.rsplit('/', 1)[0]}/ through the proxy to MLflow unchanged.",
                exchanges=[through.exchange()]))
        elif direct is not None and _differ(through, direct):
            findings.append(Finding(
                hop=Hop.CLIENT_TO_PROXY, operation=f"GET {path}", kind=FindingKind.DIFFERS_FROM_UPSTREAM,
                contract=probes.ref(probes.proxy_contract, "GET", path),
                location="status", expected=f"what MLflow answers directly: {answer_of(direct)}",
                observed=answer_of(through), suite=SUITE, exchanges=[through.exchange(), direct.exchange()],
                recommendation="Forward this path to MLflow unchanged (no rewriting of api/ and ajax-api/)."))
        # A key the proxy refuses is bearer-auth's finding; routing cannot be judged behind a 401.
        refused = through.status in (401, 403) and probes.facts.key_accepted is False
        # MLflow's own refusal (a gateway in front of it): the direct answer says nothing of the proxy's routing.
        direct_refused = direct is not None and direct.status in _REFUSALS
        ok = through.status is not None and through.status < 500 and (through.status == 200 or not required
                                                                       or refused)
        shown = f"proxy {answer_of(through)[:60]}" + (f"; direct {answer_of(direct)[:60]}" if direct else "")
        if refused:
            shown += " (key refused: routing not judged)"
        elif direct_refused:
            shown += " (MLflow refused the direct read: not compared)"
        probes.check(SUITE, name, through, operation=f"GET {path}", ok=ok, message=shown, findings=findings,
                     skipped=refused)

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(probes.proxy_url))
    mount = urlsplit(probes.proxy_url).path.rstrip("/")
    answers: list[str] = []
    mount_answers = False
    last: ProbeResult | None = None
    for prefix in dict.fromkeys((mount, *PREFIXES)):
        last = probes.ask("GET", origin + prefix + "/health/mlflow")
        answers.append(f"{prefix or '/'}: {last.status if last.status is not None else last.error}")
        mount_answers = mount_answers or (prefix == mount and last.status == 200)
    missing = "" if mount_answers else f" (the tracking URI's mount {mount} does not)"
    probes.check(SUITE, "prefixes answering health", last, ok=mount_answers, message="; ".join(answers) + missing)


def _differ(through: ProbeResult, direct: ProbeResult) -> bool:
    if through.status is None or direct.status is None:
        return False
    # The proxy's own statuses (auth, upstream trouble) are not a difference in MLflow's answer, nor is
    # MLflow refusing the direct read itself (a gateway asking for a key the direct read did not carry).
    return through.status != direct.status and through.status not in (*_REFUSALS, 429, 502, 503, 504) \
        and direct.status not in _REFUSALS
