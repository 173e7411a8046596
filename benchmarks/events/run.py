"""The event feed's targets, measured on this machine (Postgres with fsync on, the services as
their own processes, the load generator and consumers here too: everything shares the cores).

1. skip:  4 writers commit in scrambled order (some transactions held open, 10 % rolled back)
          while one consumer tails GET /events; beside it a naive tailer polls
          ``WHERE id > last ORDER BY id`` the same way. Counts of missed/duplicated events.
2. wake:  signed webhooks POSTed to the ingest worker at --rate per second; a consumer process
          long-polls the feed; per event, delivery time minus the time its 202 arrived.
3. read:  one consumer reads --read-rows events in batches of 1,000 over HTTP, against a plain
          ``COPY (SELECT the same rows in the same order) TO STDOUT`` as the ceiling;
          interleaved, --rounds times each.

4. drop:  a day partition of --drop-rows events 60 days old is dropped (then its keys are
          deleted in batches) while the ingest worker takes --drop-rate requests/s: the drop's
          duration and ingest latency before, during and after.

Usage: python benchmarks/events/run.py [--skip-events 100000] [--rate 1000] [--wake-seconds 20]
       [--read-rows 200000] [--rounds 3] [--out benchmarks/events/results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import io
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from logistica_workers.db.embedded import EmbeddedPostgres, free_port
from logistica_workers.db.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.ingest.run import SECRET  # noqa: E402
from benchmarks.ingest.run import manifest as write_manifest  # noqa: E402

from tests.support.events import scrambled_writer, tail  # noqa: E402


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def service(args: list[str], port: int, dsn: str) -> Iterator[str]:
    env = {
        **os.environ,
        "LOGISTICA_DATABASE_URL": dsn,
        "LOGISTICA_LOG_LEVEL": "WARNING",
        "LOGISTICA_DRAIN_DELAY_SECONDS": "0",
    }
    cmd = [sys.executable, "-m", "logistica_workers", *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/readyz")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# --- 1. skip ------------------------------------------------------------------------------


async def naive_tail(dsn: str, stop: asyncio.Event, seen: list[str]) -> None:
    """The obvious, wrong way: remember the highest id seen."""
    conn = await asyncpg.connect(dsn)
    last = 0
    try:
        while True:
            rows = await conn.fetch(
                "SELECT id, event_id FROM external_events WHERE id > $1 ORDER BY id LIMIT 1000",
                last,
            )
            seen += [r["event_id"] for r in rows]
            if rows:
                last = rows[-1]["id"]
            elif stop.is_set():
                return
            else:
                await asyncio.sleep(0.001)
    finally:
        await conn.close()


async def skip_run(dsn: str, url: str, total: int) -> dict[str, Any]:
    per = total // 4
    done: list[int] = []
    stop = asyncio.Event()
    naive: list[str] = []
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        writers = [
            asyncio.create_task(scrambled_writer(dsn, f"s{i}", per, seed=100 + i)) for i in range(4)
        ]
        feed = asyncio.create_task(
            tail(
                http,
                lambda: url,
                lambda n: bool(done) and n >= done[0],
                limit=1000,
                wait=5,
                deadline=1800,
            )
        )
        naive_task = asyncio.create_task(naive_tail(dsn, stop, naive))
        logs = await asyncio.gather(*writers)
        committed = {e for log in logs for e in log.committed}
        rolled = {e for log in logs for e in log.rolled_back}
        done.append(len(committed))
        got = await feed
        stop.set()
        await naive_task
    elapsed = time.monotonic() - t0
    ids = got.event_ids
    return {
        "events_written": sum(len(log.committed) + len(log.rolled_back) for log in logs),
        "committed": len(committed),
        "rolled_back": len(rolled),
        "seconds": round(elapsed, 1),
        "feed": {
            "delivered": len(ids),
            "duplicates": len(ids) - len(set(ids)),
            "missing": len(committed - set(ids)),
            "rolled_back_delivered": len(rolled & set(ids)),
            "in_cursor_order": ids == await _stored_order(dsn, prefix="s"),
        },
        "naive_id_tail": {
            "delivered": len(naive),
            "missing": len(committed - set(naive)),
            "rolled_back_delivered": len(rolled & set(naive)),
        },
    }


async def _stored_order(dsn: str, prefix: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id FROM external_events WHERE source LIKE $1 ORDER BY tx, id",
            prefix + "%",
        )
    finally:
        await conn.close()
    return [r["event_id"] for r in rows]


# --- 2. wake ------------------------------------------------------------------------------


def _consumer(url: str, expect: int, after: str, out: Any) -> None:
    async def run() -> dict[str, float]:
        got: dict[str, float] = {}
        cursor = after
        deadline = time.monotonic() + 600
        async with aiohttp.ClientSession() as http:
            while len(got) < expect and time.monotonic() < deadline:
                params = {"after": cursor, "limit": "1000", "wait": "30", "source": "bench"}
                async with http.get(f"{url}/events", params=params) as resp:
                    batch = json.loads(await resp.read())
                now = time.time()
                for e in batch:
                    got[e["eventId"]] = now
                if batch:
                    cursor = batch[-1]["cursor"]
        return got

    out.send(asyncio.run(run()))


def _signed(i: int, run: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"id": f"{run}-{i}", "type": "shipment.updated", "shipment": {"id": i, "hub": "LIS-2"}}
    ).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Signature": sig, "Content-Type": "application/json"}


async def _send(ingest: str, rate: float, seconds: float, run: str) -> dict[str, float]:
    acked: dict[str, float] = {}
    n = int(rate * seconds)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            body, headers = _signed(i, run)
            async with http.post(f"{ingest}/ingest/bench", data=body, headers=headers) as resp:
                await resp.read()
                if resp.status == 202:
                    acked[f"{run}-{i}"] = time.time()

        await asyncio.gather(*(one(i) for i in range(n)))
    return acked


async def _end_cursor(url: str) -> str:
    async with aiohttp.ClientSession() as http:
        cursor = "0-0"
        while True:
            async with http.get(f"{url}/events", params={"after": cursor, "limit": "10000"}) as r:
                batch = json.loads(await r.read())
            if not batch:
                return cursor
            cursor = batch[-1]["cursor"]


def wake_run(ingest: str, url: str, rate: float, seconds: float) -> dict[str, Any]:
    run = f"w{int(time.time())}"
    after = asyncio.run(_end_cursor(url))
    expect = int(rate * seconds)
    parent, child = mp.Pipe()
    consumer = mp.Process(target=_consumer, args=(url, expect, after, child))
    consumer.start()
    time.sleep(1.0)  # the consumer is parked in its long poll
    t0 = time.monotonic()
    acked = asyncio.run(_send(ingest, rate, seconds, run))
    sent_seconds = time.monotonic() - t0
    delivered: dict[str, float] = parent.recv() if parent.poll(120) else {}
    consumer.join(10)
    lat = [max(0.0, delivered[k] - t) * 1000 for k, t in acked.items() if k in delivered]
    early = sum(1 for k, t in acked.items() if k in delivered and delivered[k] < t)
    return {
        "rate_target": rate,
        "rate_achieved": round(len(acked) / sent_seconds, 1),
        "acked_202": len(acked),
        "delivered": len(delivered),
        "not_delivered": len(set(acked) - set(delivered)),
        "delivered_before_its_202": early,
        "ms_after_202": {
            "p50": round(pct(lat, 50), 2),
            "p90": round(pct(lat, 90), 2),
            "p99": round(pct(lat, 99), 2),
            "max": round(max(lat), 2),
        }
        if lat
        else None,
    }


# --- 4. drop -------------------------------------------------------------------------------


async def _paced_ingest(
    ingest: str, rate: float, stop: asyncio.Event, out: list[tuple[float, float, int]]
) -> None:
    """POST at ``rate``/s until ``stop``; records (start time, latency ms, status)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    run = f"d{int(time.time())}"
    tasks = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:

        async def one(i: int) -> None:
            body, headers = _signed(i, run)
            t0 = time.monotonic()
            async with http.post(f"{ingest}/ingest/bench", data=body, headers=headers) as resp:
                await resp.read()
            out.append((t0, (time.monotonic() - t0) * 1000, resp.status))

        i = 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            tasks.append(asyncio.create_task(one(i)))
            i += 1
        await asyncio.gather(*tasks)


