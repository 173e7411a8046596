"""The operator's metrics: handler outcomes and durations, applies, RoutingJob phases and the
admission queue, and the health port that serves them."""

from __future__ import annotations

import asyncio

import kopf
import pytest
from aiohttp.test_utils import TestClient, TestServer

from logistica_operator import health, metrics


def count(kind: str, handler: str, outcome: str) -> float:
    return metrics.sample(
        "logistica_operator_reconciles_total",
        {"kind": kind, "handler": handler, "outcome": outcome},
    )


def observed(kind: str, handler: str) -> float:
    return metrics.sample(
        "logistica_operator_reconcile_duration_seconds_count", {"kind": kind, "handler": handler}
    )


async def test_reconciled_counts_each_outcome_and_times_every_run() -> None:
    calls: list[str] = []

    @metrics.reconciled("Test", "h")
    async def handler(what: str) -> str:
        calls.append(what)
        await asyncio.sleep(0)
        if what == "retry":
            raise kopf.TemporaryError("later", delay=1)
        if what == "error":
            raise ValueError("broken")
        return what

    before = {o: count("Test", "h", o) for o in ("success", "retry", "error")}
    runs = observed("Test", "h")
    assert await handler(what="ok") == "ok"
    with pytest.raises(kopf.TemporaryError):
        await handler(what="retry")
    with pytest.raises(ValueError):
        await handler(what="error")
    with pytest.raises(kopf.PermanentError):
        await metrics.reconciled("Test", "h")(_permanent)()
    assert calls == ["ok", "retry", "error"]
    assert count("Test", "h", "success") == before["success"] + 1
    assert count("Test", "h", "retry") == before["retry"] + 1
    assert count("Test", "h", "error") == before["error"] + 2
    assert observed("Test", "h") == runs + 4
    assert handler.__name__ == "handler"  # kopf derives handler ids from the name


async def _permanent() -> None:
    raise kopf.PermanentError("never")


def test_applies_are_counted_by_kind_and_outcome() -> None:
    ok = metrics.sample("logistica_operator_applies_total", {"kind": "Job", "outcome": "ok"})
    bad = metrics.sample("logistica_operator_applies_total", {"kind": "Job", "outcome": "error"})
    metrics.applied("Job", ok=True)
    metrics.applied("Job", ok=True)
    metrics.applied("Job", ok=False)
    assert metrics.sample("logistica_operator_applies_total", {"kind": "Job", "outcome": "ok"}) == (
        ok + 2
    )
    assert (
        metrics.sample("logistica_operator_applies_total", {"kind": "Job", "outcome": "error"})
        == bad + 1
    )


def test_routingjob_phases_and_queue_are_read_from_the_current_view() -> None:
    view = {
        ("a", "1"): ("t1", "Running", False),
        ("a", "2"): ("t2", "Queued", False),
        ("a", "3"): ("t3", "Pending", False),
        ("b", "4"): ("t4", "Pending", True),  # suspended before its first phase change
        ("b", "5"): ("t5", "Succeeded", False),
    }
    metrics.ROUTING_JOBS.watch(lambda: view)

    def phase(p: str) -> float:
        return metrics.sample("logistica_operator_routingjobs", {"phase": p})

    assert [phase(p) for p in metrics.PHASES] == [2, 1, 1, 0, 1, 0]
    assert metrics.sample("logistica_operator_admission_queue_length") == 2
    view[("a", "2")] = ("t2", "Running", False)  # read at scrape time: no stale value
    del view[("b", "5")]
    assert phase("Running") == 2 and phase("Queued") == 0 and phase("Succeeded") == 0
    assert metrics.sample("logistica_operator_admission_queue_length") == 1


async def test_health_port_serves_healthz_after_startup_and_prometheus_metrics() -> None:
    ready = asyncio.Event()
    metrics.ROUTING_JOBS.watch(lambda: {("n", "j"): ("t", "Failed", False)})
    async with TestClient(TestServer(health.health_app(ready))) as client:
        resp = await client.get("/healthz")
        assert resp.status == 503
        ready.set()
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
        assert 'logistica_operator_routingjobs{phase="Failed"} 1.0' in text
        assert "# TYPE logistica_operator_reconciles_total counter" in text
        assert "# TYPE logistica_operator_reconcile_duration_seconds histogram" in text
        assert (await client.get("/nope")).status == 404
