"""Large artifacts: a big file goes up through the proxy and must come back byte-identical.

Incident 4 broke artifact routes; a proxy that buffers whole bodies breaks large models more
quietly (memory, timeouts, truncation). The probe uploads through the MLflow artifact API as the
MLflow client does (PUT, streamed), reads it back, compares SHA-256, and samples the proxy's
resident memory meanwhile: a streaming proxy grows by far less than the artifact.

A refused upload is judged by the proxy contract: a status it does not document for the upload
(413, say) is ``undocumented_status`` at ``status``; a documented one, or a read-back that differs,
is ``artifact_mismatch``. Each finding has the contract's pointer and the exchange, the body given
by size and SHA-256 (so its curl says what to send).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator

import httpx
import psutil

from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.contracts.loading import Contract, OperationMatch
from hokusai_contracts.domain.findings import ContractRef, Exchange, Finding, FindingKind
from hokusai_contracts.domain.hops import Hop
from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.domain.redact import redact
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


class _Sampler:
    """The proxy's resident memory (its process tree), sampled every 50 ms while the artifact moves."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.baseline = self.peak = _tree_rss(pid) if pid else 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, _tree_rss(self.pid)) if self.pid else 0

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> int | None:
        return self.peak - self.baseline if self.pid else None


class _RoundTrip:
    """One artifact up and back, and what the proxy contract makes of it."""

    def __init__(self, proxy_url: str, api_key: str, size: int, contract: Contract) -> None:
        self.size, self.contract = size, contract
        self.path = f"contract-probe/large-{os.getpid()}-{int(time.time())}.bin"
        self.url = f"{proxy_url}/api/2.0/mlflow-artifacts/artifacts/{self.path}"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        digest = hashlib.sha256()
        for piece in _payload(size, self.path.encode()):
            digest.update(piece)
        self.sha256 = digest.hexdigest()

    def run(self) -> Finding | None:
        started = time.perf_counter()
        try:
            with httpx.Client(timeout=httpx.Timeout(60.0)) as client:
                put = client.put(self.url, headers={**self.headers, "Content-Length": str(self.size)},
                                 content=_payload(self.size, self.path.encode()))
                sent = ProbeResult("PUT", self.url, time.perf_counter() - started, response=put,
                                   body_size=self.size, body_sha256=self.sha256)
                if put.status_code != 200:
                    return self.refused(sent)
                return self.read_back(client)
        except httpx.HTTPError as exc:
            failed = ProbeResult("PUT", self.url, time.perf_counter() - started,
                                 error=f"{type(exc).__name__}: {exc}"[:200], body_size=self.size,
                                 body_sha256=self.sha256)
            return self.finding(PUT, failed.error or "", "the upload and read-back to complete",
                                failed.exchange(), self.ref(PUT, "/responses/200"))

    def read_back(self, client: httpx.Client) -> Finding | None:
        started, received, count = time.perf_counter(), hashlib.sha256(), 0
        with client.stream("GET", self.url, headers=self.headers) as answer:
            for piece in answer.iter_bytes():
                received.update(piece)
                count += len(piece)
            status, request = answer.status_code, answer.request
        if status == 200 and received.hexdigest() == self.sha256:
            return None
        # The answer was streamed, not kept: its size and digest stand for it.
        exchange = Exchange(method="GET", url=redact(self.url), request_headers=dict(request.headers), status=status,
                            response_body=f"{count} bytes, sha256 {received.hexdigest()}",
                            elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
        return self.finding(GET, f"{status}, {count} bytes, sha256 {received.hexdigest()[:12]}",
                            f"{self.size} bytes with sha256 {self.sha256[:12]}", exchange,
                            self.ref(GET, "/responses/200"))

    def refused(self, sent: ProbeResult) -> Finding:
        """The upload answered with an error: undocumented for the upload, or documented but no upload."""
        status = sent.status or 0
        match = self.match(PUT)
        documented = match is not None and str(status) in (match.operation.spec.get("responses") or {})
        observed = f"{status} {sent.text()}"
        if documented or match is None:
            return self.finding(PUT, observed, "200: the artifact stored", sent.exchange(),
                                self.ref(PUT, "/responses/200"))
        kind = FindingKind.SERVER_ERROR if status >= 500 else FindingKind.UNDOCUMENTED_STATUS
        responses = ", ".join(str(k) for k in match.operation.spec.get("responses") or {})
        return Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=PUT, kind=kind, location="status", suite=SUITE,
            contract=self.ref(PUT, "/responses"), exchanges=[sent.exchange()],
            expected=f"200 to a {self.size // (1024 * 1024)} MB artifact, else one of the documented statuses: "
                     f"{responses}", observed=observed,
            recommendation=f"The proxy answered {status} to a {self.size // (1024 * 1024)} MB upload, which its "
                           "contract does not document: let artifact bodies of any size through (no body size "
                           "limit in the proxy or its load balancer), streamed.")

    def match(self, operation: str) -> OperationMatch | None:
        """The proxy contract's operation for this artifact's ``PUT`` or ``GET``."""
        return self.contract.match(operation.split(" ", 1)[0], f"/api/2.0/mlflow-artifacts/artifacts/{self.path}")

    def ref(self, operation: str, suffix: str) -> ContractRef | None:
        match = self.match(operation)
        return self.contract.ref(match.operation.pointer + suffix) if match else None

    def finding(self, operation: str, observed: str, expected: str, exchange: Exchange,
                contract: ContractRef | None) -> Finding:
        return Finding(
            hop=Hop.CLIENT_TO_PROXY, operation=operation, kind=FindingKind.ARTIFACT_MISMATCH, location="body",
            expected=expected, observed=observed, suite=SUITE, contract=contract, exchanges=[exchange],
            recommendation="Stream artifact bodies through the proxy unchanged (no size limit, no buffering, no "
                           "truncation) on every mount prefix.",
        )


def run_large_artifact(proxy_url: str, api_key: str, size_mb: int, proxy_pid: int | None, *,
                       contract: Contract) -> PhaseResult:
    size = size_mb * 1024 * 1024
    trip = _RoundTrip(proxy_url, api_key, size, contract)
    started = time.perf_counter()
    with _Sampler(proxy_pid) as sampler:
        finding = trip.run()
    seconds = time.perf_counter() - started
    growth = sampler.growth
    metrics = {"artifact_mb": float(size_mb), "artifact_seconds": round(seconds, 3)}
    if growth is not None:
        metrics["proxy_rss_growth_mb"] = round(growth / 1024 / 1024, 1)
    message = (f"{size_mb} MB up and back in {seconds:.1f} s"
               + (f"; proxy RSS grew {growth / 1024 / 1024:.1f} MB" if growth is not None else ""))
    check = Check(suite=SUITE, name=f"{size_mb} MB artifact round trip", operation=PUT, cases=1,
                  seconds=round(seconds, 3), message=message if finding is None else finding.observed,
                  status=CheckStatus.PASSED, findings=[finding] if finding else [])
    return PhaseResult(checks=[check], metrics=metrics, timings={PhaseName.LARGE_ARTIFACT: check.seconds})
