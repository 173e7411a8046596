"""OpenTelemetry against a real OTLP/HTTP receiver (tests/support/otlp.py): the SDK exports
protobuf over HTTP exactly as to a collector; nothing of the SDK is mocked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from logistica_workers.routing.service import RouteSettings, run_route
from logistica_workers.runtime import tracing
from logistica_workers.runtime.logging import JsonFormatter
from tests.support.ingest import running_worker, signed, source, wait_ready
from tests.support.otlp import Receiver, otlp_receiver
from tests.support.problems import city_problem

GITHUB = source("gh", "github")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"


@pytest.fixture(autouse=True)
def no_drain_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGISTICA_DRAIN_DELAY_SECONDS", "0")


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    """The receiver, and tracing configured to export to it (as `logistica ingest` does)."""
    async with otlp_receiver() as r:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.url)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "ingest-under-test")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")  # only the shutdown flush sends
        assert tracing.configure("logistica-test")
        try:
            yield r
        finally:
            await asyncio.to_thread(tracing.shutdown, 5.0)


async def test_signed_webhook_is_one_trace_request_batch_insert(
    receiver: Receiver, migrated: str
) -> None:
    async with running_worker([GITHUB], migrated) as w, aiohttp.ClientSession() as http:
        body, headers = signed(GITHUB, {"action": "opened"}, delivery_id="traced-1")
        async with http.post(
            f"{w.url}/ingest/gh", data=body, headers=headers | {"traceparent": TRACEPARENT}
        ) as resp:
            assert resp.status == 202, await resp.text()
        assert receiver.requests == 0  # nothing exported before the SIGTERM-path flush
    # the worker's shutdown flushed the spans (the schedule delay is a minute)
    request = await receiver.wait_for(lambda s: s.name == "POST /ingest/{source}", 5)
    assert request.kind == "SERVER"
    assert request.service == "ingest-under-test"
    assert (request.trace_id, request.parent_id) == (TRACE_ID, CLIENT_SPAN)  # traceparent
    assert request.attributes["http.response.status_code"] == 202
    batch = await receiver.wait_for(lambda s: s.name == "ingest batch", 1)
    assert batch.trace_id == TRACE_ID and batch.parent_id == request.span_id
    assert (TRACE_ID, request.span_id) in batch.links
    assert batch.attributes["logistica.batch.rows"] == 1
    insert = await receiver.wait_for(lambda s: s.name == "INSERT external_events", 1)
    assert insert.trace_id == TRACE_ID and insert.parent_id == batch.span_id
    assert insert.kind == "CLIENT"
    assert insert.attributes["db.system.name"] == "postgresql"
    # probes and scrapes are not traced
    assert not [s for s in receiver.spans if s.name in ("GET /readyz", "GET /healthz")]


async def test_a_batch_links_every_request_it_carries(receiver: Receiver, migrated: str) -> None:
    from logistica_workers.ingest.app import IngestSettings

    settings = IngestSettings.from_env()
    settings.max_wait = 0.2  # a long window: the concurrent requests share one batch
    async with running_worker([GITHUB], migrated, settings) as w, aiohttp.ClientSession() as http:

        async def send(i: int) -> None:
            body, headers = signed(GITHUB, {"n": i}, delivery_id=f"linked-{i}")
            async with http.post(f"{w.url}/ingest/gh", data=body, headers=headers) as resp:
                assert resp.status == 202

        await asyncio.gather(*(send(i) for i in range(5)))
    requests = [s for s in receiver.spans if s.name == "POST /ingest/{source}"]
    assert len(requests) == 5
    batches = [s for s in receiver.spans if s.name == "ingest batch"]
    linked = {span_id for b in batches for _, span_id in b.links}
    assert linked == {s.span_id for s in requests}  # every request is linked from its batch
    assert any(len(b.links) > 1 for b in batches), [len(b.links) for b in batches]
    for b in batches:  # each batch sits in the trace of the first request it carries
        assert (b.trace_id, b.parent_id) in {(s.trace_id, s.span_id) for s in requests}


async def test_post_route_is_a_server_span(receiver: Receiver) -> None:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    settings = RouteSettings(max_concurrent=1, default_time_limit=1, max_time_limit=1)
    task = asyncio.create_task(run_route("127.0.0.1", 0, settings, port.set_result, stop))
    url = f"http://127.0.0.1:{await asyncio.wait_for(port, 10)}"
    try:
        await wait_ready(url, 10)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{url}/route",
                json=city_problem(4, 1, seed=3),
                headers={"traceparent": TRACEPARENT},
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    span = await receiver.wait_for(lambda s: s.name == "POST /route", 5)
    assert (span.kind, span.trace_id, span.parent_id) == ("SERVER", TRACE_ID, CLIENT_SPAN)
    assert span.attributes["http.response.status_code"] == 200


async def test_log_lines_carry_the_span_ids(receiver: Receiver) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("logistica.test.tracing")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside")
        with tracing.span(tracing.tracer("logistica.test"), "work") as span:
            assert span is not None
            logger.info("inside")
            ctx = span.get_span_context()
    finally:
        logger.removeHandler(handler)
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert "trace_id" not in outside and "span_id" not in outside
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
    await asyncio.to_thread(tracing.shutdown, 5.0)
    exported = await receiver.wait_for(lambda s: s.name == "work", 5)
    assert (exported.trace_id, exported.span_id) == (inside["trace_id"], inside["span_id"])
