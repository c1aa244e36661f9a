"""Large artifacts the way production moves them: MLflow's multipart upload through the proxy.

With S3 behind MLflow, a client that enables ``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` asks
``mlflow-artifacts/mpu/create`` for presigned part URLs, uploads each part straight to the store
(a proxy never sees those bytes), then calls ``mpu/complete`` (``mpu/abort`` on failure). With a
local store MLflow answers ``mpu/create`` 501, and the client falls back to one PUT only if that
answer's message reaches it unchanged ("Multipart upload is not supported for the current
artifact repository"): a proxy that rewrites the 501 breaks every large upload.

The probe is a real MLflow client in a child interpreter, so that the multipart settings (a
lowered minimum size and chunk, so a few tens of MB take that path) are the child's environment
only, never the run's, and the store's credentials are nowhere near it. It logs one artifact
through the proxy, reads it back and compares SHA-256; the child reports what the client did
(its own view: create, each part, complete or abort). With a local store the proxy's answer to
``mpu/create`` is judged against the proxy's contract (its 501, written from MLflow's handler) and
compared with MLflow's own: a 200 or a well-formed 502 fits the contract and still breaks the fallback.
Its calls go through the journal in front of the proxy, so the hop journals judge them too; a finding
both make is one (same hop, operation, kind and location) and the fold merges them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from hokusai_contracts.contracts.judge import judge_response
from hokusai_contracts.contracts.loading import Contract
from hokusai_contracts.domain.findings import Exchange, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult

__all__ = ["MULTIPART_CHUNK", "UNSUPPORTED", "fallback_upload", "run_multipart"]

SUITE = Suite.LARGE_ARTIFACT
#: S3's smallest part (all but the last); MLflow's default chunk is 100 MB and its minimum file 500 MB.
MULTIPART_CHUNK = 5 * 1024 * 1024
#: The start of MLflow's 501 message the client's fallback looks for (http_artifact_repo.py).
UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
CREATE = "POST /api/2.0/mlflow-artifacts/mpu/create/{path}"
_PROBE_PATH = "/api/2.0/mlflow-artifacts/mpu/create/contract-probe/multipart.bin"

_CLIENT = r"""
import hashlib, json, os, sys, tempfile
import mlflow
from mlflow.store.artifact import http_artifact_repo as repo

seen = {"create": 0, "parts": [], "complete": 0, "abort": 0}
Repo = repo.HttpArtifactRepository
def spy(name, record, static=False):
    original = getattr(Repo, name)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        record(result, args, kwargs)
        return result
    setattr(Repo, name, staticmethod(wrapper) if static else wrapper)
spy("create_multipart_upload", lambda r, a, k: seen.update(create=seen["create"] + 1))
spy("_upload_part", lambda r, a, k: seen["parts"].append(k["credential"].url.split("?")[0]), static=True)
spy("complete_multipart_upload", lambda r, a, k: seen.update(complete=seen["complete"] + 1))
spy("abort_multipart_upload", lambda r, a, k: seen.update(abort=seen["abort"] + 1))

size, name = int(sys.argv[1]), sys.argv[2]
folder = tempfile.mkdtemp()
path = os.path.join(folder, "model.bin")
block = hashlib.sha256(name.encode()).digest() * 32768
with open(path, "wb") as out:
    written = 0
    while written < size:
        piece = block[: min(len(block), size - written)]
        out.write(piece)
        written += len(piece)
sent = hashlib.sha256(open(path, "rb").read()).hexdigest()
experiment = mlflow.create_experiment(name)
try:
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifact(path, artifact_path="multipart")
    back = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="multipart/model.bin",
                                               dst_path=os.path.join(folder, "back"))
    seen["same"] = hashlib.sha256(open(back, "rb").read()).hexdigest() == sent
finally:
    mlflow.tracking.MlflowClient().delete_experiment(experiment)
