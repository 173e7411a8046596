"""Prometheus metrics of one ingest worker (its own registry, so tests can run several).

Named by Prometheus conventions: base units in the name (``_seconds``), counters end in
``_total``, a gauge holds parts of one whole (its states sum to something meaningful) and a
limit is its own gauge; no ``_created`` series; the process collector (fds, memory, CPU) is on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

# ``_created`` samples double the series count and nothing here reads them (process-wide)
disable_created_metrics()  # type: ignore[no-untyped-call]


class IngestMetrics:
    def __init__(
        self, queue_depth: Callable[[], int], pool_stats: Callable[[], dict[str, int]]
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "logistica_ingest_requests",
            "Ingest requests by source and status code",
            ["source", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "logistica_ingest_request_duration_seconds",
            "Time from the request head to the answer, by source",
            ["source"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_rows = Histogram(
            "logistica_ingest_batch_rows",
            "Rows per group-commit transaction",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        self.connections_closed = Counter(
            "logistica_ingest_connections_refused",
            "Connections closed by a guard: over the cap, or a request head too slow",
            ["reason"],
            registry=self.registry,
        )
        Gauge(
            "logistica_ingest_queue_depth", "Events waiting for a commit", registry=self.registry
        ).set_function(queue_depth)
        pool = Gauge(
            "logistica_db_pool_connections",
            "Open asyncpg pool connections by state (in_use + idle = open)",
            ["state"],
            registry=self.registry,
        )
        for state in ("in_use", "idle"):
            pool.labels(state).set_function(_stat(pool_stats, state))
        Gauge(
            "logistica_db_pool_max_connections",
            "Most connections the asyncpg pool may open",
            registry=self.registry,
        ).set_function(_stat(pool_stats, "max"))
        # labelled children, looked up once: ``labels()`` costs more than the update itself
        self._counted: dict[tuple[str, int], Any] = {}
        self._timed: dict[str, Any] = {}

    def observe_request(self, source: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency; ``source`` must be of bounded variety."""
        counter = self._counted.get((source, status))
        if counter is None:
            counter = self._counted[(source, status)] = self.requests.labels(source, str(status))
        counter.inc()
        timer = self._timed.get(source)
        if timer is None:
            timer = self._timed[source] = self.latency.labels(source)
        timer.observe(seconds)

    def connection_refused(self, reason: str) -> None:
        self.connections_closed.labels(reason).inc()


def _stat(stats: Callable[[], dict[str, int]], key: str) -> Callable[[], float]:
    return lambda: float(stats()[key])
