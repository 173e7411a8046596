"""`logistica migrate`: applies versioned migrations once, under an advisory lock."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from typing import Any

import asyncpg

from logistica_workers.db.embedded import free_port
from logistica_workers.db.migrate import LATEST_VERSION, migrate, migrations
from tests.support.cli import logistica
from tests.support.db import create_database


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return logistica("migrate", *args)


def test_cli_applies_once_then_reports_up_to_date(database_url: str) -> None:
    first = cli("--database-url", database_url)
    assert first.returncode == 0, first.stderr
    assert [ln.split()[1] for ln in first.stdout.splitlines()] == [
        f"{m.version:04d}_{m.name}" for m in migrations()
    ]
    second = cli("--database-url", database_url)
    assert (second.returncode, second.stdout.strip()) == (0, "database is up to date")


async def test_concurrent_migrations_serialise(pg_server: Any) -> None:
    dsn = await create_database(pg_server.dsn, "concurrent_migrate")
    results = await asyncio.gather(*[migrate(dsn) for _ in range(4)])
    assert sorted(len(r) for r in results) == [0, 0, 0, len(migrations())]
    conn = await asyncpg.connect(dsn)
    try:
        versions = [
            r["version"]
            for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        ]
    finally:
        await conn.close()
    assert versions == [m.version for m in migrations()]
    assert versions[-1] == LATEST_VERSION


def test_cli_errors_are_clear() -> None:
    bad = cli("--database-url", "mysql://x")
    assert bad.returncode == 2
    assert "postgresql://" in bad.stderr
    down = cli("--database-url", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    assert down.returncode == 1
    assert "cannot reach the database" in down.stderr
    none = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "migrate"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert none.returncode == 2
    assert "LOGISTICA_DATABASE_URL" in none.stderr


async def test_0003_keeps_existing_rows_and_makes_long_keys_distinct(pg_server: Any) -> None:
    """Rows stored before 0003 get their digest; keys that share a long prefix stay distinct."""
    dsn = await create_database(pg_server.dsn, "migrate_0003")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for m in migrations():
            if m.version < 3:
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    m.version,
                    m.name,
                )
        await conn.execute(
            "INSERT INTO external_events (source, event_id, payload) VALUES"
            " ('s', 'old-1', '{}'), ('s', 'ключ-2', '{}')"
        )
        await migrate(dsn)
        rows = await conn.fetch(
            "SELECT event_id, event_digest FROM external_events ORDER BY event_id"
        )
        assert [(r["event_id"], bytes(r["event_digest"])) for r in rows] == [
            (k, hashlib.sha256(k.encode()).digest()) for k in ("old-1", "ключ-2")
        ]
        long_a, long_b = "x" * 5000 + "a", "x" * 5000 + "b"
        for key in (long_a, long_b):
            await conn.execute(
                "INSERT INTO external_events (source, event_id, event_digest, payload)"
                " VALUES ('s', $1, sha256(convert_to($1, 'UTF8')), '{}')",
                key,
            )
        # a repeated key is skipped (since 0005 the key is claimed in external_event_keys by
        # a trigger, which acts as ON CONFLICT DO NOTHING for every insert)
        status = await conn.execute(
            "INSERT INTO external_events (source, event_id, event_digest, payload)"
            " VALUES ('s', $1, sha256(convert_to($1, 'UTF8')), '{}')",
            long_a,
        )
        assert status == "INSERT 0 0"
        assert await conn.fetchval("SELECT count(*) FROM external_events") == 4
    finally:
        await conn.close()
