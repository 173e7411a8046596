"""The ingest worker's OpenAPI document against a live worker on a real Postgres: it serves the
document, and each answer (2xx and errors) has a documented status and body."""

from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from logistica_workers.api import openapi
from logistica_workers.db.migrate import migrate
from logistica_workers.ingest.providers import sign
from tests.support.ingest import RunningWorker, running_worker, signed, source

GITHUB = source("gh", "github")
SMALL = source("small", "github", maxBodyBytes=64)


@pytest.fixture
async def worker(database_url: str) -> AsyncIterator[RunningWorker]:
    await migrate(database_url)
    async with running_worker([GITHUB, SMALL], database_url) as w:
        yield w


def conforms(doc: dict[str, Any], status: int, body: Any) -> None:
    """``body`` matches the documented schema of ``status`` (the shapes this API uses)."""
    responses = doc["paths"]["/ingest/{source}"]["post"]["responses"]
    assert str(status) in responses, f"{status} is not documented"
    schemas = doc["components"]["schemas"]
    if status >= 400:
        error = schemas["Error"]
        assert set(error["required"]) <= set(body) <= set(error["properties"]), body
        assert body["error"] in responses[str(status)]["description"], body
        return
    answer = schemas["IngestAnswer"]
    assert set(answer["required"]) <= set(body) <= set(answer["properties"]), body
    assert body["status"] in answer["properties"]["status"]["enum"], body


async def test_live_answers_match_the_document(worker: RunningWorker) -> None:
    doc = openapi.ingest_document()
    body, headers = signed(GITHUB, {"action": "opened"}, delivery_id="oa-1")
    tampered = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    bad_json_headers = sign(
        GITHUB.spec.provider, "gh-secret-1", b"{oops", timestamp=int(time.time()), delivery_id="x"
    )
    big, big_headers = signed(SMALL, {"pad": "x" * 100}, delivery_id="oa-2")
    cases: list[tuple[str, bytes, dict[str, str], int]] = [
        ("gh", body, headers, 202),
        ("gh", body, headers, 200),
        ("gh", body, tampered, 401),
        ("nobody", body, headers, 404),
        ("gh", b"{oops", bad_json_headers, 400),
        ("gh", body, {**headers, "Content-Type": "text/plain"}, 415),
        ("gh", gzip.compress(body), {**headers, "Content-Encoding": "gzip"}, 415),
        ("small", big, big_headers, 413),
    ]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{worker.url}/openapi.json") as resp:
            assert resp.status == 200 and await resp.json() == doc
        for name, data, hdrs, status in cases:
            async with http.post(f"{worker.url}/ingest/{name}", data=data, headers=hdrs) as r:
                answer = await r.json()
                assert r.status == status, (name, answer)
                conforms(doc, r.status, answer)
