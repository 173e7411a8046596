"""Ingest under failure: Postgres stopped mid-load, SIGTERM under load, key rotation on disk."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from logistica_workers.api.ingest_config import IngestSource, sources_to_json
from logistica_workers.db.embedded import EmbeddedPostgres, free_port
from logistica_workers.db.migrate import migrate
from tests.support.ingest import running_worker, signed, source, wait_ready

SRC = source("orders", "github", {"k": "orders-secret"})


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of this test's own, so stopping it disturbs no other test."""
    pg = EmbeddedPostgres(tmp_path / "pg", fsync=False)
    pg.start()
    yield pg
    pg.stop(mode="immediate")


async def event_ids(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["event_id"] for r in await conn.fetch("SELECT event_id FROM external_events")}
    finally:
        await conn.close()


async def send(http: aiohttp.ClientSession, url: str, n: int, prefix: str) -> tuple[str, int]:
    body, headers = signed(SRC, {"n": n}, delivery_id=f"{prefix}-{n}")
    try:
        async with http.post(f"{url}/ingest/orders", data=body, headers=headers) as resp:
            return f"{prefix}-{n}", resp.status
    except aiohttp.ClientError:
        return f"{prefix}-{n}", -1


async def test_postgres_outage_gives_503_and_loses_nothing_acknowledged(
    own_postgres: EmbeddedPostgres,
) -> None:
    await migrate(own_postgres.dsn)
    acknowledged: set[str] = set()
    codes: list[int] = []
    async with running_worker([SRC], own_postgres.dsn) as w, aiohttp.ClientSession() as http:
        stop_load = asyncio.Event()

        async def load(worker_no: int) -> None:
            n = 0
            while not stop_load.is_set():
                eid, code = await send(http, w.url, n, f"w{worker_no}")
                codes.append(code)
                if 200 <= code < 300:
                    acknowledged.add(eid)
                n += 1

        tasks = [asyncio.create_task(load(i)) for i in range(8)]
        deadline = time.monotonic() + 20
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(own_postgres.stop, "immediate")  # crash-like stop mid-load
        while codes.count(503) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(own_postgres.start)
        await wait_ready(w.url, 20)  # recovers by itself
        acked_before = len(acknowledged)
        while len(acknowledged) < acked_before + 100 and time.monotonic() < deadline + 20:
            await asyncio.sleep(0.01)
        stop_load.set()
        await asyncio.gather(*tasks)
    assert codes.count(503) >= 20
    assert len(acknowledged) >= acked_before + 100, "no recovery after Postgres came back"
    assert acknowledged <= await event_ids(own_postgres.dsn)
    assert not [c for c in codes if c not in (202, 503, 504)]


async def test_key_rotation_from_mounted_secret(migrated_dsn: str, tmp_path: Path) -> None:
    """The kubelet's atomic swap: ..data -> ..2026_x, files link through ..data."""
    mount = tmp_path / "secret"
    mount.mkdir()

    def project(keys: dict[str, str], version: str) -> None:
        target = mount / f"..{version}"
        target.mkdir()
        for name, value in keys.items():
            (target / name).write_text(value)
        tmp = mount / "..data_tmp"
        tmp.symlink_to(target.name)
        tmp.replace(mount / "..data")
        for name in keys:
            link = mount / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
        for old in mount.iterdir():
            if (
                old.is_symlink()
                and not (mount / "..data" / old.name).exists()
                and old.name[0] != "."
            ):
                old.unlink()

    project({"current": "key-one"}, "v1")
    src = IngestSource(name="orders", namespace="default", spec=SRC.spec, secretDir=str(mount))
    from logistica_workers.ingest.app import IngestSettings

    async with running_worker([src], migrated_dsn, IngestSettings(key_reload_interval=0.05)) as w:
        async with aiohttp.ClientSession() as http:

            async def status_with(key: str, n: int) -> int:
                body, headers = signed(SRC, {"n": n}, key=key)
                async with http.post(f"{w.url}/ingest/orders", data=body, headers=headers) as r:
                    return r.status

            assert await status_with("key-one", 1) == 202
            assert await status_with("key-two", 2) == 401
            project({"current": "key-one", "next": "key-two"}, "v2")
            deadline = time.monotonic() + 10
            n = 3
            while await status_with("key-two", n) != 202:
                assert time.monotonic() < deadline, "new key never accepted"
                n += 1
                await asyncio.sleep(0.05)
            assert await status_with("key-one", 1000) == 202  # old key still kept
            project({"next": "key-two"}, "v3")
            while await status_with("key-one", n) != 401:
                assert time.monotonic() < deadline, "removed key still accepted"
                n += 1
                await asyncio.sleep(0.05)


@pytest.fixture
async def migrated_dsn(database_url: str) -> str:
    await migrate(database_url)
    return database_url


def _spawn_worker(dsn: str, port: int, grace: float, delay: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LOGISTICA_SOURCES": sources_to_json([SRC]),
        "LOGISTICA_DATABASE_URL": dsn,
        "LOGISTICA_GRACE_SECONDS": str(grace),
        "LOGISTICA_DRAIN_DELAY_SECONDS": str(delay),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "logistica_workers",
            "ingest",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stderr=subprocess.PIPE,
    )


async def test_sigterm_under_load_drains_and_loses_nothing(migrated_dsn: str) -> None:
    grace, delay = 10.0, 1.5
    port = free_port()
    proc = _spawn_worker(migrated_dsn, port, grace, delay)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, 30)
        acknowledged: set[str] = set()
        results: list[tuple[float, int]] = []
        stop_load = asyncio.Event()
        async with aiohttp.ClientSession() as http:

            async def load(worker_no: int) -> None:
                n = 0
                while not stop_load.is_set():
                    eid, code = await send(http, url, n, f"t{worker_no}")
                    results.append((time.monotonic(), code))
                    if 200 <= code < 300:
                        acknowledged.add(eid)
                    n += 1

            tasks = [asyncio.create_task(load(i)) for i in range(8)]
            while len(acknowledged) < 200:
                await asyncio.sleep(0.01)
                assert proc.poll() is None
            term_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = await asyncio.to_thread(proc.wait, grace)
            exited_at = time.monotonic()
            stop_load.set()
            await asyncio.gather(*tasks)
        assert rc == 0
        assert exited_at - term_at < grace
        # during the propagation window the worker kept answering, with no resets
        window = [code for t, code in results if term_at <= t < term_at + delay * 0.9]
        assert window, "no requests answered in the drain window"
        assert all(code == 202 for code in window), window
        assert acknowledged <= await event_ids(migrated_dsn)
        # readiness failed at once: the log shows each phase with its duration
        log = proc.stderr.read().decode() if proc.stderr else ""
        for phase in ("unready", "propagate", "drain", "flush", "close-pool"):
            assert f'"phase": "{phase}"' in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_readiness_fails_at_once_on_sigterm(migrated_dsn: str) -> None:
    port = free_port()
    proc = _spawn_worker(migrated_dsn, port, 10.0, 2.0)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, 30)
        proc.send_signal(signal.SIGTERM)
        await wait_ready(url, 1.0, expect=503)  # well inside the 2 s propagation delay
        async with aiohttp.ClientSession() as http:
            body, headers = signed(SRC, {"during": "drain"})
            async with http.post(f"{url}/ingest/orders", data=body, headers=headers) as r:
                assert r.status == 202  # still serving while endpoints update
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