async def drop_run(dsn: str, ingest: str, rows: int, rate: float) -> dict[str, Any]:
    from logistica_workers.events.retention import RetentionPolicy, _with_lock_timeout, maintain

    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=60)).date()
    conn = await asyncpg.connect(dsn)
    try:
        name = await conn.fetchval("SELECT logistica_event_partition($1)", day)
        t0 = time.monotonic()
        # bulk load: events and their keys in two statements (triggers off for the load only)
        await conn.execute("SET session_replication_role = replica")
        at = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
        await conn.execute(
            "INSERT INTO external_events (namespace, source, event_id, event_digest, received_at,"
            " headers, payload) SELECT 'bench', 'old', 'o-' || g, sha256(convert_to('o-' || g,"
            " 'UTF8')), $1, '{}', jsonb_build_object('id', g, 'type', 'shipment.updated',"
            " 'hub', 'LIS-2') FROM generate_series(1, $2) g",
            at,
            rows,
        )
        await conn.execute(
            "INSERT INTO external_event_keys SELECT namespace, source, event_digest, received_at"
            f" FROM {name}"
        )
        await conn.execute("RESET session_replication_role")
        load_seconds = time.monotonic() - t0
        size = await conn.fetchval(f"SELECT pg_size_pretty(pg_total_relation_size('{name}'))")
        samples: list[tuple[float, float, int]] = []
        stop = asyncio.Event()
        sender = asyncio.create_task(_paced_ingest(ingest, rate, stop, samples))
        await asyncio.sleep(5)
        d0 = time.monotonic()
        await _with_lock_timeout(conn, f'DROP TABLE "{name}"')
        d1 = time.monotonic()
        report = await maintain(conn, RetentionPolicy(days=30))  # the keys of the dropped day
        d2 = time.monotonic()
        await asyncio.sleep(3)
        stop.set()
        await sender
    finally:
        await conn.close()

    def window(a: float, b: float) -> dict[str, Any]:
        lat = [ms for t, ms, _ in samples if a <= t < b]
        codes = sorted({c for t, _, c in samples if a <= t < b})
        return {
            "requests": len(lat),
            "codes": codes,
            "p50_ms": round(pct(lat, 50), 2) if lat else None,
            "p99_ms": round(pct(lat, 99), 2) if lat else None,
            "max_ms": round(max(lat), 2) if lat else None,
        }

    return {
        "rows": rows,
        "partition_size": size,
        "load_seconds": round(load_seconds, 1),
        "drop_seconds": round(d1 - d0, 3),
        "key_cleanup_seconds": round(d2 - d1, 2),
        "keys_deleted": report.keys_deleted,
        "ingest_rate": rate,
        "ingest_before": window(d0 - 5, d0),
        "ingest_during_drop": window(d0 - 0.05, d1 + 0.05),
        "ingest_during_key_cleanup": window(d1, d2),
        "ingest_after": window(d2, d2 + 3),
    }


