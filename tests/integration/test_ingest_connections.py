"""Connection guards and the drain of the ingest worker, over raw sockets, against a real
Postgres: slow request heads and idle keep-alive connections are closed, the connection cap
answers 503, a shutdown answers what it already received, and start-up errors are clear."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from logistica_workers.ingest.app import IngestSettings
from logistica_workers.runtime.connections import ConnectionLimits
from tests.support.cli import logistica
from tests.support.ingest import RunningWorker, running_worker, signed, source
from tests.support.wait import wait_for_async

GITHUB = source("gh", "github")
LIMITS = ConnectionLimits(header_timeout=0.3, idle_timeout=0.6, max_connections=4)


@pytest.fixture
async def worker(migrated: str) -> AsyncIterator[RunningWorker]:
    async with running_worker([GITHUB], migrated, IngestSettings(limits=LIMITS)) as w:
        yield w


def hostport(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed; fails past ``seconds``."""
    t0 = time.monotonic()
    data = await asyncio.wait_for(reader.read(), seconds)
    return data, time.monotonic() - t0


def unread_by_server(server_port: int, client_port: int) -> int | None:
    """Bytes the server has not read yet on this loopback connection (its receive queue in
    /proc/net/tcp), or None if there is no such connection."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[2].endswith(remote):
            return int(fields[4].split(":")[1], 16)
    return None


async def server_has_read(server_port: int, client_port: int, timeout: float = 5) -> None:
    """Wait until the worker has seen every byte sent so far on this connection."""

    async def read_all() -> bool:
        return unread_by_server(server_port, client_port) == 0

    await wait_for_async(
        read_all, timeout, f"the server to read connection :{client_port}", interval=0.005
    )


def request(body: bytes, headers: dict[str, str], keep_alive: bool = True) -> bytes:
    lines = [
        "POST /ingest/gh HTTP/1.1",
        "Host: test",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def valid_event(url: str) -> None:
    body, headers = signed(GITHUB, {"after": time.time_ns()})
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/ingest/gh", data=body, headers=headers) as resp:
            assert resp.status == 202


async def test_a_slow_request_head_is_closed_at_the_header_timeout(worker: RunningWorker) -> None:
    readers = []
    for _ in range(3):
        reader, writer = await asyncio.open_connection(*hostport(worker.url))
        writer.write(b"POST /ingest/gh HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        readers.append((reader, writer))
    for reader, writer in readers:
        data, took = await closed_within(reader, 5)
        assert data == b"" and took < LIMITS.header_timeout + 0.5
        writer.close()
    await valid_event(worker.url)


async def test_an_idle_keep_alive_connection_is_closed(worker: RunningWorker) -> None:
    reader, writer = await asyncio.open_connection(*hostport(worker.url))
    body, headers = signed(GITHUB, {"idle": 1})
    writer.write(request(body, headers))
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 202")
    t0 = time.monotonic()
    rest = await asyncio.wait_for(reader.read(), 5)  # the response, then EOF at the idle deadline
    took = time.monotonic() - t0
    assert b'"status":"stored"' in rest
    assert LIMITS.idle_timeout - 0.1 <= took < LIMITS.idle_timeout + 0.5
    writer.close()
    # a connection that never sends anything is idle too
    reader, writer = await asyncio.open_connection(*hostport(worker.url))
    data, took = await closed_within(reader, 5)
    assert data == b"" and took < LIMITS.idle_timeout + 0.5
    writer.close()


async def test_connections_over_the_cap_get_503(worker: RunningWorker) -> None:
    held = [await asyncio.open_connection(*hostport(worker.url)) for _ in range(4)]
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(*hostport(worker.url))
    data, _ = await closed_within(reader, 5)
    assert time.monotonic() - t0 < 0.05
    assert data.startswith(b"HTTP/1.1 503") and b"too_many_connections" in data
    assert b"Retry-After: 1" in data
    writer.close()
    for _, w in held:
        w.close()
        await w.wait_closed()

    # the held ones are gone: capacity is back (poll: the server sees the closes asynchronously)
    async def accepted() -> bool:
        await valid_event(worker.url)
        return True

    await wait_for_async(accepted, 5, "an event accepted again", interval=0.02)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{worker.url}/metrics") as resp:
            text = await resp.text()
    assert 'logistica_ingest_connections_refused_total{reason="max_connections"}' in text


async def test_drain_answers_what_it_received_and_bounds_a_slow_body(
    migrated: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGISTICA_GRACE_SECONDS", "6")  # budget 5 s, drain at most 3 s
    settings = IngestSettings(request_timeout=30, limits=LIMITS)
    async with running_worker([GITHUB], migrated, settings) as w:
        addr = hostport(w.url)
        # a body still arriving: 40 of its 80 bytes sent
        slow_r, slow_w = await asyncio.open_connection(*addr)
        body, headers = signed(GITHUB, {"pad": "x" * 60})
        slow_w.write(request(body, headers)[: -len(body) // 2])
        # a head half sent on a keep-alive connection: finished after the listener closed
        half_r, half_w = await asyncio.open_connection(*addr)
        body2, headers2 = signed(GITHUB, {"finished": "after the listener closed"})
        whole = request(body2, headers2)
        half_w.write(whole[:30])
        for wr in (slow_w, half_w):  # sent, and the server has read both partial requests
            await wr.drain()
            await server_has_read(addr[1], wr.get_extra_info("sockname")[1])
        t0 = time.monotonic()
        w.stop.set()

        # wait until the listener is closed: a new connection is refused
        async def refused() -> bool:
            try:
                socket.create_connection(addr, timeout=0.2).close()
            except OSError:
                return True
            return False

        await wait_for_async(refused, 5, "the listener to close", interval=0.01)
        half_w.write(whole[30:])
        answer = await asyncio.wait_for(half_r.read(), 5)
        assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
        assert b"Connection: close" in answer
        slow = await asyncio.wait_for(slow_r.read(), 5)
        took = time.monotonic() - t0
        assert slow.startswith(b"HTTP/1.1 503"), slow[:200]
        assert b'"draining"' in slow and b"Connection: close" in slow
        assert took < 4, f"the slow body waited {took:.1f}s (request deadline 30 s)"
        for wr in (slow_w, half_w):
            wr.close()


async def test_responses_say_connection_close_once_unready(
    migrated: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGISTICA_DRAIN_DELAY_SECONDS", "1")
    async with running_worker([GITHUB], migrated) as w:
        async with aiohttp.ClientSession() as http:
            body, headers = signed(GITHUB, {"before": 1})
            async with http.post(f"{w.url}/ingest/gh", data=body, headers=headers) as resp:
                assert resp.status == 202 and "Connection" not in resp.headers
            w.stop.set()

            async def unready() -> bool:  # unready comes first
                async with http.get(f"{w.url}/readyz") as resp:
                    return resp.status == 503

            await wait_for_async(unready, 5, "/readyz to answer 503", interval=0.01)
            body, headers = signed(GITHUB, {"during": 1})
            async with http.post(f"{w.url}/ingest/gh", data=body, headers=headers) as resp:
                assert resp.status == 202
                assert resp.headers.get("Connection", "").lower() == "close"


MANIFEST = """\
apiVersion: logistica.dev/v1alpha1
kind: WebhookSource
metadata: {name: gh}
spec: {provider: github, secretRef: {name: gh}}
---
apiVersion: v1
kind: Secret
metadata: {name: gh}
stringData: {key: s3cret}
"""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOGISTICA_INGEST_HEADER_TIMEOUT", "soon"),
        ("LOGISTICA_INGEST_IDLE_TIMEOUT", "0"),
        ("LOGISTICA_INGEST_MAX_CONNECTIONS", "1.5"),
    ],
)
def test_bad_connection_settings_exit_2_naming_the_variable(
    variable: str, value: str, migrated: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "gh.yaml"
    manifest.write_text(MANIFEST)
    t0 = time.monotonic()
    out = logistica(
        "ingest", "-f", str(manifest), "--database-url", migrated, env={variable: value}
    )
    assert out.returncode == 2, out.stderr
    assert variable in out.stderr and "Traceback" not in out.stderr
    assert time.monotonic() - t0 < 30


def test_port_in_use_is_a_clear_message_and_exit_1(migrated: str, tmp_path: Path) -> None:
    manifest = tmp_path / "gh.yaml"
    manifest.write_text(MANIFEST)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = logistica(
            "ingest",
            "-f",
            str(manifest),
            "--database-url",
            migrated,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        )
    assert out.returncode == 1, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in out.stderr
    assert "Traceback" not in out.stderr
