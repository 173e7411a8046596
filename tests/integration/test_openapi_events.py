"""The events service's OpenAPI document against a live service on a real Postgres: it serves
the document, and each answer (2xx and errors) has a documented status and body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from logistica_workers.api import openapi
from logistica_workers.db.migrate import migrate
from logistica_workers.events.settings import EventsSettings
from tests.support.events import RunningEvents, insert, running_events

TOKEN = "t0ken"


@pytest.fixture
async def feed(database_url: str) -> AsyncIterator[RunningEvents]:
    await migrate(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await insert(conn, "gh", "e1", "e2")
    finally:
        await conn.close()
    async with running_events(database_url, EventsSettings(token=TOKEN)) as service:
        yield service


def conforms(doc: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    responses = doc["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method} {path}: {status} is not documented"
    schemas = doc["components"]["schemas"]
    if status >= 400:
        error = schemas["Error"]
        assert set(error["required"]) <= set(body) <= set(error["properties"]), body
        assert body["error"] in responses[str(status)]["description"], body
        return
    ref = responses[str(status)]["content"]["application/json"]["schema"]
    if ref.get("type") == "array":
        ref = ref["items"]
        items = body
    else:
        items = [body]
    model = schemas[ref["$ref"].rsplit("/", 1)[1]]
    for item in items:
        assert set(model["required"]) <= set(item) <= set(model["properties"]), item


async def test_live_answers_match_the_document(feed: RunningEvents) -> None:
    doc = openapi.events_document()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{feed.url}/openapi.json") as resp:
            assert resp.status == 200 and await resp.json() == doc  # no token needed
        async with http.get(f"{feed.url}/events", headers=auth) as resp:
            events = await resp.json()
            assert resp.status == 200 and len(events) == 2 and "Logistica-Cursor" in resp.headers
            conforms(doc, "/events", "get", 200, events)
        cursor = events[0]["cursor"]
        cases: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str], int]] = [
            ("get", "/events", "/events?limit=0", None, auth, 400),
            ("get", "/events", "/events?bogus=1", None, auth, 400),
            ("get", "/events", "/events", None, {}, 401),
            ("get", "/events/consumers/{name}", "/events/consumers/c1", None, auth, 404),
            ("get", "/events/consumers/{name}/lag", "/events/consumers/c1/lag", None, auth, 404),
            (
                "post",
                "/events/consumers/{name}/ack",
                "/events/consumers/c1/ack",
                {"x": 1},
                auth,
                400,
            ),
            (
                "post",
                "/events/consumers/{name}/ack",
                "/events/consumers/c1/ack",
                {"cursor": cursor},
                auth,
                200,
            ),
            ("get", "/events/consumers/{name}", "/events/consumers/c1", None, auth, 200),
            ("get", "/events/consumers/{name}/lag", "/events/consumers/c1/lag", None, auth, 200),
            ("get", "/events/consumers/{name}", "/events/consumers/-bad", None, auth, 400),
        ]
        for method, path, url, body, headers, status in cases:
            async with http.request(method, f"{feed.url}{url}", json=body, headers=headers) as r:
                answer = await r.json()
                assert r.status == status, (url, answer)
                conforms(doc, path, method, r.status, answer)
        async with http.get(f"{feed.url}/events/consumers/c1/lag", headers=auth) as r:
            assert (await r.json())["events"] == 1
