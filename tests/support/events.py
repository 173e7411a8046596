"""Run the events service inside the test's event loop, and read its feed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from logistica_workers.events.server import run_events
from logistica_workers.events.settings import EventsSettings
from tests.support.ingest import wait_ready


@dataclass
class RunningEvents:
    url: str
    stop: asyncio.Event
    task: asyncio.Task[int]


@asynccontextmanager
async def running_events(
    dsn: str, settings: EventsSettings | None = None
) -> AsyncIterator[RunningEvents]:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_events(dsn, "127.0.0.1", 0, settings, started=port.set_result, stop=stop)
    )
    bound = await asyncio.wait_for(port, 10)
    service = RunningEvents(f"http://127.0.0.1:{bound}", stop, task)
    await wait_ready(service.url, 15)
    try:
        yield service
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def get_events(
    http: aiohttp.ClientSession, url: str, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """One feed read: the events and the Logistica-Cursor header."""
    query = {k: str(v) for k, v in params.items()}
    async with http.get(f"{url}/events", params=query) as resp:
        body = await resp.text()
        assert resp.status == 200, body
        return json.loads(body), resp.headers["Logistica-Cursor"]


async def insert(
    conn: asyncpg.Connection, source: str, *event_ids: str, ns: str = "default"
) -> None:
    await conn.execute(
        "INSERT INTO external_events (namespace, source, event_id, event_digest, payload)"
        " SELECT $1, $2, e, sha256(convert_to(e, 'UTF8')), jsonb_build_object('id', e)"
        " FROM unnest($3::text[]) AS e",
        ns,
        source,
        list(event_ids),
    )


@dataclass
class WriterLog:
    committed: list[str]
    rolled_back: list[str]


async def scrambled_writer(
    dsn: str,
    name: str,
    count: int,
    *,
    seed: int,
    hold_probability: float = 0.2,
    rollback_probability: float = 0.1,
    max_rows: int = 5,
) -> WriterLog:
    """Write ``count`` events in small transactions that commit out of id order: some are held
    open for a few milliseconds (so later transactions of other writers commit first), some
    roll back."""
    import random

    rng = random.Random(seed)
    log = WriterLog([], [])
    conn = await asyncpg.connect(dsn)
    try:
        n = 0
        while n < count:
            rows = [f"{name}-{n + i}" for i in range(min(rng.randint(1, max_rows), count - n))]
            n += len(rows)
            tx = conn.transaction()
            await tx.start()
            await insert(conn, name, *rows)
            if rng.random() < hold_probability:
                await asyncio.sleep(rng.uniform(0.001, 0.03))  # deliberately held open
            if rng.random() < rollback_probability:
                await tx.rollback()
                log.rolled_back += rows
            else:
                await tx.commit()
                log.committed += rows
    finally:
        await conn.close()
    return log


@dataclass
class Tail:
    """A consumer tailing the feed: every event it got, in order, across reconnects."""

    event_ids: list[str]
    cursors: list[str]
    reconnects: int = 0


async def tail(
    http: aiohttp.ClientSession,
    url: Callable[[], str],
    done: Callable[[int], bool],
    *,
    limit: int = 100,
    wait: float = 1.0,
    deadline: float = 60.0,
    after: str = "0-0",
    out: Tail | None = None,
) -> Tail:
    """Follow the feed from ``after`` until ``done(len(events))``; a connection error or a 503
    (the service restarting) is retried with the same cursor."""
    out = out or Tail([], [])
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    cursor = after
    while not done(len(out.event_ids)):
        if loop.time() > end:
            raise TimeoutError(f"tail got {len(out.event_ids)} events before its deadline")
        try:
            params = {"after": cursor, "limit": str(limit), "wait": str(wait)}
            async with http.get(f"{url()}/events", params=params) as resp:
                if resp.status == 503:
                    out.reconnects += 1
                    await asyncio.sleep(0.05)
                    continue
                assert resp.status == 200, await resp.text()
                batch = json.loads(await resp.read())
        except aiohttp.ClientError:
            out.reconnects += 1
            await asyncio.sleep(0.05)
            continue
        for e in batch:
            out.event_ids.append(e["eventId"])
            out.cursors.append(e["cursor"])
        if batch:
            cursor = batch[-1]["cursor"]
    return out
