"""``logistica events``: the feed service, served until SIGTERM like the other servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from logistica_workers.db.pool import Database
from logistica_workers.events.app import EventsService, build_app
from logistica_workers.events.settings import EventsSettings
from logistica_workers.runtime.http import serve
from logistica_workers.runtime.shutdown import ShutdownClock


async def run_events(
    dsn: str,
    host: str,
    port: int,
    settings: EventsSettings | None = None,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    settings = settings or EventsSettings()
    # the feed's statements have one right plan (walk the (tx, id) indexes of the partitions
    # in order, stop at the limit); a custom plan for a cursor far back estimates most of the
    # table and sorts it instead: 4x slower reads, measured (README, "Measured")
    db = Database(
        dsn,
        min_size=2,
        max_size=settings.pool_size,
        server_settings={"plan_cache_mode": "force_generic_plan"},
    )
    service = EventsService(db, settings)
    service.start()

    async def flush(clock: ShutdownClock) -> None:
        with clock.phase("close-pool"):
            await service.close(max(0.1, clock.remaining()))

    return await serve(
        build_app(service),
        service,
        host,
        port,
        flush,
        started,
        stop,
        before_drain=service.release_waiters,
    )