print(json.dumps(seen))
"""


def run_multipart(proxy_url: str, api_key: str, mlflow_url: str, s3: bool, *, contract: Contract,
                  size_mb: int = 24) -> PhaseResult:
    """The multipart check of a run: through the proxy with S3 behind MLflow, or the 501 fallback with a local store."""
    started = time.perf_counter()
    result = PhaseResult()
    if s3:
        result.checks.append(_client_upload(proxy_url, api_key, size_mb * 1024 * 1024, s3))
    else:
        # Two requests a call, not a client in a child interpreter (seconds of imports on every default run):
        # the fallback depends on nothing but this answer (``fallback_upload`` exercises it for real).
        # Only the calls this MLflow version has (presigned downloads are newer than 3.9).
        result.checks += [_unsupported_passes_unchanged(proxy_url, api_key, mlflow_url, contract, call)
                          for call in _UNSUPPORTED_CALLS if contract.match(call.method, call.path) is not None]
    result.timings[f"{PhaseName.LARGE_ARTIFACT}.multipart"] = round(time.perf_counter() - started, 3)
    return result


def fallback_upload(proxy_url: str, api_key: str) -> Check:
    """A multipart-enabled client against a local store: mpu/create's 501, then one PUT (tests, by hand)."""
    return _client_upload(proxy_url, api_key, 2 * MULTIPART_CHUNK, s3=False)


