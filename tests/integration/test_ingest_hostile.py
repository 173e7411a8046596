"""Hostile and unusual requests against a real worker and Postgres (issue 10): each is answered
within 50 ms with the right status while /healthz keeps answering within 50 ms, stores nothing it
should not, and a valid event right after it is stored."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
import zlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import asyncpg
import pytest

from logistica_workers.ingest.providers import sign
from tests.support.ingest import RunningWorker, running_worker, signed, source

T = TypeVar("T")
FAST = 0.05  # seconds: a hostile request's answer, and /healthz meanwhile

GITHUB = source("gh", "github")
REPLAY = source("ghr", "github", replayWindowSeconds=60)
ZIPPED = source("zip", "github", maxBodyBytes=64 * 1024, gzip={})
ZIPPED_WIRE = source("zipw", "github", gzip={"signedBody": "compressed"})
STRIPE = source("stripe", "stripe")
SLACK = source("slack", "slack")
TWILIO = source("sms", "twilio")
TWILIO_PUBLIC = source("voice", "twilio", publicUrl="https://hooks.example.com/twilio/voice")
CARRIER = source(
    "carrier",
    "hmac",
    hmac={"header": "X-Sig"},
    idempotencyKey={"jsonPointer": "/id"},
)
ALL = [GITHUB, REPLAY, ZIPPED, ZIPPED_WIRE, STRIPE, SLACK, TWILIO, TWILIO_PUBLIC, CARRIER]


@pytest.fixture
async def worker(migrated: str) -> AsyncIterator[RunningWorker]:
    async with running_worker(ALL, migrated) as w:
        yield w


async def count(dsn: str, source_name: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM external_events WHERE source=$1", source_name)
        )
    finally:
        await conn.close()


async def payloads(dsn: str, source_name: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM external_events WHERE source=$1 ORDER BY id", source_name
        )
        return [json.loads(r["payload"]) for r in rows]
    finally:
        await conn.close()


async def while_probing(url: str, action: Awaitable[T]) -> tuple[T, float, float]:
    """Run ``action`` while /healthz is polled; (its result, its seconds, slowest /healthz)."""
    done = asyncio.Event()
    slowest = 0.0

    async def probe() -> None:
        nonlocal slowest
        async with aiohttp.ClientSession() as s:
            while True:
                t0 = time.perf_counter()
                async with s.get(f"{url}/healthz") as r:
                    assert r.status == 200
                slowest = max(slowest, time.perf_counter() - t0)
                if done.is_set():
                    return
                await asyncio.sleep(0.002)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0.01)  # let the prober connect first
    t0 = time.perf_counter()
    try:
        result = await action
    finally:
        took = time.perf_counter() - t0
        done.set()
    await asyncio.wait_for(prober, 5)
    return result, took, slowest


async def send(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def hostile(
    worker: RunningWorker,
    http: aiohttp.ClientSession,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> tuple[int, Any]:
    """Send it while probing; assert both stayed fast; return (status, JSON answer)."""
    (status, _, reply), took, slowest = await while_probing(
        worker.url, send(http, f"{worker.url}{path}", body, headers)
    )
    assert took <= FAST, f"answered in {took * 1000:.1f} ms"
    assert slowest <= FAST, f"/healthz took {slowest * 1000:.1f} ms meanwhile"
    return status, reply


async def valid_after(worker: RunningWorker, http: aiohttp.ClientSession) -> None:
    body, headers = signed(GITHUB, {"after": time.time_ns()})
    status, _, reply = await send(http, f"{worker.url}/ingest/gh", body, headers)
    assert (status, reply["status"]) == (202, "stored")


# --- gzip ----------------------------------------------------------------------------------


def zipped(src: Any, doc: Any, *, sign_wire: bool = False, key: str | None = None) -> tuple:
    raw = json.dumps(doc).encode()
    wire = gzip.compress(raw)
    headers = sign(
        src.spec.provider, key or src.keys["k1"], wire if sign_wire else raw, timestamp=0
    )
    headers["Content-Encoding"] = "gzip"
    return raw, wire, headers


async def test_gzip_is_refused_unless_the_source_opts_in(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    _, wire, headers = zipped(GITHUB, {"a": 1})
    status, reply = await hostile(worker, http, "/ingest/gh", wire, headers)
    assert (status, reply["error"]) == (415, "unsupported_content_encoding")
    assert "spec.gzip" in reply["message"]
    headers["Content-Encoding"] = "br"
    status, reply = await hostile(worker, http, "/ingest/gh", wire, headers)
    assert status == 415 and "'br'" in reply["message"]
    await valid_after(worker, http)


def bomb(inflated: int) -> bytes:
    """A gzip stream of ``inflated`` zero bytes (about 1000:1), made without holding it all."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(inflated >> 20)]
    return b"".join(parts) + c.flush()


