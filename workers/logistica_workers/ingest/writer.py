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
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from opentelemetry.trace import Link, SpanContext, SpanKind

from logistica_workers.db.pool import Database
from logistica_workers.runtime import tracing

log = logging.getLogger("logistica.ingest.writer")


@dataclass(frozen=True)
class Stored:
    id: int


@dataclass(frozen=True)
class Duplicate:
    id: int | None


@dataclass(frozen=True)
class Replay:
    """The same body was stored under another key within the source's replay window."""

    id: int


Outcome = Stored | Duplicate | Replay


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
    replay_window: float = 0.0  # seconds; 0: no replay check
    body_digest: bytes | None = None  # SHA-256 of the body, set with a replay window
    span_context: SpanContext | None = None  # the request's span, when tracing is on

    @property
    def key(self) -> tuple[str, str, bytes]:
        """What the unique constraint compares: the SHA-256 of the key, so any length fits."""
        return (self.namespace, self.source, event_digest(self.event_id))


def event_digest(event_id: str) -> bytes:
    return hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).digest()


# external_events is partitioned by day: the idempotency key is unique through
# external_event_keys, claimed by a BEFORE INSERT trigger that skips a row whose key is taken
# (waiting, as ON CONFLICT does, for a concurrent claim to settle); see migration 0005.
_INSERT = """
INSERT INTO external_events (namespace, source, event_id, event_digest, headers, payload)
SELECT n, s, e, d, h::jsonb, p::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[])
  AS t(n, s, e, d, h, p)
ON CONFLICT DO NOTHING
RETURNING id, namespace, source, event_digest
"""
_EXISTING = """
SELECT id, namespace, source, event_digest FROM external_events
WHERE (namespace, source, event_digest) IN (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]))
"""

# a source with a replay window: one transaction per event, serialised per body digest by an
# advisory lock, so two replays of one body racing each other cannot both be stored
_GUARDED_DUPLICATE = """
SELECT id FROM external_events WHERE namespace = $1 AND source = $2 AND event_digest = $3
"""
_GUARDED_REPLAY = """
SELECT id FROM external_events
WHERE namespace = $1 AND source = $2 AND body_digest = $3
  AND received_at > now() - make_interval(secs => $4)
ORDER BY id LIMIT 1
"""
_GUARDED_INSERT = """
INSERT INTO external_events
  (namespace, source, event_id, event_digest, body_digest, headers, payload)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
ON CONFLICT DO NOTHING  -- the key claim: see _INSERT
RETURNING id
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
        self._tracer = tracing.tracer("logistica.ingest.writer")

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
        """The first event, then whatever else is queued once ``max_wait`` has passed: one
        timer per batch (a ``wait_for`` per further event would cost a task each)."""
        batch = [await self.queue.get()]
        self._take_queued(batch)
        if len(batch) < self.max_rows and self.max_wait > 0:
            await asyncio.sleep(self.max_wait)
            self._take_queued(batch)
        return batch

    def _take_queued(self, batch: list[PendingEvent]) -> None:
        while len(batch) < self.max_rows:
            try:
                batch.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                return

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
        if self._tracer is None:
            await self._write_batch(batch)
            return
        # one span per batch: a child of its first request's span (so that request's trace
        # reads request -> batch -> INSERT) and linked to every request span it carries
        contexts = [e.span_context for e in batch if e.span_context is not None]
        parent = tracing.parent_of(contexts[0]) if contexts else None
        with self._tracer.start_as_current_span(
            "ingest batch",
            context=parent,
            links=[Link(c) for c in contexts],
            attributes={"logistica.batch.rows": len(batch)},
        ):
            await self._write_batch(batch)

    def _db_span(self, operation: str, rows: int) -> tracing.SpanScope:
        return tracing.span(
            self._tracer,
            f"{operation} external_events",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "postgresql",
                "db.operation.name": operation,
                "db.collection.name": "external_events",
                "db.operation.batch.size": rows,
            },
        )

    async def _write_batch(self, batch: list[PendingEvent]) -> None:
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
                await self._write_batch([event])
            return
        if self.on_batch:
            self.on_batch(len(batch))
        for event, outcome in results:
            if not event.future.done():
                event.future.set_result(outcome)

    async def _insert(
        self, pool: asyncpg.Pool, batch: list[PendingEvent]
    ) -> list[tuple[PendingEvent, Outcome]]:
        plain = [e for e in batch if not e.replay_window]
        guarded = [e for e in batch if e.replay_window]
        async with pool.acquire(timeout=5) as conn:
            out = await self._insert_batch(conn, plain) if plain else []
            for event in guarded:
                out.append((event, await self._insert_guarded(conn, event)))
        return out

    async def _insert_guarded(self, conn: asyncpg.Connection, e: PendingEvent) -> Outcome:
        assert e.body_digest is not None
        digest = event_digest(e.event_id)
        lock = int.from_bytes(e.body_digest[:8], "big", signed=True)
        with self._db_span("INSERT", 1) as span:
            if span is not None:
                span.set_attribute("logistica.replay_guard", True)
            return await self._guarded_transaction(conn, e, digest, lock)

    async def _guarded_transaction(
        self, conn: asyncpg.Connection, e: PendingEvent, digest: bytes, lock: int
    ) -> Outcome:
        assert e.body_digest is not None
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
            same_key = await conn.fetchval(_GUARDED_DUPLICATE, e.namespace, e.source, digest)
            if same_key is not None:
                return Duplicate(int(same_key))
            replayed = await conn.fetchval(
                _GUARDED_REPLAY, e.namespace, e.source, e.body_digest, e.replay_window
            )
            if replayed is not None:
                return Replay(int(replayed))
            row_id = await conn.fetchval(
                _GUARDED_INSERT,
                e.namespace,
                e.source,
                e.event_id,
                digest,
                e.body_digest,
                e.headers_json,
                e.payload_json,
            )
            if row_id is None:  # the same key committed meanwhile (another body)
                row_id = await conn.fetchval(_GUARDED_DUPLICATE, e.namespace, e.source, digest)
                return Duplicate(None if row_id is None else int(row_id))
            return Stored(int(row_id))

    async def _insert_batch(
        self, conn: asyncpg.Connection, batch: list[PendingEvent]
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
        # one statement in autocommit is one transaction: committed (and, with
        # synchronous_commit on, flushed) when fetch returns. No BEGIN/COMMIT round trips.
        with self._db_span("INSERT", len(unique)):
            rows = await conn.fetch(_INSERT, *[list(c) for c in cols])
        inserted = {(r["namespace"], r["source"], r["event_digest"]): int(r["id"]) for r in rows}
        missing = [k for k in unique if k not in inserted]
        existing: dict[tuple[str, str, bytes], int] = {}
        # ON CONFLICT DO NOTHING waited for any concurrent insert of these keys to commit,
        # so a fresh snapshot sees every row that made this batch's keys duplicates
        if missing:
            m = list(zip(*missing, strict=True))
            with self._db_span("SELECT", len(missing)):
                found = await conn.fetch(_EXISTING, list(m[0]), list(m[1]), list(m[2]))
            for r in found:
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
