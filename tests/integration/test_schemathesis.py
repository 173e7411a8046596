"""schemathesis against the live ingest, route and events services, from the checked-in
``docs/openapi/*.json``: no server error and no answer that the document does not describe.
Bounded: a fixed number of examples per operation and a time cap per service."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from logistica_workers.db.migrate import migrate
from logistica_workers.events.settings import EventsSettings
from logistica_workers.routing.service import RouteSettings, run_route
from tests.support.events import insert, running_events
from tests.support.fuzz import schemathesis
from tests.support.ingest import running_worker, source, wait_ready

TOKEN = "fuzz-t0ken"


@pytest.fixture(autouse=True)
def no_drain_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGISTICA_DRAIN_DELAY_SECONDS", "0")


async def test_ingest_conforms(database_url: str) -> None:
    await migrate(database_url)
    sources = [
        source("gh", "github"),
        source("std", "standard", {"k": "whsec_c3RhbmRhcmQta2V5LTAwMQ=="}),
    ]
    async with running_worker(sources, database_url) as w:
        run = await schemathesis("ingest.json", w.url)
    assert run.returncode == 0, run.output


async def test_route_conforms() -> None:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    settings = RouteSettings(max_concurrent=2, default_time_limit=1, max_time_limit=1, max_stops=50)
    task = asyncio.create_task(run_route("127.0.0.1", 0, settings, port.set_result, stop))
    url = f"http://127.0.0.1:{await asyncio.wait_for(port, 10)}"
    try:
        await wait_ready(url, 10)
        run = await schemathesis("route.json", url, max_examples=15)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    assert run.returncode == 0, run.output


async def test_events_conforms(database_url: str) -> None:
    await migrate(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await insert(conn, "gh", "e1", "e2", "e3")
    finally:
        await conn.close()
    async with running_events(database_url, EventsSettings(token=TOKEN)) as service:
        run = await schemathesis(
            "events.json", service.url, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert run.returncode == 0, run.output


async def test_the_longest_documented_feed_query_reaches_the_handler(database_url: str) -> None:
    """Found by schemathesis: an ``after`` cursor of any length (documented as any string) made
    the request line exceed aiohttp's 8190-byte limit, answered in text/plain. The document now
    bounds every parameter, and the longest query it allows is answered by the service."""
    import aiohttp

    await migrate(database_url)
    widest = "\U0010ffff" * 253  # 4 UTF-8 bytes, 12 once percent-encoded
    async with (
        running_events(database_url, EventsSettings(token=TOKEN)) as service,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        query = {
            "after": "9" * 20 + "-" + "9" * 19,
            "namespace": widest,
            "source": widest,
            "limit": "1",
            "wait": "0",
        }
        async with http.get(f"{service.url}/events", params=query) as resp:
            assert resp.status == 400, await resp.text()  # out of range, said as JSON
            assert (await resp.json())["field"] == "after"
        query["after"] = "1-1"
        async with http.get(f"{service.url}/events", params=query) as resp:
            assert resp.status == 200 and await resp.json() == []
        lag = f"{service.url}/events/consumers/{'c' * 128}/lag"
        async with http.get(lag, params={"namespace": widest, "source": widest}) as resp:
            assert resp.status == 404 and (await resp.json())["error"] == "unknown_consumer"


async def test_a_nul_in_a_filter_is_a_bad_parameter_not_a_database_error(
    database_url: str,
) -> None:
    """Found by schemathesis: ``namespace=a%00b`` reached Postgres, which cannot store NUL in
    text, and the service answered 503 database_unavailable."""
    import aiohttp

    await migrate(database_url)
    async with (
        running_events(database_url, EventsSettings(token=TOKEN)) as service,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        for url in (f"{service.url}/events", f"{service.url}/events/consumers/c/lag"):
            for field in ("namespace", "source"):
                async with http.get(url, params={field: "a\x00b"}) as resp:
                    body = await resp.json()
                    assert (resp.status, body["field"]) == (400, field), body
                    assert "NUL" in body["message"]


async def test_an_over_long_request_line_is_answered_in_json_by_every_server(
    database_url: str,
) -> None:
    """Found by schemathesis: aiohttp answers a request line over 8190 bytes itself, in
    text/plain; every server now answers it (and its other protocol errors) as documented."""
    import aiohttp

    await migrate(database_url)
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    route = asyncio.create_task(run_route("127.0.0.1", 0, RouteSettings(), port.set_result, stop))
    route_url = f"http://127.0.0.1:{await asyncio.wait_for(port, 10)}"
    try:
        async with (
            running_events(database_url, EventsSettings(token=TOKEN)) as events,
            running_worker([source("gh", "github")], database_url) as ingest,
            aiohttp.ClientSession() as http,
        ):
            await wait_ready(route_url, 10)
            for url in (f"{events.url}/events", f"{ingest.url}/ingest/gh", f"{route_url}/route"):
                async with http.get(url, params={"namespace": "x" * 9000}) as resp:
                    assert resp.status == 400
                    assert resp.content_type == "application/json"
                    body = await resp.json()
                    assert body["error"] == "bad_request", body
                    assert "too long" in body["message"]
    finally:
        stop.set()
        assert await asyncio.wait_for(route, 30) == 0
