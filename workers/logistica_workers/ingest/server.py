"""``logistica ingest``: wire sources, database and HTTP together, then serve until SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from logistica_workers.api.ingest_config import IngestSource
from logistica_workers.db.pool import Database
from logistica_workers.ingest.app import IngestSettings, IngestWorker, build_app
from logistica_workers.runtime.http import serve


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
    return await serve(
        build_app(worker),  # its cleanup_ctx starts and stops the pool, writer and key watchers
        worker,
        host,
        port,
        None,
        started,
        stop,
        limits=settings.limits,
        on_drain=worker.start_drain,
        on_refused=worker.metrics.connection_refused,
    )
