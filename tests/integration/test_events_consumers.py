"""Named consumers: ack, restart, resume; lag; rewind by cursor and by time (the CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.support.cli import logistica
from tests.support.events import get_events, insert, running_events


async def _ack(http: aiohttp.ClientSession, url: str, name: str, body: Any) -> tuple[int, Any]:
    async with http.post(f"{url}/events/consumers/{name}/ack", json=body) as resp:
        return resp.status, await resp.json()


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_a_consumer_acks_restarts_and_resumes(dsn: str, http: aiohttp.ClientSession) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await insert(conn, "shop", "e1", "e2", "e3")
        async with running_events(dsn) as service:
            status, body = await _get(http, f"{service.url}/events/consumers/billing")
            assert status == 404 and body["error"] == "unknown_consumer"
            events, _ = await get_events(http, service.url, consumer="billing", limit=2)
            assert [e["eventId"] for e in events] == ["e1", "e2"]  # new consumer: from start
            status, body = await _ack(http, service.url, "billing", {"cursor": events[1]["cursor"]})
            assert status == 200 and body["cursor"] == events[1]["cursor"]
            # an older ack arriving late does not move the offset back
            status, body = await _ack(http, service.url, "billing", {"cursor": events[0]["cursor"]})
            assert status == 200 and body["cursor"] == events[1]["cursor"]
            status, lag = await _get(http, f"{service.url}/events/consumers/billing/lag")
            assert status == 200 and lag["events"] == 1 and lag["pending"] == 0
            assert lag["oldestReceivedAt"] is not None and lag["lagSeconds"] >= 0
        await insert(conn, "shop", "e4")
        async with running_events(dsn) as again:  # a restarted service: the offset is kept
            events, _ = await get_events(http, again.url, consumer="billing")
            assert [e["eventId"] for e in events] == ["e3", "e4"]
            status, body = await _get(http, f"{again.url}/events/consumers/billing")
            assert status == 200 and body["name"] == "billing"
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "body"),
        ({"cursor": 5}, "cursor"),
        ({}, "cursor"),
        ({"cursor": "x-1"}, "cursor"),
        ({"cursor": "18446744073709551615-1"}, "cursor"),  # ahead of the feed
    ],
)
async def test_bad_acks_are_400_naming_the_field(
    dsn: str, http: aiohttp.ClientSession, body: Any, field: str
) -> None:
    async with running_events(dsn) as service:
        url = f"{service.url}/events/consumers/c1/ack"
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
        async with http.post(url, **kwargs) as resp:
            answer = await resp.json()
            assert resp.status == 400, answer
        assert answer["field"] == field
        async with http.post(f"{service.url}/events/consumers/bad%20name/ack", json={}) as resp:
            assert resp.status == 400 and (await resp.json())["field"] == "name"
        status, body = await _get(http, f"{service.url}/events/consumers/c1/lag?x=1")
        assert status == 400 and body["field"] == "x"


async def test_rewind_by_cursor_time_start_and_end(dsn: str, http: aiohttp.ClientSession) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await insert(conn, "shop", "old1", "old2")
        # after the old rows' transaction, before the new rows' (received_at is its start time)
        boundary: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        await insert(conn, "shop", "new1", "new2")
        async with running_events(dsn) as service:
            events, last = await get_events(http, service.url)
            status, body = await _ack(http, service.url, "ops", {"cursor": last})
            assert status == 200 and body["cursor"] == last
            assert (await get_events(http, service.url, consumer="ops"))[0] == []

            def rewind(to: str) -> None:
                out = logistica("events", "rewind", "ops", "--to", to, "--database-url", dsn)
                assert out.returncode == 0, out.stderr
                assert out.stdout.startswith("consumer ops now reads after ")

            rewind(boundary.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"))
            ids = [e["eventId"] for e in (await get_events(http, service.url, consumer="ops"))[0]]
            assert ids == ["new1", "new2"]
            rewind(events[0]["cursor"])  # after the first event
            ids = [e["eventId"] for e in (await get_events(http, service.url, consumer="ops"))[0]]
            assert ids == ["old2", "new1", "new2"]
            rewind("start")
            ids = [e["eventId"] for e in (await get_events(http, service.url, consumer="ops"))[0]]
            assert ids == ["old1", "old2", "new1", "new2"]
            rewind("end")
            assert (await get_events(http, service.url, consumer="ops"))[0] == []
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ops", "--to", "yesterday"], "--to must be a time"),
        (["ops", "--to", "2026-11-23T10:00:00"], "time zone"),
        (["bad name", "--to", "start"], "NAME must be"),
    ],
)
def test_rewind_rejects_bad_input(database_url: str, args: list[str], message: str) -> None:
    out = logistica("events", "rewind", *args, "--database-url", database_url)
    assert out.returncode == 2
    assert message in out.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGISTICA_EVENTS_MAX_WAIT": "soon"}, "LOGISTICA_EVENTS_MAX_WAIT must be a number"),
        ({"LOGISTICA_EVENTS_MAX_LIMIT": "0"}, "LOGISTICA_EVENTS_MAX_LIMIT must be between"),
        ({"LOGISTICA_EVENTS_TOKEN": " "}, "LOGISTICA_EVENTS_TOKEN is set but empty"),
        ({"LOGISTICA_EVENTS_TOKEN_FILE": "/nonexistent/t"}, "LOGISTICA_EVENTS_TOKEN_FILE cannot"),
    ],
)
def test_the_service_refuses_bad_settings(
    database_url: str, env: dict[str, str], message: str
) -> None:
    out = logistica("events", "--database-url", database_url, env=env)
    assert out.returncode == 2
    assert message in out.stderr


def test_the_service_refuses_a_bad_database_url() -> None:
    out = logistica("events", "--database-url", "mysql://x")
    assert out.returncode == 2 and "postgresql://" in out.stderr
