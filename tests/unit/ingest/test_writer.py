"""The group-commit writer's batching, without Postgres: how events are grouped (at most
``max_rows``, waiting ``max_wait`` once the first arrived), what a full queue, a shutdown, a
request given up and an unreachable database do. The SQL is tested against the real server
in tests/integration (test_ingest_http, test_ingest_resilience)."""

from __future__ import annotations

import asyncio

import pytest

from logistica_workers.db.pool import Database
from logistica_workers.ingest.writer import (
    GroupCommitWriter,
    PendingEvent,
    QueueFull,
    Stored,
    StoreUnavailable,
)
from tests.support.wait import wait_for_async


class RecordingWriter(GroupCommitWriter):
    """Stores nothing: records each batch a writer task hands to the database, and answers
    every event ``Stored`` (the batching logic under test is all before ``_write``)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(Database("postgresql://unused/none"), **kwargs)  # type: ignore[arg-type]
        self.batches: list[list[str]] = []

    async def _write(self, batch: list[PendingEvent]) -> None:
        self.batches.append([e.event_id for e in batch])
        for i, event in enumerate(batch):
            event.future.set_result(Stored(i))


def event(n: int) -> PendingEvent:
    return PendingEvent(
        namespace="ns",
        source="src",
        event_id=f"e{n}",
        headers_json="{}",
        payload_json="{}",
        future=asyncio.get_running_loop().create_future(),
    )


async def test_queued_events_share_batches_of_at_most_max_rows() -> None:
    writer = RecordingWriter(max_rows=3, max_wait=0, writers=1)
    futures = [writer.submit(event(n)) for n in range(7)]
    writer.start()
    await asyncio.gather(*futures)
    await writer.close(1)
    assert writer.batches == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]


async def test_a_writer_waits_max_wait_for_more_once_it_has_one() -> None:
    writer = RecordingWriter(max_rows=10, max_wait=0.5, writers=1)
    writer.start()
    first = writer.submit(event(1))

    async def taken() -> bool:  # the writer holds the first event and waits for more
        return writer.depth == 0

    await wait_for_async(taken, 0.4, "the writer to take the first event", interval=0.001)
    second = writer.submit(event(2))
    await asyncio.gather(first, second)
    await writer.close(1)
    assert writer.batches == [["e1", "e2"]]


async def test_without_max_wait_a_lone_event_is_written_at_once() -> None:
    writer = RecordingWriter(max_rows=10, max_wait=0, writers=1)
    writer.start()
    await asyncio.wait_for(writer.submit(event(1)), 1)
    await writer.close(1)
    assert writer.batches == [["e1"]]


async def test_a_full_queue_refuses_at_once() -> None:
    writer = RecordingWriter(max_queue=2, writers=1)
    writer.submit(event(1))
    writer.submit(event(2))
    with pytest.raises(QueueFull):
        writer.submit(event(3))
    assert writer.depth == 2


async def test_requests_given_up_are_never_written() -> None:
    writer = RecordingWriter(max_rows=10, max_wait=0, writers=1)
    gone = event(1)
    gone.future.set_exception(TimeoutError())  # answered 504 while still queued
    gone.future.exception()
    writer.submit(gone)
    kept = writer.submit(event(2))
    writer.start()
    await asyncio.wait_for(kept, 1)
    await writer.close(1)
    assert writer.batches == [["e2"]]


async def test_close_writes_what_is_queued_then_refuses_new_events() -> None:
    writer = RecordingWriter(max_rows=2, max_wait=0, writers=2)
    futures = [writer.submit(event(n)) for n in range(5)]
    writer.start()
    await writer.close(2)
    assert all(f.done() and not f.exception() for f in futures)
    assert sorted(e for b in writer.batches for e in b) == [f"e{n}" for n in range(5)]
    with pytest.raises(StoreUnavailable, match="shutting down"):
        writer.submit(event(9))


async def test_events_fail_as_unavailable_when_the_database_is_unreachable() -> None:
    # the real writer and a Database that never connected: nothing reaches a server
    writer = GroupCommitWriter(Database("postgresql://unused/none"), max_wait=0, writers=1)
    futures = [writer.submit(event(n)) for n in range(3)]
    writer.start()
    await wait_for_async(
        lambda: asyncio.sleep(0, all(f.done() for f in futures)), 2, "the batch to fail"
    )
    await writer.close(1)
    for f in futures:
        with pytest.raises(StoreUnavailable, match="unreachable"):
            f.result()