@pytest.fixture(scope="module")
def gzip_bombs() -> tuple[bytes, bytes]:
    # 48 MiB inflated in 47 KB (under the 64 KiB limit of "zip"); 1 GiB in about 1 MB (under
    # the default 1 MiB of "zipw")
    return bomb(48 << 20), bomb(1 << 30)


async def test_gzip_bomb_is_bounded_by_the_inflated_size(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str, gzip_bombs: tuple
) -> None:
    small, big = gzip_bombs
    assert len(small) < 64 * 1024 and len(big) < 1 << 20
    before = await count(migrated, "zip"), await count(migrated, "zipw")
    # no valid signature, and a valid one: either way inflation stops past maxBodyBytes
    for key in ("wrong", ZIPPED.keys["k1"]):  # type: ignore[index]
        headers = sign(ZIPPED.spec.provider, key, small, timestamp=0)
        headers["Content-Encoding"] = "gzip"
        status, reply = await hostile(worker, http, "/ingest/zip", small, headers)
        assert (status, reply["error"]) == (413, "too_large")
        assert "inflated body exceeds 65536" in reply["message"]
    # a source that signs the gzip bytes verifies before inflating anything
    headers = sign(ZIPPED_WIRE.spec.provider, "wrong", big, timestamp=0)
    headers["Content-Encoding"] = "gzip"
    status, reply = await hostile(worker, http, "/ingest/zipw", big, headers)
    assert (status, reply["error"]) == (401, "bad_signature")
    headers = sign(ZIPPED_WIRE.spec.provider, ZIPPED_WIRE.keys["k1"], big, timestamp=0)  # type: ignore[index]
    headers["Content-Encoding"] = "gzip"
    status, reply = await hostile(worker, http, "/ingest/zipw", big, headers)
    assert (status, reply["error"]) == (413, "too_large")
    assert f"inflated body exceeds {1 << 20}" in reply["message"]
    # the wire size is bounded as before
    headers = sign(ZIPPED.spec.provider, "wrong", big, timestamp=0)
    headers["Content-Encoding"] = "gzip"
    status, reply = await hostile(worker, http, "/ingest/zip", big, headers)
    assert (status, reply["error"]) == (413, "too_large")
    assert (await count(migrated, "zip"), await count(migrated, "zipw")) == before
    await valid_after(worker, http)


