"""The watch's metrics in Prometheus' text format (prometheus-client), one registry per watch.

- ``hokusai_contract_run_success``: 1 when the last round passed, 0 when it failed or could not run;
- ``hokusai_contract_last_run_timestamp_seconds``: when that round ended;
- ``hokusai_contract_check_success{check=...}``: each suite of checks of the last round (``verify-proxy``,
  ``auth-service``, ``bearer-auth``, ``scenario``...); a suite the round only skipped has no sample;
- ``hokusai_contract_active_causes{hop=...,kind=...}``: the last round's open causes;
- ``hokusai_contract_run_duration_seconds``: how long the last round took;
- ``hokusai_contract_latency_seconds{target=...}``: a histogram of every latency the performance suite
  measured (``auth_validate``, ``proxy_read``, ``direct_read``, ``registration``).

An interrupted or skipped round says nothing of the service: it leaves the gauges as they were.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from hokusai_contracts.watch.rounds import Round

__all__ = ["CONTENT_TYPE_LATEST", "WatchMetrics"]

#: Seconds: from a fast validate call to a registration through a slow proxy.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class WatchMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.run_success = Gauge("hokusai_contract_run_success", "1 when the last round passed, 0 when it failed "
                                 "or could not run", registry=r)
        self.last_run = Gauge("hokusai_contract_last_run_timestamp_seconds", "When the last round ended "
                              "(Unix time)", registry=r)
        self.check_success = Gauge("hokusai_contract_check_success", "1 when every check of the suite passed in "
                                   "the last round", ["check"], registry=r)
        self.active_causes = Gauge("hokusai_contract_active_causes", "Open causes of the last round, by hop "
                                   "and kind", ["hop", "kind"], registry=r)
        self.duration = Gauge("hokusai_contract_run_duration_seconds", "How long the last round took", registry=r)
        self.latency = Histogram("hokusai_contract_latency_seconds", "Latencies the performance suite measured",
                                 ["target"], buckets=LATENCY_BUCKETS, registry=r)

    def update(self, latest: Round, observe: bool = True) -> None:
        """Show ``latest``; ``observe=False`` (a restart showing the stored last round) adds no latency samples."""
        if latest.success is None:
            return
        self.run_success.set(1 if latest.success else 0)
        self.last_run.set(latest.finished_at)
        self.duration.set(latest.seconds)
        self.check_success.clear()
        for check, ok in latest.checks.items():
            self.check_success.labels(check=check).set(1 if ok else 0)
        self.active_causes.clear()
        for (hop, kind), count in Counter((c.hop, c.kind) for c in latest.causes).items():
            self.active_causes.labels(hop=hop, kind=kind).set(count)
        if observe:
            for target, samples in latest.latencies_s.items():
                for seconds in samples:
                    self.latency.labels(target=target).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