def _client_upload(proxy_url: str, api_key: str, size: int, s3: bool) -> Check:
    name = "multipart upload through the proxy (s3)" if s3 else "multipart upload falls back to one PUT (local store)"
    # The client's environment: the tracking URI and key, multipart on, and nothing of the store's.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MLFLOW_"))}
    env |= {"MLFLOW_TRACKING_URI": proxy_url, "MLFLOW_TRACKING_TOKEN": api_key,
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
            "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(MULTIPART_CHUNK),
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(MULTIPART_CHUNK)}
    probe = f"contract-probe-multipart-{os.getpid()}-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="hokusai-multipart-") as home:
        done = subprocess.run([sys.executable, "-c", _CLIENT, str(size), probe], capture_output=True, text=True,
                              timeout=600, env={**env, "HOME": home, "TMPDIR": home}, cwd=home, check=False)
    if done.returncode != 0:
        cause = (done.stderr.strip().splitlines() or ["no output"])[-1][:400]
        return Check(suite=SUITE, name=name, status=CheckStatus.FAILED, operation=CREATE,
                     message=f"the MLflow client could not log a {size // 2**20} MB artifact with multipart upload "
                             f"on: {cause}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    parts, hosts = seen["parts"], sorted({urlsplit(url).netloc for url in seen["parts"]})
    if not seen.get("same"):
        return Check(suite=SUITE, name=name, status=CheckStatus.FAILED, operation=CREATE,
                     message=f"the {size // 2**20} MB artifact came back different")
    if s3 and not (seen["create"] and seen["complete"] and parts):
        return Check(suite=SUITE, name=name, status=CheckStatus.FAILED, operation=CREATE,
                     message=f"the client did not upload in parts (create {seen['create']}, parts {len(parts)}, "
                             f"complete {seen['complete']}, abort {seen['abort']})")
    if s3:
        message = (f"{size // 2**20} MB in {len(parts)} parts of {MULTIPART_CHUNK // 2**20} MB: mpu/create and "
                   f"mpu/complete through the proxy, the {len(parts)} part uploads straight to the store's presigned "
                   f"URLs at {', '.join(hosts)} (never through the proxy); read back byte-identical")
    else:
        message = (f"mpu/create answered 501 through the proxy and the client fell back to one PUT of "
                   f"{size // 2**20} MB; read back byte-identical")
    return Check(suite=SUITE, name=name, status=CheckStatus.PASSED, operation=CREATE, cases=1, message=message)


@dataclass(frozen=True)
class _Unsupported:
    """A multipart call a local store answers 501, and what a client does with that answer."""

    operation: str
    path: str
    body: dict[str, object] | None
    reliance: str

    @property
    def method(self) -> str:
        return self.operation.split()[0]

    @property
    def label(self) -> str:
        return self.path.split("/mlflow-artifacts/", 1)[1].split("/contract-probe", 1)[0]


#: Every multipart call of MLflow's artifact service, on a local store: each must pass MLflow's 501 on.
_UNSUPPORTED_CALLS = (
    _Unsupported(CREATE, _PROBE_PATH, {"path": "multipart.bin", "num_parts": 2},
                 "The MLflow client falls back to a single PUT only when mpu/create answers 501 with MLflow's "
                 f"message (starting {UNSUPPORTED!r}); any other answer makes a client with "
                 "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD fail every upload above the multipart minimum."),
    _Unsupported("POST /api/2.0/mlflow-artifacts/mpu/complete/{path}",
                 "/api/2.0/mlflow-artifacts/mpu/complete/contract-probe/multipart.bin",
                 {"path": "multipart.bin", "upload_id": "contract-probe", "parts": []},
                 "A client completing an upload must learn that the store has none."),
    _Unsupported("POST /api/2.0/mlflow-artifacts/mpu/abort/{path}",
                 "/api/2.0/mlflow-artifacts/mpu/abort/contract-probe/multipart.bin",
                 {"path": "multipart.bin", "upload_id": "contract-probe"},
                 "A client aborting an upload must learn that the store has none."),
    _Unsupported("GET /api/2.0/mlflow-artifacts/presigned/{path}",
                 "/api/2.0/mlflow-artifacts/presigned/contract-probe/multipart.bin", None,
                 "A client with MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD falls back to the proxied download only on "
                 "MLflow's 501 (mlflow_artifacts_repo._download_file)."),
)


def _unsupported_passes_unchanged(proxy_url: str, api_key: str, mlflow_url: str, contract: Contract,
                                  call: _Unsupported = _UNSUPPORTED_CALLS[0]) -> Check:
    """MLflow's 501 for a multipart call (a local store) must reach the client as MLflow sent it."""
    name = f"multipart upload: {call.label}'s 501 passed on unchanged (local store)"
    with httpx.Client(timeout=30.0) as client:
        direct = client.request(call.method, mlflow_url + call.path, json=call.body)
        proxied = client.request(call.method, proxy_url + call.path, json=call.body,
                                 headers={"Authorization": f"Bearer {api_key}"})
    if direct.status_code != 501:
        return Check(suite=SUITE, name=name, status=CheckStatus.SKIPPED, operation=call.operation,
                     message=f"MLflow itself answered {direct.status_code}, not 501: nothing to pass on")
    exchange = Exchange(method=call.method, url=proxy_url + call.path,
                        request_body=json.dumps(call.body) if call.body is not None else None,
                        status=proxied.status_code, response_body=proxied.text[:2000])
    found = judge_response(contract, Hop.CLIENT_TO_PROXY, call.method, call.path, status=proxied.status_code,
                           headers=dict(proxied.headers), body=proxied.content)
    said = _message(direct)
    if not found and not (proxied.status_code == 501 and _message(proxied).startswith(said)):
        found = [_differs(contract, call, said, proxied, exchange)]
    for finding in found:
        finding.suite = SUITE
        finding.exchanges = finding.exchanges or [exchange]
    message = (f"{call.label}: the proxy changed MLflow's 501 answer" if found
               else f"{call.label}: MLflow's 501 and its message reached the client unchanged")
    return Check(suite=SUITE, name=name, status=CheckStatus.PASSED, operation=call.operation, cases=1,
                 findings=found, message=message)


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", ""))
    except (ValueError, AttributeError):
        return ""


def _differs(contract: Contract, call: _Unsupported, said: str, proxied: httpx.Response,
             exchange: Exchange) -> Finding:
    """An answer the proxy's contract allows (a 200, a well-formed 502) that is not MLflow's 501."""
    match = contract.match(call.method, call.path)
    return Finding(
        hop=Hop.CLIENT_TO_PROXY, operation=call.operation, kind=FindingKind.DIFFERS_FROM_UPSTREAM,
        location="status" if proxied.status_code != 501 else "body.message",
        contract=contract.ref(match.operation.pointer + "/responses/501") if match else None,
        expected=f"501 {{\"message\": \"{said}\"}}: MLflow's answer, as MLflow gave it",
        observed=f"{proxied.status_code} {proxied.text[:300]}",
        recommendation=f"{call.reliance} Pass MLflow's error answers through unchanged.",
        suite=SUITE, exchanges=[exchange],
    )
