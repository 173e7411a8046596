"""The ingest worker's HTTP contract against a real Postgres."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from logistica_workers.db.migrate import migrate
from logistica_workers.ingest.app import IngestSettings
from tests.support.db import create_database
from tests.support.ingest import RunningWorker, running_worker, signed, source

GITHUB = source("gh", "github", {"old": "gh-old", "new": "gh-new"})
STRIPE = source("stripe", "stripe")
SHOPIFY = source("shop", "shopify")
SLACK = source("slack", "slack")
STANDARD = source("std", "standard", {"k": "whsec_c3RhbmRhcmQta2V5LTAwMQ=="})
HMAC = source(
    "carrier",
    "hmac",
    hmac={"header": "X-Carrier-Sig", "algorithm": "sha512", "encoding": "base64"},
    idempotencyKey={"jsonPointer": "/event/id"},
)
SMALL = source("small", "github", maxBodyBytes=64)
ALL = [GITHUB, STRIPE, SHOPIFY, SLACK, STANDARD, HMAC, SMALL]


@pytest.fixture
async def worker(migrated: str) -> AsyncIterator[RunningWorker]:
    async with running_worker(ALL, migrated) as w:
        yield w


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any], Any]:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def stored(dsn: str, source: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT id, event_id, payload, headers FROM external_events WHERE source = $1 ORDER BY id",
                source,
            )
        )
    finally:
        await conn.close()


async def test_stored_then_duplicate(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    body, headers = signed(GITHUB, {"action": "opened", "n": 1}, delivery_id="d-1")
    status, _, reply = await post(http, f"{worker.url}/ingest/gh", body, headers)
    assert status == 202
    assert reply["status"] == "stored"
    status, _, again = await post(http, f"{worker.url}/ingest/gh", body, headers)
    assert (status, again["status"], again["id"]) == (200, "duplicate", reply["id"])
    rows = await stored(migrated, "gh")
    assert [(r["id"], r["event_id"]) for r in rows] == [(reply["id"], "d-1")]
    assert json.loads(rows[0]["payload"]) == {"action": "opened", "n": 1}
    hdrs = json.loads(rows[0]["headers"])
    assert hdrs["x-github-delivery"] == "d-1"
    assert not any("signature" in k.lower() for k in hdrs)


@pytest.mark.parametrize(
    "src", [GITHUB, STRIPE, SHOPIFY, SLACK, STANDARD, HMAC], ids=lambda s: s.name
)
async def test_each_scheme_valid_and_tampered(
    src: Any, worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    doc = {"id": f"evt-{src.name}", "event_id": f"ev-{src.name}", "event": {"id": f"e-{src.name}"}}
    body, headers = signed(src, doc)
    status, _, reply = await post(http, f"{worker.url}/ingest/{src.name}", body, headers)
    assert status == 202, reply
    tampered = body.replace(b"evt-", b"EVT-")
    status, _, reply = await post(http, f"{worker.url}/ingest/{src.name}", tampered, headers)
    assert (status, reply["error"]) == (401, "bad_signature")
    status, _, reply = await post(
        http, f"{worker.url}/ingest/{src.name}", body, {"Content-Type": "application/json"}
    )
    assert status == 401
    assert "missing" in reply["message"]


@pytest.mark.parametrize("src", [STRIPE, SLACK, STANDARD], ids=lambda s: s.name)
@pytest.mark.parametrize("skew", [-3600, 3600], ids=["expired", "future"])
async def test_timestamp_outside_tolerance_is_401(
    src: Any, skew: int, worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    body, headers = signed(src, {"id": "late"}, timestamp=int(time.time()) + skew)
    status, _, reply = await post(http, f"{worker.url}/ingest/{src.name}", body, headers)
    assert status == 401
    assert "tolerance" in reply["message"] or "future" in reply["message"]


async def test_rotated_keys_both_accepted(
    worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    for key in ("gh-old", "gh-new"):
        body, headers = signed(GITHUB, {"key": key}, key=key)
        status, _, _ = await post(http, f"{worker.url}/ingest/gh", body, headers)
        assert status == 202
    body, headers = signed(GITHUB, {"key": "other"}, key="gh-unknown")
    status, _, _ = await post(http, f"{worker.url}/ingest/gh", body, headers)
    assert status == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "bad_json"),
        (b'"a string"', "application/json", 400, "bad_json"),
        (b"[" * 100 + b"]" * 100, "application/json", 400, "bad_json"),
        (b'{"a": "nul \\u0000 byte"}', "application/json", 400, "bad_json"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b"{}", "", 415, "unsupported_media_type"),
    ],
)
async def test_bad_bodies(
    body: bytes,
    content_type: str,
    status: int,
    code: str,
    worker: RunningWorker,
    http: aiohttp.ClientSession,
) -> None:
    _, headers = signed(GITHUB, {})
    from logistica_workers.ingest.providers import sign

    headers = sign(GITHUB.spec.provider, "gh-new", body, timestamp=0)
    headers["Content-Type"] = content_type
    got, _, reply = await post(http, f"{worker.url}/ingest/gh", body, headers)
    assert (got, reply["error"]) == (status, code)
    assert reply["message"]


async def test_unknown_source_and_wrong_method(
    worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    status, _, reply = await post(
        http, f"{worker.url}/ingest/nope", b"{}", {"Content-Type": "application/json"}
    )
    assert (status, reply["error"]) == (404, "unknown_source")
    async with http.get(f"{worker.url}/ingest/gh") as resp:
        assert resp.status == 405
        assert (await resp.json())["error"] == "method_not_allowed"


async def test_body_limit_declared_and_streamed(
    worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    big = json.dumps({"pad": "x" * 200}).encode()
    status, _, reply = await post(
        http, f"{worker.url}/ingest/small", big, {"Content-Type": "application/json"}
    )
    assert (status, reply["error"]) == (413, "too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b'{"pad": "' + b"y" * 20

    async with http.post(
        f"{worker.url}/ingest/small", data=chunks(), headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 413  # chunked: no Content-Length, stopped while reading


async def test_configured_json_pointer_missing_is_400(
    worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    body, headers = signed(HMAC, {"no": "id"})
    status, _, reply = await post(http, f"{worker.url}/ingest/carrier", body, headers)
    assert (status, reply["error"]) == (400, "missing_event_id")


async def test_long_idempotency_keys_sharing_a_prefix_are_distinct(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    """Keys are never cut: two ids equal in their first 6000 characters are two events."""
    prefix = "evt-" + "p" * 6000
    ids = [prefix + "-a", prefix + "-b"]
    replies = []
    for event_id in ids:
        body, headers = signed(HMAC, {"event": {"id": event_id}})
        status, _, reply = await post(http, f"{worker.url}/ingest/carrier", body, headers)
        assert (status, reply["status"], reply["eventId"]) == (202, "stored", event_id)
        replies.append(reply)
    body, headers = signed(HMAC, {"event": {"id": ids[1]}, "retry": 1})
    status, _, again = await post(http, f"{worker.url}/ingest/carrier", body, headers)
    assert (status, again["status"], again["id"]) == (200, "duplicate", replies[1]["id"])
    rows = [r for r in await stored(migrated, "carrier") if r["event_id"].startswith(prefix)]
    assert [r["event_id"] for r in rows] == ids


async def test_concurrent_duplicates_store_once(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    body, headers = signed(GITHUB, {"same": True}, delivery_id="same-delivery")
    results = await asyncio.gather(
        *[post(http, f"{worker.url}/ingest/gh", body, headers) for _ in range(50)]
    )
    codes = sorted(r[0] for r in results)
    assert codes.count(202) == 1
    assert codes.count(200) == 49
    assert len({r[2]["id"] for r in results}) == 1
    rows = [r for r in await stored(migrated, "gh") if r["event_id"] == "same-delivery"]
    assert len(rows) == 1


async def test_500_concurrent_requests_stored_exactly_once(
    worker: RunningWorker, migrated: str
) -> None:
    conn = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=conn) as http:
        requests = [signed(STANDARD, {"n": i}, delivery_id=f"bulk-{i}") for i in range(500)]
        results = await asyncio.gather(
            *[post(http, f"{worker.url}/ingest/std", b, h) for b, h in requests]
        )
    assert [r[0] for r in results] == [202] * 500
    rows = await stored(migrated, "std")
    bulk = sorted(r["event_id"] for r in rows if r["event_id"].startswith("bulk-"))
    assert bulk == sorted(f"bulk-{i}" for i in range(500))
    assert len({r[2]["id"] for r in results}) == 500


async def test_probes_and_metrics(worker: RunningWorker, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{worker.url}/healthz") as resp:
        assert resp.status == 200
    async with http.get(f"{worker.url}/readyz") as resp:
        assert resp.status == 200
    body, headers = signed(SHOPIFY, {"m": 1})
    await post(http, f"{worker.url}/ingest/shop", body, headers)
    async with http.get(f"{worker.url}/metrics") as resp:
        text = await resp.text()
    assert 'logistica_ingest_requests_total{code="202",source="shop"}' in text
    for name in (
        "logistica_ingest_request_duration_seconds_bucket",
        "logistica_ingest_batch_rows_bucket",
        "logistica_ingest_queue_depth",
        'logistica_db_pool_connections{state="in_use"}',
    ):
        assert name in text


async def _lock_table(dsn: str) -> asyncpg.Connection:
    """A connection holding a lock that blocks inserts until it is closed."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("BEGIN; LOCK TABLE external_events IN EXCLUSIVE MODE")
    return conn


