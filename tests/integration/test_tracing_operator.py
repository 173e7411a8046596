"""The operator's reconcile spans and a RoutingJob's trace context, exported to a real OTLP
receiver: admission (reconcile) -> solver Job start -> the solver's span from TRACEPARENT."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest

from logistica_operator import metrics
from logistica_operator.builders import solver_job
from logistica_operator.config import OperatorConfig
from logistica_workers.api import RoutingJobSpec
from logistica_workers.runtime import tracing
from tests.support.otlp import Receiver, otlp_receiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TP = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    async with otlp_receiver() as r:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        assert tracing.configure("logistica-operator")
        try:
            yield r
        finally:
            await asyncio.to_thread(tracing.shutdown, 5.0)


def body(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "rj", "namespace": "ns", "uid": "u1"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta}


@metrics.reconciled("RoutingJob", "accept")
async def accept(body: dict[str, Any], patch: kopf.Patch, **_: Any) -> str | None:
    return tracing.traceparent()


async def test_first_reconcile_starts_the_trace_and_records_it(receiver: Receiver) -> None:
    patch = kopf.Patch()
    inner = await accept(body=body(), patch=patch)
    assert inner is not None
    written = patch["metadata"]["annotations"][tracing.TRACEPARENT_ANNOTATION]
    assert written == inner  # the annotation names the reconcile span itself
    span = await receiver.wait_for(lambda s: s.name == "reconcile RoutingJob accept")
    assert written.split("-")[1:3] == [span.trace_id, span.span_id]
    assert span.parent_id == ""  # a new trace
    assert span.attributes["k8s.object.name"] == "rj"


async def test_reconcile_joins_the_annotated_trace(receiver: Receiver) -> None:
    patch = kopf.Patch()
    await accept(body=body({tracing.TRACEPARENT_ANNOTATION: TP}), patch=patch)
    assert "metadata" not in patch  # already annotated: nothing to write
    span = await receiver.wait_for(lambda s: s.name == "reconcile RoutingJob accept")
    assert (span.trace_id, span.parent_id) == (TRACE_ID, "00f067aa0ba902b7")


async def test_a_failing_reconcile_span_is_an_error(receiver: Receiver) -> None:
    @metrics.reconciled("RoutingJob", "broken")
    async def broken(**_: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await broken(body=body(), patch=kopf.Patch())
    span = await receiver.wait_for(lambda s: s.name == "reconcile RoutingJob broken")
    assert span.status == 2


async def test_the_solve_span_continues_the_jobs_traceparent(receiver: Receiver) -> None:
    """The solver process, started as the Job starts it (env TRACEPARENT from the builder),
    exports its span into the RoutingJob's trace. The RoutingJob does not exist (no cluster
    here), so the solve fails fast; the span is still exported, marked as an error."""
    job = solver_job(
        "rj",
        "ns",
        "u1",
        RoutingJobSpec.model_validate(
            {"problemFrom": {"configMapKeyRef": {"name": "p", "key": "k"}}}
        ),
        1,
        OperatorConfig(),
        TP,
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env = {
        **os.environ,
        "TRACEPARENT": env["TRACEPARENT"],
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "KUBECONFIG": "/nonexistent",
    }
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "logistica_workers", *container["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0, proc.stderr
    span = await receiver.wait_for(lambda s: s.name == "solve RoutingJob", 10)
    assert (span.trace_id, span.parent_id) == (TRACE_ID, "00f067aa0ba902b7")
    assert span.service == "logistica-solve"
    assert span.attributes["logistica.routingjob"] == "ns/rj"
