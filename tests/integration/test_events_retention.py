"""Partitioning and retention: the migration that moves an existing table, uniqueness across
partitions, upkeep (days ahead, expired days dropped, shorter rules deleted), and partition
creation and drops while the ingest worker is storing events."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from logistica_workers.db.migrate import migrate, migrations
from logistica_workers.events.retention import RetentionPolicy, maintain, partitions
from tests.support.cli import logistica
from tests.support.db import create_database
from tests.support.ingest import running_worker, signed, source

NOW = dt.datetime.now(dt.UTC)


async def _insert_at(
    conn: asyncpg.Connection, ns: str, src: str, event_id: str, when: dt.datetime
) -> None:
    await conn.execute(
        "INSERT INTO external_events (namespace, source, event_id, event_digest, received_at,"
        " payload) VALUES ($1, $2, $3, sha256(convert_to($3, 'UTF8')), $4, '{}')",
        ns,
        src,
        event_id,
        when,
    )


async def test_the_migration_moves_every_row_and_keeps_keys_unique(pg_server: Any) -> None:
    dsn = await create_database(pg_server.dsn, "retention_move")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for m in migrations():
            if m.version < 5:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        m.version,
                        m.name,
                    )
        for day in range(3):  # rows over three past days, several transactions
            for i in range(50):
                await _insert_at(conn, "ops", "shop", f"d{day}-{i}", NOW - dt.timedelta(days=day))
        before = await conn.fetch(
            "SELECT id, tx::text, namespace, source, event_id, received_at, payload"
            " FROM external_events ORDER BY id"
        )
        await migrate(dsn)
        after = await conn.fetch(
            "SELECT id, tx::text, namespace, source, event_id, received_at, payload"
            " FROM external_events ORDER BY id"
        )
        assert [tuple(r) for r in after] == [tuple(r) for r in before]  # ids and cursors kept
        assert await conn.fetchval("SELECT count(*) FROM external_event_keys") == 150
        names = {name for name, _ in await partitions(conn)}
        for day in range(3):
            assert f"external_events_p{(NOW - dt.timedelta(days=day)).date():%Y%m%d}" in names
        assert f"external_events_p{(NOW + dt.timedelta(days=7)).date():%Y%m%d}" in names
        assert await conn.fetchval("SELECT count(*) FROM ONLY external_events_default") == 0
        # the same key on another day (another partition) is still a duplicate
        await _insert_at(conn, "ops", "shop", "d2-0", NOW)
        await _insert_at(conn, "ops", "shop", "fresh", NOW)
        count = "SELECT count(*) FROM external_events WHERE event_id = $1"
        assert await conn.fetchval(count, "d2-0") == 1
        rows = await conn.fetch("SELECT id FROM external_events WHERE event_id = 'fresh'")
        assert rows[0]["id"] > max(r["id"] for r in before)
    finally:
        await conn.close()


@pytest.fixture
async def dsn(database_url: str) -> AsyncIterator[str]:
    await migrate(database_url)
    yield database_url


async def test_upkeep_creates_ahead_drops_expired_days_and_applies_rules(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for age in (1, 5, 20, 40, 41):
            day = (NOW - dt.timedelta(days=age)).date()
            await conn.fetchval("SELECT logistica_event_partition($1)", day)
            for ns, src in (("ops", "shop"), ("ops", "carrier"), ("fleet", "gps"), ("x", "y")):
                await _insert_at(conn, ns, src, f"{src}-{age}", NOW - dt.timedelta(days=age))
        await _insert_at(conn, "x", "y", "stray", NOW - dt.timedelta(days=400))  # -> default
        policy = RetentionPolicy(
            days=30, rules={("ops", None): 10, ("ops", "carrier"): 45, ("fleet", None): 3}, ahead=3
        )
        report = await maintain(conn, policy, now=NOW)
        assert not report.skipped
        # the longest retention is 45 days: no day is dropped yet, rows go by their own rule
        assert report.dropped == []
        left = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM external_events")}
        assert left == {
            "shop-1", "shop-5",  # ops: 10 days
            "carrier-1", "carrier-5", "carrier-20", "carrier-40", "carrier-41",  # ops/carrier: 45
            "gps-1",  # fleet: 3 days
            "y-1", "y-5", "y-20",  # everything else: 30 days
        }  # fmt: skip
        keys = {
            r["event_digest"]
            for r in await conn.fetch("SELECT event_digest FROM external_event_keys")
        }
        assert len(keys) == len(left)
        names = {n for n, _ in await partitions(conn)}
        assert f"external_events_p{(NOW + dt.timedelta(days=3)).date():%Y%m%d}" in names
        # without the 45-day rule the 40- and 41-day partitions go whole
        report = await maintain(conn, RetentionPolicy(days=30), now=NOW)
        assert sorted(report.dropped) == sorted(
            f"external_events_p{(NOW - dt.timedelta(days=a)).date():%Y%m%d}" for a in (40, 41)
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM external_events WHERE event_id LIKE 'carrier-4%'"
            )
            == 0
        )
        assert await conn.fetchval(
            "SELECT count(*) FROM external_event_keys"
        ) == await conn.fetchval("SELECT count(*) FROM external_events")
        # a second maintainer at the same time does nothing
        other = await asyncpg.connect(dsn)
        try:
            await other.execute("SELECT pg_advisory_lock(x'6C6F67657674'::bigint)")
            assert (await maintain(conn, RetentionPolicy(), now=NOW)).skipped
        finally:
            await other.close()
    finally:
        await conn.close()


async def test_partitions_are_created_and_dropped_while_ingest_runs(dsn: str) -> None:
    src = source("gh", "github")
    conn = await asyncpg.connect(dsn)
    try:
        old = (NOW - dt.timedelta(days=60)).date()
        await conn.fetchval("SELECT logistica_event_partition($1)", old)
        for i in range(2000):
            if i % 500 == 0:
                await conn.execute(
                    "INSERT INTO external_events (namespace, source, event_id, event_digest,"
                    " received_at, payload) SELECT 'default', 'old', 'o' || g,"
                    " sha256(convert_to('o' || g, 'UTF8')), $1, '{}'"
                    " FROM generate_series($2::int, $2::int + 499) g",
                    NOW - dt.timedelta(days=60),
                    i,
                )
        async with running_worker([src], dsn) as worker, aiohttp.ClientSession() as http:
            statuses: list[int] = []
            stop = asyncio.Event()

            async def send(k: int) -> None:
                i = 0
                while not stop.is_set():
                    body, headers = signed(src, {"n": i}, delivery_id=f"live-{k}-{i}")
                    async with http.post(
                        f"{worker.url}/ingest/gh", data=body, headers=headers
                    ) as r:
                        statuses.append(r.status)
                    i += 1

            senders = [asyncio.create_task(send(k)) for k in range(4)]
            while len(statuses) < 100:
                await asyncio.sleep(0.01)
            # drops the filled 60-day-old day, creates days 8 to 10 ahead (0 to 7 exist)
            report = await maintain(conn, RetentionPolicy(days=50, ahead=10))
            n_during = len(statuses)
            while len(statuses) < n_during + 100:
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.gather(*senders)
        assert f"external_events_p{old:%Y%m%d}" in report.dropped
        assert len(report.created) == 3
        assert set(statuses) == {202}, {s: statuses.count(s) for s in set(statuses)}
        stored = await conn.fetchval("SELECT count(*) FROM external_events WHERE source = 'gh'")
        assert stored == len(statuses)
        assert await conn.fetchval("SELECT count(*) FROM external_events WHERE source = 'old'") == 0
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGISTICA_EVENTS_RETENTION_DAYS": "0"}, "LOGISTICA_EVENTS_RETENTION_DAYS must be"),
        ({"LOGISTICA_EVENTS_RETENTION_RULES": "shop=x"}, "got 'shop=x'"),
        ({"LOGISTICA_EVENTS_RETENTION_RULES": "a=1,a=2"}, "'a=2' is given twice"),
        ({"LOGISTICA_EVENTS_PARTITIONS_AHEAD": "0"}, "LOGISTICA_EVENTS_PARTITIONS_AHEAD must be"),
    ],
)
def test_maintain_refuses_bad_settings(
    database_url: str, env: dict[str, str], message: str
) -> None:
    out = logistica("events", "maintain", "--database-url", database_url, env=env)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr


def test_maintain_command_reports_what_it_did(database_url: str) -> None:
    assert logistica("migrate", "--database-url", database_url).returncode == 0
    out = logistica("events", "maintain", "--database-url", database_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("created ")


async def test_a_stored_events_day_and_key_cannot_change(dsn: str) -> None:
    """Moving received_at to another day would re-claim the row's own key and lose the row."""
    conn = await asyncpg.connect(dsn)
    try:
        await _insert_at(conn, "immutable", "shop", "e1", dt.datetime.now(dt.UTC))
        mine = "namespace = 'immutable'"
        for column, value in [
            ("received_at", "now() - interval '3 days'"),
            ("received_at", "received_at + interval '1 microsecond'"),
            ("namespace", "'other'"),
            ("source", "'other'"),
            ("event_digest", "sha256('x'::bytea)"),
        ]:
            with pytest.raises(asyncpg.CheckViolationError, match="cannot change"):
                await conn.execute(f"UPDATE external_events SET {column} = {value} WHERE {mine}")
        await conn.execute(f"UPDATE external_events SET headers = '{{}}'::jsonb WHERE {mine}")
        assert await conn.fetchval(f"SELECT count(*) FROM external_events WHERE {mine}") == 1
    finally:
        await conn.close()