# --- 3. read ------------------------------------------------------------------------------


async def load_rows(dsn: str, n: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, n, 50_000):
            await conn.execute(
                "INSERT INTO external_events"
                " (namespace, source, event_id, event_digest, headers, payload)"
                " SELECT 'bench', 'read', 'r-' || g, sha256(convert_to('r-' || g, 'UTF8')),"
                ' \'{"content-type": "application/json"}\'::jsonb,'
                " jsonb_build_object('id', g, 'type', 'shipment.updated', 'shipment',"
                "  jsonb_build_object('id', g, 'status', 'in_transit', 'hub', 'LIS-2',"
                "  'eta', '2026-11-23T10:00:00Z', 'items', jsonb_build_array(1, 2, 3)))"
                " FROM generate_series($1::int, $2::int) g",
                start,
                min(n, start + 50_000) - 1,
            )
    finally:
        await conn.close()


async def read_http(url: str, n: int) -> float:
    t0 = time.perf_counter()
    got = 0
    cursor = "0-0"
    async with aiohttp.ClientSession() as http:
        while got < n:
            params = {"after": cursor, "limit": "1000", "source": "read"}
            async with http.get(f"{url}/events", params=params) as resp:
                batch = json.loads(await resp.read())
            if not batch:
                break
            got += len(batch)
            cursor = batch[-1]["cursor"]
    assert got == n, got
    return n / (time.perf_counter() - t0)


async def read_copy(dsn: str, n: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        buf = io.BytesIO()
        t0 = time.perf_counter()
        await conn.copy_from_query(
            "SELECT tx, id, source, namespace, event_id, received_at, headers, payload"
            " FROM external_events WHERE source = 'read' ORDER BY tx, id",
            output=buf,
        )
        took = time.perf_counter() - t0
        assert buf.getvalue().count(b"\n") == n
        return n / took
    finally:
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-events", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--wake-seconds", type=float, default=20)
    ap.add_argument("--read-rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--drop-rows", type=int, default=1_000_000)
    ap.add_argument("--drop-rate", type=float, default=500)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = ap.parse_args()
    results: dict[str, Any] = {
        "command": "python benchmarks/events/run.py " + " ".join(sys.argv[1:]),
        "loadavg_before": loadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", fsync=True)
        dsn = pg.start()
        try:
            asyncio.run(migrate(dsn))
            manifest = Path(tmp) / "sources.yaml"
            write_manifest(manifest)
            with (
                service(["events"], free_port(), dsn) as events,
                service(["ingest", "-f", str(manifest)], free_port(), dsn) as ingest,
            ):
                results["skip"] = asyncio.run(skip_run(dsn, events, args.skip_events))
                print(json.dumps(results["skip"]), flush=True)
                results["wake"] = wake_run(ingest, events, args.rate, args.wake_seconds)
                print(json.dumps(results["wake"]), flush=True)
                asyncio.run(load_rows(dsn, args.read_rows))
                http_rates, copy_rates = [], []
                for _ in range(args.rounds):  # interleaved: http copy http copy ...
                    http_rates.append(asyncio.run(read_http(events, args.read_rows)))
                    copy_rates.append(asyncio.run(read_copy(dsn, args.read_rows)))
                results["read"] = {
                    "rows": args.read_rows,
                    "feed_events_per_s": [round(r) for r in http_rates],
                    "copy_rows_per_s": [round(r) for r in copy_rates],
                    "feed_median": round(statistics.median(http_rates)),
                    "copy_median": round(statistics.median(copy_rates)),
                    "ratio": round(
                        statistics.median(http_rates) / statistics.median(copy_rates), 3
                    ),
                }
                print(json.dumps(results["read"]), flush=True)
                results["drop"] = asyncio.run(drop_run(dsn, ingest, args.drop_rows, args.drop_rate))
                print(json.dumps(results["drop"]), flush=True)
        finally:
            pg.stop()
    results["loadavg_after"] = loadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
