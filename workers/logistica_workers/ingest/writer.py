"""Group commit: requests waiting to be stored share one transaction.

Each request puts a ``PendingEvent`` in a bounded queue and awaits its future. A few writer
tasks each take what is queued (up to ``max_rows``, waiting at most ``max_wait`` for more once
the first arrived), insert it with one statement in one transaction, and resolve each future
after COMMIT: ``Stored`` or ``Duplicate``, or an exception that becomes a 503. A failed batch is
retried row by row so that one bad row fails only its own request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from logistica_workers.db.pool import Database

log = logging.getLogger("logistica.ingest.writer")


@dataclass(frozen=True)
class Stored:
    id: int


@dataclass(frozen=True)
class Duplicate:
    id: int | None


Outcome = Stored | Duplicate


class QueueFull(Exception):
    pass


class StoreUnavailable(Exception):
    pass


@dataclass(eq=False, slots=True)
class PendingEvent:
    namespace: str
    source: str
    event_id: str
    headers_json: str
    payload_json: str
    future: asyncio.Future[Outcome]

    @property
    def key(self) -> tuple[str, str, bytes]:
        """What the unique constraint compares: the SHA-256 of the key, so any length fits."""
        return (self.namespace, self.source, event_digest(self.event_id))


def event_digest(event_id: str) -> bytes:
    return hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).digest()


_INSERT = """
INSERT INTO external_events (namespace, source, event_id, event_digest, headers, payload)
SELECT n, s, e, d, h::jsonb, p::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[])
  AS t(n, s, e, d, h, p)
ON CONFLICT (namespace, source, event_digest) DO NOTHING
RETURNING id, namespace, source, event_digest
"""
_EXISTING = """
SELECT id, namespace, source, event_digest FROM external_events
WHERE (namespace, source, event_digest) IN (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]))
"""

_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


class GroupCommitWriter:
    def __init__(
        self,
        db: Database,
        *,
        max_rows: int = 256,
        max_wait: float = 0.002,
        max_queue: int = 4096,
        writers: int = 3,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.queue: asyncio.Queue[PendingEvent] = asyncio.Queue(max_queue)
        self.writers = writers
        self.on_batch = on_batch
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"writer-{i}") for i in range(self.writers)
        ]

    def submit(self, event: PendingEvent) -> asyncio.Future[Outcome]:
        if self._closing:
            raise StoreUnavailable("the worker is shutting down")
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            raise QueueFull from None
        return event.future

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    async def _collect(self) -> list[PendingEvent]:
        first = await self.queue.get()
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_rows:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            fetched = await self._collect()
            try:
                live = [e for e in fetched if not e.future.done()]  # skip requests given up
                if live:
                    await self._write(live)
            finally:
                for _ in fetched:
                    self.queue.task_done()

    async def _write(self, batch: list[PendingEvent]) -> None:
        pool = self.db.pool
        if pool is None or not self.db.reachable:
            self._fail(batch, StoreUnavailable("database unreachable"))
            return
        try:
            results = await self._insert(pool, batch)
        except _CONNECTION_ERRORS as exc:
            self.db.mark_unreachable()
            log.warning(
                "batch failed: database unreachable",
                extra={"rows": len(batch), "error": type(exc).__name__},
            )
            self._fail(batch, StoreUnavailable("database unreachable"))
            return
        except asyncpg.PostgresError:
            if len(batch) == 1:
                log.exception("row rejected by the database", extra={"source": batch[0].source})
                self._fail(batch, StoreUnavailable("the database rejected the event"))
                return
            # isolate the offending row: each row alone, so only it fails
            for event in batch:
                await self._write([event])
            return
        if self.on_batch:
            self.on_batch(len(batch))
        for event, outcome in results:
            if not event.future.done():
                event.future.set_result(outcome)

    async def _insert(
        self, pool: asyncpg.Pool, batch: list[PendingEvent]
    ) -> list[tuple[PendingEvent, Outcome]]:
        keys = [e.key for e in batch]
        unique: dict[tuple[str, str, bytes], PendingEvent] = {}
        for k, e in zip(keys, batch, strict=True):
            unique.setdefault(k, e)
        cols = list(
            zip(
                *[
                    (e.namespace, e.source, e.event_id, k[2], e.headers_json, e.payload_json)
                    for k, e in unique.items()
                ],
                strict=True,
            )
        )
        async with pool.acquire(timeout=5) as conn:
            # one statement in autocommit is one transaction: committed (and, with
            # synchronous_commit on, flushed) when fetch returns. No BEGIN/COMMIT round trips.
            rows = await conn.fetch(_INSERT, *[list(c) for c in cols])
            inserted = {
                (r["namespace"], r["source"], r["event_digest"]): int(r["id"]) for r in rows
            }
            missing = [k for k in unique if k not in inserted]
            existing: dict[tuple[str, str, bytes], int] = {}
            # ON CONFLICT DO NOTHING waited for any concurrent insert of these keys to commit,
            # so a fresh snapshot sees every row that made this batch's keys duplicates
            if missing:
                m = list(zip(*missing, strict=True))
                for r in await conn.fetch(_EXISTING, list(m[0]), list(m[1]), list(m[2])):
                    existing[(r["namespace"], r["source"], r["event_digest"])] = int(r["id"])
        # committed: the first request of each new key stored it, every other one is a duplicate
        out: list[tuple[PendingEvent, Outcome]] = []
        for key, event in zip(keys, batch, strict=True):
            if key in inserted:
                row_id = inserted[key]
                first = unique[key] is event
                out.append((event, Stored(row_id) if first else Duplicate(row_id)))
            else:
                out.append((event, Duplicate(existing.get(key))))
        return out

    def _fail(self, batch: list[PendingEvent], exc: Exception) -> None:
        for event in batch:
            if not event.future.done():
                event.future.set_exception(exc)
                event.future.exception()  # mark retrieved: the request may have gone

    async def close(self, timeout: float) -> None:
        """Stop taking events, write everything queued, then stop the writers."""
        self._closing = True
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
        except TimeoutError:
            log.error("writer drain timed out", extra={"left": self.queue.qsize()})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self.queue.empty():
            self._fail([self.queue.get_nowait()], StoreUnavailable("the worker is shutting down"))
