"""Fixtures shared by the integration tests (the session's servers are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from logistica_workers.db.migrate import migrate


@pytest.fixture(autouse=True)
def no_drain_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers stop at once: no load balancer waits to see them unready (a test that measures
    the drain sets its own delay)."""
    monkeypatch.setenv("LOGISTICA_DRAIN_DELAY_SECONDS", "0")


@pytest.fixture
async def dsn(database_url: str) -> AsyncIterator[str]:
    """The module's database, migrated; the event tables emptied after each test."""
    await migrate(database_url)
    yield database_url
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("TRUNCATE external_events, external_event_keys, event_consumers")
    finally:
        await conn.close()


@pytest.fixture
async def migrated(database_url: str) -> str:
    """The module's database, migrated."""
    await migrate(database_url)
    return database_url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
