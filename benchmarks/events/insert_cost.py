"""What the feed and the partitions cost the ingest write: the group-commit INSERT (batches of
256, one connection, fsync on) against the schema at 0003 (no feed), 0004 (tx column, feed
indexes, NOTIFY trigger) and 0005 (day partitions, key-claim trigger), interleaved 3 rounds.

Usage: python benchmarks/events/insert_cost.py   (rows/s per schema, printed)
"""

import asyncio
import hashlib
import json
import tempfile
import time
from pathlib import Path

import asyncpg

from logistica_workers.db.embedded import EmbeddedPostgres
from logistica_workers.db.migrate import migrations
from logistica_workers.ingest.writer import _INSERT


async def setup(dsn: str, upto: int) -> None:
    c = await asyncpg.connect(dsn)
    for m in migrations():
        if m.version <= upto:
            await c.execute(m.sql)
    await c.close()


async def run(dsn: str, tag: str, n: int = 50_000, batch: int = 256) -> float:
    c = await asyncpg.connect(dsn)
    sql = _INSERT
    if tag == "0004":
        sql = _INSERT.replace(
            "ON CONFLICT DO NOTHING", "ON CONFLICT (namespace, source, event_digest) DO NOTHING"
        )
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        ids = [f"{tag}-{time.time_ns()}-{i}" for i in range(s, s + batch)]
        await c.fetch(
            sql,
            ["d"] * batch,
            ["src"] * batch,
            ids,
            [hashlib.sha256(i.encode()).digest() for i in ids],
            ["{}"] * batch,
            [json.dumps({"id": x, "hub": "LIS-2"}) for x in ids],
        )
    took = time.perf_counter() - t0
    await c.close()
    return n / took


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", fsync=True)
        dsn = pg.start()
        try:
            a = await asyncpg.connect(dsn)
            for db in ("v3", "v4", "v5"):
                await a.execute(f"CREATE DATABASE {db}")
            await a.close()
            base = dsn.rsplit("/", 1)[0]
            await setup(base + "/v3", 3)
            await setup(base + "/v4", 4)
            await setup(base + "/v5", 5)
            res = {"0003": [], "0004": [], "0005": []}
            for _ in range(3):
                for tag, db in (("0003", "v3"), ("0004", "v4"), ("0005", "v5")):
                    t = "0004" if tag in ("0003", "0004") else tag
                    res[tag].append(round(await run(base + "/" + db, t)))
            print(json.dumps({"rows_per_s": res}))
        finally:
            pg.stop()


asyncio.run(main())
