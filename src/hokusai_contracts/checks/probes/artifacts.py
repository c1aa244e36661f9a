"""Large artifacts: a big file goes up through the proxy and must come back byte-identical.

Incident 4 broke artifact routes; a proxy that buffers whole bodies breaks large models more
quietly (memory, timeouts, truncation). The probe uploads through the MLflow artifact API as the
MLflow client does (PUT, streamed), reads it back, compares SHA-256, and samples the proxy's
resident memory meanwhile: a streaming proxy grows by far less than the artifact.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator

import httpx
import psutil

from hokusai_contracts.domain.findings import Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check, PhaseResult

__all__ = ["run_large_artifact"]

SUITE = Suite.LARGE_ARTIFACT
CHUNK = 1024 * 1024
PUT = "PUT /api/2.0/mlflow-artifacts/artifacts/{path}"
GET = "GET /api/2.0/mlflow-artifacts/artifacts/{path}"


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def _payload(size: int, seed: bytes) -> Iterator[bytes]:
    block = hashlib.sha256(seed).digest() * (CHUNK // 32)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


def run_large_artifact(proxy_url: str, api_key: str, size_mb: int, proxy_pid: int | None) -> PhaseResult:
    size = size_mb * 1024 * 1024
    path = f"contract-probe/large-{os.getpid()}-{int(time.time())}.bin"
    url = f"{proxy_url}/api/2.0/mlflow-artifacts/artifacts/{path}"
    headers = {"Authorization": f"Bearer {api_key}"}
    expected = hashlib.sha256()
    for piece in _payload(size, path.encode()):
        expected.update(piece)

    baseline = _tree_rss(proxy_pid) if proxy_pid else 0
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _tree_rss(proxy_pid)) if proxy_pid else 0

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    finding: Finding | None = None
    try:
        with httpx.Client(timeout=httpx.Timeout(60.0)) as client:
            put = client.put(url, headers={**headers, "Content-Length": str(size)},
                             content=_payload(size, path.encode()))
            if put.status_code != 200:
                finding = _finding(PUT, f"{put.status_code} {put.text[:200]}", "the upload answered with an error")
            else:
                received = hashlib.sha256()
                count = 0
                with client.stream("GET", url, headers=headers) as answer:
                    for piece in answer.iter_bytes():
                        received.update(piece)
                        count += len(piece)
                    status = answer.status_code
                if status != 200 or received.hexdigest() != expected.hexdigest():
                    finding = _finding(GET, f"{status}, {count} bytes, sha256 {received.hexdigest()[:12]}",
                                       f"{size} bytes with sha256 {expected.hexdigest()[:12]}")
    except httpx.HTTPError as exc:
        finding = _finding(PUT, f"{type(exc).__name__}: {exc}"[:200], "the upload and read-back to complete")
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    growth = peak[0] - baseline if proxy_pid else None
    metrics = {"artifact_mb": float(size_mb), "artifact_seconds": round(seconds, 3)}
    if growth is not None:
        metrics["proxy_rss_growth_mb"] = round(growth / 1024 / 1024, 1)
    message = (f"{size_mb} MB up and back in {seconds:.1f} s"
               + (f"; proxy RSS grew {growth / 1024 / 1024:.1f} MB" if growth is not None else ""))
    check = Check(suite=SUITE, name=f"{size_mb} MB artifact round trip", operation=PUT, cases=1,
                  seconds=round(seconds, 3), message=message if finding is None else finding.observed,
                  status=CheckStatus.PASSED, findings=[finding] if finding else [])
    return PhaseResult(checks=[check], metrics=metrics, timings={PhaseName.LARGE_ARTIFACT: check.seconds})


def _finding(operation: str, observed: str, expected: str) -> Finding:
    return Finding(
        hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.ARTIFACT_MISMATCH, location="body",
        expected=expected, observed=observed, suite=SUITE,
        recommendation="Stream artifact bodies through the proxy unchanged (no size limit, no buffering, no "
                       "truncation) on every mount prefix.",
    )
