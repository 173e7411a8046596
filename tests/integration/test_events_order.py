"""The no-skip guarantee under concurrency: 4 writers committing in scrambled order (some
transactions held open, some rolled back) while a consumer tails the feed, also across a
restart of the events service."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import asyncpg

from logistica_workers.events.cursor import Cursor
from tests.support.events import running_events, scrambled_writer, tail

WRITERS = 4
PER_WRITER = 1500


async def _stored_order(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id FROM external_events ORDER BY tx, id")
    finally:
        await conn.close()
    return [r["event_id"] for r in rows]


def _check(tailed: list[str], cursors: list[str], committed: set[str], rolled: set[str]) -> None:
    assert len(tailed) == len(set(tailed)), "an event was delivered twice"
    assert set(tailed) == committed, (
        f"missing {len(committed - set(tailed))}, unexpected {len(set(tailed) - committed)}"
    )
    assert not set(tailed) & rolled
    parsed = [Cursor.parse(c) for c in cursors]
    assert all(a < b for a, b in itertools.pairwise(parsed)), "cursor went back"


async def test_scrambled_writers_every_committed_event_exactly_once_in_order(dsn: str) -> None:
    async with running_events(dsn) as service, aiohttp.ClientSession() as http:
        writers = [
            asyncio.create_task(scrambled_writer(dsn, f"w{i}", PER_WRITER, seed=i))
            for i in range(WRITERS)
        ]
        total: list[int] = []  # filled once the writers are done

        tailer = asyncio.create_task(
            tail(http, lambda: service.url, lambda n: bool(total) and n >= total[0], deadline=120)
        )
        logs = await asyncio.gather(*writers)
        committed = {e for log in logs for e in log.committed}
        rolled = {e for log in logs for e in log.rolled_back}
        assert rolled, "the test must roll some transactions back"
        total.append(len(committed))
        got = await asyncio.wait_for(tailer, 120)
    _check(got.event_ids, got.cursors, committed, rolled)
    assert got.event_ids == await _stored_order(dsn)


async def test_restart_of_the_events_service_mid_tail(dsn: str) -> None:
    current: list[str] = []
    total: list[int] = []
    async with aiohttp.ClientSession() as http:
        writers = [
            asyncio.create_task(scrambled_writer(dsn, f"r{i}", 800, seed=10 + i))
            for i in range(WRITERS)
        ]
        async with running_events(dsn) as first:
            current.append(first.url)
            tailer = asyncio.create_task(
                tail(
                    http,
                    lambda: current[-1],
                    lambda n: bool(total) and n >= total[0],
                    deadline=120,
                )
            )
            while not tailer.done() and len(await _stored_order(dsn)) < 600:
                await asyncio.sleep(0.02)
        # stopped mid-tail: the consumer keeps its cursor and retries against the new one
        async with running_events(dsn) as second:
            current.append(second.url)
            logs = await asyncio.gather(*writers)
            committed = {e for log in logs for e in log.committed}
            rolled = {e for log in logs for e in log.rolled_back}
            total.append(len(committed))
            got = await asyncio.wait_for(tailer, 120)
    assert got.reconnects >= 1
    _check(got.event_ids, got.cursors, committed, rolled)
