"""Performance (the seeds' "Performance Testing"): latency as p50/p95, compared with a baseline.

Measured: the auth service's validate call, the same read through the proxy
and directly from MLflow (the difference is the proxy's overhead), and the
registration scenario's wall time. Times are the upstream's answer time as
the gate saw it, so the run's own rate limit does not count as latency.
``performance.json`` of one run is the baseline file of the next
(``HOKUSAI_PERF_BASELINE``); a p95 slower than baseline × (1 + tolerance) is a
regression and fails the check.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from hokusai_contracts.checks.live.probing import LiveProbes
from hokusai_contracts.checks.probes.http import ProbeResult
from hokusai_contracts.domain.names import Suite
from hokusai_contracts.report.model import CheckStatus
from hokusai_contracts.report.phase import Check

__all__ = ["Latency", "Performance", "compare_with_baseline", "measure", "percentile", "render_performance",
           "write_performance"]

SUITE = Suite.PERFORMANCE
PERFORMANCE_FILE = "performance.json"


class Latency(BaseModel):
    samples_ms: list[float] = Field(default_factory=list)

    @property
    def p50(self) -> float | None:
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.samples_ms, 95)

    def summary(self) -> dict[str, float | None]:
        return {"p50_ms": self.p50, "p95_ms": self.p95, "samples": float(len(self.samples_ms))}


class Performance(BaseModel):
    auth_validate: Latency = Field(default_factory=Latency)
    proxy_read: Latency = Field(default_factory=Latency)
    direct_read: Latency = Field(default_factory=Latency)
    registration: Latency = Field(default_factory=Latency)

    def proxy_overhead_ms(self) -> float | None:
        through, direct = self.proxy_read.p50, self.direct_read.p50
        return round(through - direct, 1) if through is not None and direct is not None else None

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in ("auth_validate", "proxy_read", "direct_read", "registration"):
            latency: Latency = getattr(self, name)
            for stat in ("p50", "p95"):
                value = getattr(latency, stat)
                if value is not None:
                    out[f"perf.{name}.{stat}_ms"] = value
        overhead = self.proxy_overhead_ms()
        if overhead is not None:
            out["perf.proxy_overhead.p50_ms"] = overhead
        return out


def percentile(samples: list[float], rank: int) -> float | None:
    """Nearest-rank percentile: with a handful of samples, a real sample beats an interpolation."""
    if not samples:
        return None
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, -(-rank * len(ordered) // 100) - 1))
    return round(ordered[index], 1)


def measure(probes: LiveProbes, samples: int, perf: Performance) -> None:
    """Add ``samples`` latencies of validate, proxied read and direct read to ``perf``."""
    for _ in range(samples):
        validate = probes.ask("POST", probes.auth_url + "/api/v1/keys/validate",
                              json={"api_key": probes.api_key, "service_id": "platform"})
        _add(perf.auth_validate, validate)
        read = "/api/2.0/mlflow/experiments/search"
        through = probes.ask("GET", probes.proxy_url + read, params={"max_results": "1"},
                             headers={"Authorization": f"Bearer {probes.api_key}"})
        _add(perf.proxy_read, through)
        if probes.mlflow_url:
            direct = probes.ask_mlflow("GET", read, params={"max_results": "1"})
            _add(perf.direct_read, direct)


def _add(latency: Latency, result: ProbeResult) -> None:
    # Only answers count: a refused connection has no latency worth a percentile.
    seconds = result.response.extensions.get("hokusai_upstream_s") if result.response is not None else None
    if isinstance(seconds, float):
        latency.samples_ms.append(round(seconds * 1000, 1))


def compare_with_baseline(perf: Performance, baseline_path: Path | None, tolerance: float) -> Check:
    name = "compared with baseline"
    if baseline_path is None:
        return Check(suite=SUITE, name=name, status=CheckStatus.SKIPPED,
                           message="no baseline (HOKUSAI_PERF_BASELINE); this run's performance.json can be one")
    try:
        baseline = Performance.model_validate(json.loads(baseline_path.read_text("utf-8")))
    except (OSError, ValueError) as exc:
        return Check(suite=SUITE, name=name, status=CheckStatus.ERROR,
                           message=f"{baseline_path} is not a performance.json of a live run ({type(exc).__name__})")
    regressions, compared = [], []
    for field_name in ("auth_validate", "proxy_read", "direct_read", "registration"):
        now, then = getattr(perf, field_name).p95, getattr(baseline, field_name).p95
        if now is None or then is None:
            continue
        compared.append(f"{field_name} p95 {now:.0f} ms (baseline {then:.0f})")
        if now > then * (1 + tolerance):
            regressions.append(f"{field_name} p95 {now:.0f} ms > {then:.0f} ms × {1 + tolerance:.2f}")
    if regressions:
        return Check(suite=SUITE, name=name, status=CheckStatus.FAILED,
                           message="regression beyond tolerance: " + "; ".join(regressions))
    return Check(suite=SUITE, name=name, status=CheckStatus.PASSED if compared else CheckStatus.SKIPPED,
                       message="; ".join(compared) or "no measurement in common with the baseline")


def render_performance(perf: Performance) -> str:
    """The text of ``performance.json``: every sample, and the summary a later run compares with."""
    document = {**perf.model_dump(mode="json"), "summary": {
        name: getattr(perf, name).summary() for name in ("auth_validate", "proxy_read", "direct_read", "registration")
    } | {"proxy_overhead_p50_ms": perf.proxy_overhead_ms()}}
    return json.dumps(document, indent=2) + "\n"


def write_performance(perf: Performance, report_dir: Path) -> Path:
    path = report_dir / PERFORMANCE_FILE
    path.write_text(render_performance(perf), "utf-8")
    return path