async def test_deadline_gives_504_and_queue_full_gives_503(migrated: str) -> None:
    settings = IngestSettings(request_timeout=0.5, max_queue=2, writers=1, max_rows=1)
    async with running_worker([GITHUB], migrated, settings) as w:
        locker = await _lock_table(migrated)  # commits now block
        try:
            async with aiohttp.ClientSession() as http:
                reqs = [signed(GITHUB, {"q": i}) for i in range(6)]
                results = await asyncio.gather(
                    *[post(http, f"{w.url}/ingest/gh", b, h) for b, h in reqs]
                )
        finally:
            await locker.close()
    codes = sorted(r[0] for r in results)
    assert 504 in codes
    assert 503 in codes
    overloaded = [r for r in results if r[0] == 503]
    assert all(r[1]["Retry-After"] == "1" and r[2]["error"] == "overloaded" for r in overloaded)
    assert not any(200 <= c < 300 for c in codes)


async def test_not_ready_when_schema_is_behind(database_url: str, pg_server: Any) -> None:
    dsn = await create_database(pg_server.dsn, "unmigrated")
    from tests.support.ingest import wait_ready

    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    from logistica_workers.ingest.server import run_ingest

    task = asyncio.create_task(
        run_ingest([GITHUB], dsn, "127.0.0.1", 0, started=port.set_result, stop=stop)
    )
    url = f"http://127.0.0.1:{await port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/readyz") as resp:
                assert resp.status == 503
                assert "migrate" in (await resp.json())["message"] or resp.status == 503
            body, headers = signed(GITHUB, {"x": 1})
            status, hdrs, reply = await post(http, f"{url}/ingest/gh", body, headers)
            assert (status, reply["error"]) == (503, "database_unavailable")
            assert hdrs["Retry-After"]
        await migrate(dsn)
        await wait_ready(url, 10)
    finally:
        stop.set()
        assert await task == 0


