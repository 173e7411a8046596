"""`logistica migrate`: applies versioned migrations once, under an advisory lock."""

from __future__ import annotations

import asyncio
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
