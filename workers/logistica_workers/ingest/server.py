"""``logistica ingest``: wire sources, database and HTTP together, then serve until SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from logistica_workers.api.ingest_config import IngestSource
from logistica_workers.db.pool import Database
from logistica_workers.ingest.app import IngestSettings, IngestWorker, build_app
from logistica_workers.runtime.http import serve
from logistica_workers.runtime.shutdown import ShutdownClock


async def run_ingest(
    sources: list[IngestSource],
    dsn: str,
    host: str,
    port: int,
    settings: IngestSettings | None = None,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    settings = settings or IngestSettings()
    db = Database(dsn, min_size=2, max_size=settings.pool_size)
    worker = IngestWorker(sources, db, settings)
    worker.start()

    async def flush(clock: ShutdownClock) -> None:
        with clock.phase("flush"):
            await worker.writer.close(clock.remaining() * 0.8)
        with clock.phase("close-pool"):
            await worker.stop_background()
            await db.close(max(0.1, clock.remaining()))

    return await serve(
        build_app(worker),
        worker,
        host,
        port,
        flush,
        started,
        stop,
        limits=settings.limits,
        on_drain=worker.start_drain,
        on_refused=worker.metrics.connection_refused,
    )