async def test_gzip_valid_bodies_are_verified_over_what_the_provider_signed(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    _, wire, headers = zipped(ZIPPED, {"z": "inflated"})
    status, _, reply = await send(http, f"{worker.url}/ingest/zip", wire, headers)
    assert (status, reply["status"]) == (202, "stored")
    _, wire, headers = zipped(ZIPPED_WIRE, {"z": "compressed"}, sign_wire=True)
    status, _, reply = await send(http, f"{worker.url}/ingest/zipw", wire, headers)
    assert (status, reply["status"]) == (202, "stored")
    # signed over the other bytes than the source says: not authentic
    _, wire, headers = zipped(ZIPPED_WIRE, {"z": "wrong bytes"})
    status, _, reply = await send(http, f"{worker.url}/ingest/zipw", wire, headers)
    assert status == 401
    headers = sign(GITHUB.spec.provider, ZIPPED.keys["k1"], b"not gzip", timestamp=0)  # type: ignore[index]
    headers["Content-Encoding"] = "gzip"
    status, reply = await hostile(worker, http, "/ingest/zip", b"not gzip", headers)
    assert (status, reply["error"]) == (400, "bad_gzip")
    assert await payloads(migrated, "zip") == [{"z": "inflated"}]
    assert await payloads(migrated, "zipw") == [{"z": "compressed"}]


# --- strict JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"a": NaN}', "unexpected character"),
        (b'{"a": Infinity}', "unexpected character"),
        (b'{"a": -Infinity}', "not valid JSON"),
        (b'\xef\xbb\xbf{"a": 1}', "byte order mark"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"a": "x\\u0000y"}', "\\u0000"),
        (b'{"a\\u0000": 1}', "\\u0000"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nesting deeper than 64"),
        (b"[" * 65 + b"]" * 65, "nesting deeper than 64"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"9" * 5000 + b"}", "out of range"),
        (b'"text"', "object or array"),
    ],
    ids=[
        "nan",
        "infinity",
        "-infinity",
        "bom",
        "lone-surrogate",
        "nul",
        "nul-key",
        "bad-utf8",
        "deep-5000",
        "deep-65",
        "huge-exponent",
        "5000-digits",
        "scalar",
    ],
)
async def test_json_jsonb_cannot_hold_is_400_before_the_queue(
    raw: bytes, words: str, worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    before = await count(migrated, "carrier")
    headers = sign(
        CARRIER.spec.provider, "carrier-secret-1", raw, timestamp=0, hmac_spec=CARRIER.spec.hmac
    )
    status, reply = await hostile(worker, http, "/ingest/carrier", raw, headers)
    assert (status, reply["error"]) == (400, "bad_json"), reply
    assert words in reply["message"]
    for internal in ("recursion", "Python", "Traceback", "4300", "int_max_str_digits"):
        assert internal not in reply["message"]
    assert await count(migrated, "carrier") == before
    await valid_after(worker, http)


async def test_long_numbers_are_stored_exactly(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    digits = "9" * 300  # beyond any 64-bit integer, still a finite double: stored as sent
    raw = f'{{"id": "long-number", "n": {digits}}}'.encode()
    headers = sign(
        CARRIER.spec.provider, "carrier-secret-1", raw, timestamp=0, hmac_spec=CARRIER.spec.hmac
    )
    status, _, reply = await send(http, f"{worker.url}/ingest/carrier", raw, headers)
    assert (status, reply["status"]) == (202, "stored")
    conn = await asyncpg.connect(migrated)
    try:
        stored = await conn.fetchval(
            "SELECT payload->>'n' FROM external_events WHERE source='carrier' AND event_id=$1",
            "long-number",
        )
    finally:
        await conn.close()
    assert stored == digits


# --- Stripe --------------------------------------------------------------------------------


async def test_stripe_valid_v1_next_to_a_non_hex_one(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    body, headers = signed(STRIPE, {"id": "evt_multi", "type": "charge.succeeded"})
    t, v1 = headers["Stripe-Signature"].split(",")
    headers["Stripe-Signature"] = f"{t},v1=not-hex,{v1}"
    status, _, reply = await send(http, f"{worker.url}/ingest/stripe", body, headers)
    assert (status, reply["status"], reply["eventId"]) == (202, "stored", "evt_multi")


# --- Slack ---------------------------------------------------------------------------------


def slack_signed(raw: bytes, form: bool = False) -> dict[str, str]:
    headers = sign(SLACK.spec.provider, "slack-secret-1", raw, timestamp=int(time.time()))
    if form:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return headers


async def test_slack_url_verification_echoes_the_challenge_after_the_signature(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    before = await count(migrated, "slack")
    raw = json.dumps(
        {
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    ).encode()
    status, reply = await hostile(worker, http, "/ingest/slack", raw, slack_signed(raw))
    assert (status, reply) == (
        200,
        {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
    )
    forged = slack_signed(raw)
    forged["X-Slack-Signature"] = "v0=" + "0" * 64
    status, reply = await hostile(worker, http, "/ingest/slack", raw, forged)
    assert (status, reply["error"]) == (401, "bad_signature")
    assert "challenge" not in json.dumps(reply)
    assert await count(migrated, "slack") == before


async def test_slack_form_bodies_are_stored_as_json(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    command = urlencode(
        {"command": "/deliver", "text": "order 42", "team_id": "T1", "trigger_id": "tr-1"}
    ).encode()
    status, _, reply = await send(
        http, f"{worker.url}/ingest/slack", command, slack_signed(command, form=True)
    )
    assert (status, reply["status"]) == (202, "stored")
    action = {"type": "block_actions", "actions": [{"action_id": "approve"}], "user": {"id": "U1"}}
    interactive = urlencode({"payload": json.dumps(action)}).encode()
    status, _, reply = await send(
        http, f"{worker.url}/ingest/slack", interactive, slack_signed(interactive, form=True)
    )
    assert (status, reply["status"]) == (202, "stored")
    bad = urlencode({"payload": '{"a": NaN}'}).encode()
    status, reply = await hostile(worker, http, "/ingest/slack", bad, slack_signed(bad, form=True))
    assert (status, reply["error"]) == (400, "bad_form")
    assert await payloads(migrated, "slack") == [
        {"command": "/deliver", "text": "order 42", "team_id": "T1", "trigger_id": "tr-1"},
        {"payload": action},
    ]
    # forms are for slack and twilio only
    headers = sign(GITHUB.spec.provider, "gh-secret-1", command, timestamp=0)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, reply = await hostile(worker, http, "/ingest/gh", command, headers)
    assert (status, reply["error"]) == (415, "unsupported_media_type")


# --- replay window -------------------------------------------------------------------------


async def test_replay_under_a_new_delivery_id_is_not_stored(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    doc = {"action": "closed", "number": 7}
    body, first = signed(REPLAY, doc, delivery_id="r-1")
    status, _, stored = await send(http, f"{worker.url}/ingest/ghr", body, first)
    assert (status, stored["status"]) == (202, "stored")
    _, replay = signed(REPLAY, doc, delivery_id="r-2")
    status, reply = await hostile(worker, http, "/ingest/ghr", body, replay)
    assert (status, reply["status"], reply["id"]) == (200, "replay", stored["id"])
    status, _, again = await send(http, f"{worker.url}/ingest/ghr", body, first)
    assert (status, again["status"], again["id"]) == (200, "duplicate", stored["id"])
    # racing replays of one new body under fresh ids: exactly one is stored
    racing = {"action": "opened", "number": 8}
    results = await asyncio.gather(
        *[
            send(http, f"{worker.url}/ingest/ghr", *signed(REPLAY, racing, delivery_id=f"x-{i}"))
            for i in range(20)
        ]
    )
    assert sorted(r[2]["status"] for r in results) == ["replay"] * 19 + ["stored"]
    assert await payloads(migrated, "ghr") == [doc, racing]
    # a source without a window stores the same body under a new id (its documented default)
    body, headers = signed(GITHUB, doc, delivery_id="plain-1")
    assert (await send(http, f"{worker.url}/ingest/gh", body, headers))[0] == 202
    _, headers = signed(GITHUB, doc, delivery_id="plain-2")
    assert (await send(http, f"{worker.url}/ingest/gh", body, headers))[0] == 202


# --- Twilio --------------------------------------------------------------------------------


async def test_twilio_form_signed_over_the_url_the_sender_used(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+351900000000"}
    form = urlencode(params).encode()
    # behind an ingress: the sender used https://hooks.example.com/ingest/sms?tenant=a
    public = "https://hooks.example.com/ingest/sms?tenant=a"
    headers = sign(
        TWILIO.spec.provider,
        "sms-secret-1",
        form,
        timestamp=0,
        url=public,
        form=True,
        delivery_id="tw-1",
    )
    forwarded = {**headers, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
    status, _, reply = await send(http, f"{worker.url}/ingest/sms?tenant=a", form, forwarded)
    assert (status, reply["status"], reply["eventId"]) == (202, "stored", "tw-1")
    # without the forwarded headers the worker sees http://127.0.0.1:PORT: not what was signed
    status, reply = await hostile(worker, http, "/ingest/sms?tenant=a", form, headers)
    assert (status, reply["error"]) == (401, "bad_signature")
    assert "http://127.0.0.1" in reply["message"]
    # a configured publicUrl wins over the headers (the ingress may rewrite the path)
    signed_url = "https://hooks.example.com/twilio/voice?tenant=b"
    headers = sign(
        TWILIO.spec.provider, "voice-secret-1", form, timestamp=0, url=signed_url, form=True
    )
    status, _, reply = await send(http, f"{worker.url}/ingest/voice?tenant=b", form, headers)
    assert (status, reply["status"]) == (202, "stored")
    # a JSON body: bodySHA256 in the signed URL binds it
    raw = b'{"event": "delivered"}'
    url = "https://hooks.example.com/ingest/sms?bodySHA256=" + hashlib.sha256(raw).hexdigest()
    headers = sign(TWILIO.spec.provider, "sms-secret-1", raw, timestamp=0, url=url)
    forwarded = {**headers, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
    path = url.removeprefix("https://hooks.example.com")
    status, _, reply = await send(http, f"{worker.url}{path}", raw, forwarded)
    assert (status, reply["status"]) == (202, "stored")
    status, reply = await hostile(worker, http, path, b'{"event": "failed"}', forwarded)
    assert (status, reply["error"]) == (401, "bad_signature")
    assert await payloads(migrated, "sms") == [params, {"event": "delivered"}]
    assert await payloads(migrated, "voice") == [params]


# --- metrics -------------------------------------------------------------------------------


async def test_metrics_follow_prometheus_conventions(
    worker: RunningWorker, http: aiohttp.ClientSession
) -> None:
    await valid_after(worker, http)
    async with http.get(f"{worker.url}/metrics") as resp:
        text = await resp.text()
    assert "logistica_ingest_request_duration_seconds_bucket" in text
    assert "logistica_ingest_request_seconds" not in text
    assert "_created" not in text
    assert "process_open_fds" in text and "process_resident_memory_bytes" in text
    assert "logistica_db_pool_max_connections " in text
    assert 'state="size"' not in text and 'state="max"' not in text
    assert 'logistica_db_pool_connections{state="idle"}' in text


async def test_header_bytes_that_are_not_utf8(
    worker: RunningWorker, http: aiohttp.ClientSession, migrated: str
) -> None:
    """A delivery id that is not UTF-8 is a 400; such a stored header is kept readable."""
    reader, writer = await asyncio.open_connection(*worker.url.removeprefix("http://").split(":"))
    body, headers = signed(GITHUB, {"utf8": False})
    headers["X-GitHub-Delivery"] = "id-\udcff"
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "X-GitHub-Delivery")
    raw = (
        f"POST /ingest/gh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}"
        f"Content-Length: {len(body)}\r\n".encode()
        + b"X-GitHub-Delivery: id-\xff\r\n\r\n"
        + body
    )
    writer.write(raw)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"bad_event_id" in answer
    await valid_after(worker, http)