async def test_disconnected_client_work_is_cancelled(migrated: str) -> None:
    """A request still queued when its client goes away is never written."""
    settings = IngestSettings(writers=1, max_rows=1, request_timeout=30)
    async with running_worker([GITHUB], migrated, settings) as w, aiohttp.ClientSession() as http:
        locker = await _lock_table(migrated)  # the one writer blocks on its first batch
        try:
            first = asyncio.create_task(
                post(http, f"{w.url}/ingest/gh", *signed(GITHUB, {"q": 1}, delivery_id="kept"))
            )
            async with aiohttp.ClientSession() as gone:
                body, headers = signed(GITHUB, {"q": 2}, delivery_id="abandoned")
                abandoned = asyncio.create_task(post(gone, f"{w.url}/ingest/gh", body, headers))
                # until both requests are inside the worker: one being written, one queued
                while True:
                    async with http.get(f"{w.url}/metrics") as r:
                        if "logistica_ingest_queue_depth 1.0" in await r.text():
                            break
                    await asyncio.sleep(0.01)
                abandoned.cancel()  # the client gives up and its connection closes
                with pytest.raises(asyncio.CancelledError):
                    await abandoned
        finally:
            await locker.close()
        status, _, _ = await first
    assert status == 202
    ids = {r["event_id"] for r in await stored(migrated, "gh")}
    assert "kept" in ids
    assert "abandoned" not in ids


async def test_a_body_that_stalls_gets_504_at_the_deadline(migrated: str) -> None:
    settings = IngestSettings(request_timeout=0.5)
    async with running_worker([GITHUB], migrated, settings) as w:
        body, headers = signed(GITHUB, {"slow": True}, delivery_id="stalled")
        host, port = w.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST /ingest/gh HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
            + body[:5]  # the rest never comes
        )
        await writer.drain()
        started = time.monotonic()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        waited = time.monotonic() - started
        writer.close()
    assert status_line.split()[1] == b"504"
    assert 0.4 < waited < 5
    assert "stalled" not in {r["event_id"] for r in await stored(migrated, "gh")}
