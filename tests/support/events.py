"""Run the events service inside the test's event loop, and read its feed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
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
        "INSERT INTO external_events (namespace, source, event_id, payload)"
        " SELECT $1, $2, e, jsonb_build_object('id', e) FROM unnest($3::text[]) AS e",
        ns,
        source,
        list(event_ids),
    )
