"""Prometheus metrics of the operator, served at ``/metrics`` on its health port.

Counters and the histogram are updated by the handlers (``reconciled`` wraps them) and by
``kube.apply``; RoutingJob phases and the admission queue are read from the RoutingJob index
at scrape time, so they are right even when no handler has run for a while.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import ParamSpec, TypeVar

import kopf
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from logistica_operator import traces
from logistica_workers.runtime import tracing

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "logistica_operator_reconciles_total",
    "Handler runs by resource kind, handler and outcome (success, retry, error).",
    ["kind", "handler", "outcome"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "logistica_operator_reconcile_duration_seconds",
    "Handler run time by resource kind and handler.",
    ["kind", "handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
APPLIES = Counter(
    "logistica_operator_applies_total",
    "Server-side applies of owned objects by kind and outcome (ok, error).",
    ["kind", "outcome"],
    registry=REGISTRY,
)

PHASES = ("Pending", "Queued", "Running", "Suspended", "Succeeded", "Failed")

P = ParamSpec("P")
R = TypeVar("R")


def outcome_of(exc: BaseException | None) -> str:
    """success, retry (kopf will run the handler again) or error."""
    if exc is None:
        return "success"
    if isinstance(exc, kopf.TemporaryError):
        return "retry"
    return "error"


# handlers that would run every second for every object (a span each would drown the traces);
# none since RoutingJobs are followed by Job events instead of a per-object timer
UNTRACED: frozenset[tuple[str, str]] = frozenset()


def reconciled(
    kind: str, handler: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Count and time each run of an async kopf handler (apply below the ``@kopf.*`` line)."""

    def wrap(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            failure: BaseException | None = None
            body = kwargs.get("body")
            with tracing.span(
                None if (kind, handler) in UNTRACED else tracing.tracer("logistica.operator"),
                f"reconcile {kind} {handler}",
                kind=SpanKind.INTERNAL,
                context=traces.parent(body),
                attributes=traces.attributes(kind, handler, body),
            ) as span:
                try:
                    result = await fn(*args, **kwargs)
                    traces.remember(kind, body, kwargs.get("patch"))
                    return result
                except BaseException as exc:
                    failure = exc
                    if span is not None and outcome_of(exc) != "success":
                        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
                finally:
                    RECONCILE_SECONDS.labels(kind, handler).observe(time.perf_counter() - started)
                    RECONCILES.labels(kind, handler, outcome_of(failure)).inc()

        return run

    return wrap


def applied(kind: str, ok: bool) -> None:
    APPLIES.labels(kind, "ok" if ok else "error").inc()


View = Mapping[tuple[str, str], tuple[str, str, bool]]


class RoutingJobCollector(Collector):
    """RoutingJobs by phase and the admission queue, from the latest RoutingJob view."""

    def __init__(self) -> None:
        self.view: Callable[[], View] | None = None

    def watch(self, view: Callable[[], View]) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        by_phase = GaugeMetricFamily(
            "logistica_operator_routingjobs",
            "RoutingJobs known to this operator by status phase.",
            labels=["phase"],
        )
        queue = GaugeMetricFamily(
            "logistica_operator_admission_queue_length",
            "RoutingJobs waiting for a solver slot (Pending or Queued, not suspended).",
        )
        counts = dict.fromkeys(PHASES, 0)
        waiting = 0
        for _created, phase, suspended in (self.view() if self.view else {}).values():
            counts[phase] = counts.get(phase, 0) + 1
            waiting += phase in ("Pending", "Queued") and not suspended
        for phase, n in counts.items():
            by_phase.add_metric([phase], n)
        queue.add_metric([], waiting)
        return [by_phase, queue]


ROUTING_JOBS = RoutingJobCollector()
REGISTRY.register(ROUTING_JOBS)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample's current value (0 when absent): for tests and the CLI."""
    value = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value
