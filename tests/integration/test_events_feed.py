"""The event feed against a real Postgres: commit order, held-open and rolled-back
transactions, long-poll wake-ups, formats, and bad parameters."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from logistica_workers.events.settings import EventsSettings
from tests.support.events import RunningEvents, get_events, insert, running_events
from tests.support.ingest import running_worker, signed, source


@pytest.fixture
async def feed(dsn: str) -> AsyncIterator[RunningEvents]:
    async with running_events(dsn, EventsSettings(max_wait=30)) as service:
        yield service


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(dsn)
    yield c
    await c.close()


async def test_events_come_in_cursor_order_with_every_field(
    feed: RunningEvents, http: aiohttp.ClientSession, conn: asyncpg.Connection
) -> None:
    await insert(conn, "shop", "a", "b")
    await insert(conn, "carrier", "c", ns="fleet")
    events, last = await get_events(http, feed.url)
    assert [e["eventId"] for e in events] == ["a", "b", "c"]
    assert set(events[0]) == {
        "cursor",
        "source",
        "namespace",
        "eventId",
        "receivedAt",
        "headers",
        "payload",
    }
    assert events[2]["source"] == "carrier" and events[2]["namespace"] == "fleet"
    assert events[0]["payload"] == {"id": "a"} and events[0]["headers"] == {}
    received = dt.datetime.fromisoformat(events[0]["receivedAt"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - received).total_seconds()) < 60
    assert last == events[-1]["cursor"]
    # after the last cursor: nothing; filters; limit pages
    assert (await get_events(http, feed.url, after=last))[0] == []
    assert [e["eventId"] for e in (await get_events(http, feed.url, source="shop"))[0]] == [
        "a",
        "b",
    ]
    only = (await get_events(http, feed.url, namespace="fleet"))[0]
    assert [e["eventId"] for e in only] == ["c"]
    page, cur = await get_events(http, feed.url, limit=2)
    assert [e["eventId"] for e in page] == ["a", "b"]
    assert [e["eventId"] for e in (await get_events(http, feed.url, after=cur))[0]] == ["c"]


async def test_json_lines_by_accept(
    feed: RunningEvents, http: aiohttp.ClientSession, conn: asyncpg.Connection
) -> None:
    await insert(conn, "shop", "x", "y")
    async with http.get(f"{feed.url}/events", headers={"Accept": "application/x-ndjson"}) as resp:
        assert resp.headers["Content-Type"].startswith("application/x-ndjson")
        lines = (await resp.text()).splitlines()
    assert [json.loads(line)["eventId"] for line in lines] == ["x", "y"]


async def test_an_open_older_transaction_holds_back_later_commits(
    feed: RunningEvents, http: aiohttp.ClientSession, conn: asyncpg.Connection, dsn: str
) -> None:
    older = await asyncpg.connect(dsn)
    try:
        tx = older.transaction()
        await tx.start()
        await insert(older, "shop", "older")  # takes the lower transaction id, stays open
        await insert(conn, "shop", "newer")  # commits first
        events, last = await get_events(http, feed.url)
        assert events == [] and last == "0-0"  # "newer" would be skipped by an id cursor
        await tx.commit()
    finally:
        await older.close()
    events, _ = await get_events(http, feed.url)
    assert [e["eventId"] for e in events] == ["older", "newer"]


async def test_rolled_back_events_are_never_served(
    feed: RunningEvents, http: aiohttp.ClientSession, conn: asyncpg.Connection
) -> None:
    tx = conn.transaction()
    await tx.start()
    await insert(conn, "shop", "ghost")
    await tx.rollback()
    await insert(conn, "shop", "real")
    events, _ = await get_events(http, feed.url)
    assert [e["eventId"] for e in events] == ["real"]


async def test_a_long_poll_is_woken_by_a_commit(
    feed: RunningEvents, http: aiohttp.ClientSession, conn: asyncpg.Connection
) -> None:
    waiter = asyncio.create_task(get_events(http, feed.url, wait=20))
    await asyncio.sleep(0.3)  # let the reader park in its long poll
    assert not waiter.done()
    t0 = time.monotonic()
    await insert(conn, "shop", "wake")
    events, _ = await asyncio.wait_for(waiter, 5)
    assert [e["eventId"] for e in events] == ["wake"]
    assert time.monotonic() - t0 < 1.0  # a NOTIFY, not the 20 s deadline


async def test_a_long_poll_ends_empty_at_its_deadline(
    feed: RunningEvents, http: aiohttp.ClientSession
) -> None:
    t0 = time.monotonic()
    events, last = await get_events(http, feed.url, wait=0.5, after="5-5")
    assert events == [] and last == "5-5"
    assert 0.45 < time.monotonic() - t0 < 3


@pytest.mark.parametrize("ending", ["commit", "rollback"])
async def test_a_waiter_held_behind_a_transaction_without_events_is_still_woken(
    feed: RunningEvents,
    http: aiohttp.ClientSession,
    conn: asyncpg.Connection,
    dsn: str,
    ending: str,
) -> None:
    """The blocker inserts no event, so it sends no NOTIFY when it ends: the waiter must
    still notice that the rows it was held from became readable."""
    blocker = await asyncpg.connect(dsn)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("CREATE TEMP TABLE IF NOT EXISTS t (x int)")
        await blocker.execute("INSERT INTO t VALUES (1)")  # holds a transaction id
        waiter = asyncio.create_task(get_events(http, feed.url, wait=20))
        await insert(conn, "shop", "held")  # commits, NOTIFYs, but is behind the blocker
        await asyncio.sleep(0.5)
        assert not waiter.done()
        t0 = time.monotonic()
        await (tx.commit() if ending == "commit" else tx.rollback())
        events, _ = await asyncio.wait_for(waiter, 5)
        assert [e["eventId"] for e in events] == ["held"]
        assert time.monotonic() - t0 < 0.5
    finally:
        await blocker.close()


async def test_events_stored_by_the_ingest_worker_reach_a_waiting_reader(
    feed: RunningEvents, http: aiohttp.ClientSession, dsn: str
) -> None:
    src = source("gh", "github")
    async with running_worker([src], dsn) as worker:
        waiter = asyncio.create_task(get_events(http, feed.url, wait=20, source="gh"))
        await asyncio.sleep(0.2)
        body, headers = signed(src, {"action": "opened"}, delivery_id="d-1")
        async with http.post(f"{worker.url}/ingest/gh", data=body, headers=headers) as resp:
            assert resp.status == 202
        events, _ = await asyncio.wait_for(waiter, 5)
    assert [(e["eventId"], e["payload"]) for e in events] == [("d-1", {"action": "opened"})]
    assert "x-github-delivery" in {k.lower() for k in events[0]["headers"]}


async def test_sigterm_releases_long_polls(dsn: str, http: aiohttp.ClientSession) -> None:
    async with running_events(dsn) as service:
        waiter = asyncio.create_task(get_events(http, service.url, wait=50))
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        service.stop.set()
        events, _ = await asyncio.wait_for(waiter, 5)
        assert events == []
        assert await asyncio.wait_for(service.task, 10) == 0
        assert time.monotonic() - t0 < 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("after=abc", "after"),
        ("after=1-", "after"),
        ("after=99999999999999999999999-1", "after"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=100001", "limit"),
        ("wait=-1", "wait"),
        ("wait=nan", "wait"),
        ("wait=31", "wait"),
        ("source=", "source"),
        ("namespace=", "namespace"),
        ("consumer=has%20space", "consumer"),
        ("after=1-1&consumer=a", "after"),
        ("limit=1&limit=2", "limit"),
        ("color=red", "color"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    feed: RunningEvents, http: aiohttp.ClientSession, query: str, field: str
) -> None:
    async with http.get(f"{feed.url}/events?{query}") as resp:
        body = await resp.json()
        assert resp.status == 400, body
    assert body["error"] == "bad_parameter" and body["field"] == field
    assert field in body["message"] or field == "color"


async def test_a_token_guards_the_feed_but_not_the_probes(
    dsn: str, http: aiohttp.ClientSession
) -> None:
    async with running_events(dsn, EventsSettings(token="s3cret")) as service:
        async with http.get(f"{service.url}/events") as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer nope"}
        async with http.get(f"{service.url}/events", headers=wrong) as resp:
            assert resp.status == 401
        right = {"Authorization": "Bearer s3cret"}
        async with http.get(f"{service.url}/events", headers=right) as resp:
            assert resp.status == 200
        async with http.get(f"{service.url}/readyz") as resp:
            assert resp.status == 200
        async with http.get(f"{service.url}/metrics") as resp:
            assert "logistica_events_requests" in await resp.text()


async def test_without_a_database_the_service_is_unready_and_answers_503(
    http: aiohttp.ClientSession,
) -> None:
    from logistica_workers.db.embedded import free_port
    from logistica_workers.events.server import run_events

    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    task = asyncio.create_task(run_events(dead, "127.0.0.1", 0, started=port.set_result, stop=stop))
    url = f"http://127.0.0.1:{await asyncio.wait_for(port, 10)}"
    try:
        async with http.get(f"{url}/readyz") as resp:
            body = await resp.json()
            assert resp.status == 503 and "database unreachable" in body["message"]
        async with http.get(f"{url}/events?wait=5") as resp:
            assert resp.status == 503 and resp.headers["Retry-After"] == "1"
        async with http.get(f"{url}/healthz") as resp:
            assert resp.status == 200
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
