"""Ingest throughput and latency: raw aiohttp vs one-INSERT-per-request vs logistica's worker.

Saturation throughput (wrk, 2 threads, 64 connections, --seconds) is measured --rounds times,
the three servers taking turns so that a slow minute of the machine does not decide one of them;
the median counts. Then, per server, latency at about half its median rate (wrk with
per-request think time on 32 connections) and the server's peak RSS. Postgres is a real server
with fsync on, on this same machine; so is wrk: every number shares the machine's 2 cores.

With ``--compare DIR`` (another checkout of this repository, e.g. ``git worktree add --detach
/tmp/before main``) its worker runs as a fourth server, ``before``, interleaved with the others:
a change to the worker is then measured side by side with the code it replaces. It writes to
its own database in the same Postgres server, migrated by that checkout's own migrations, so a
schema change (e.g. 0005's partitioned ``external_events``) is measured together with the code.

Usage: python benchmarks/ingest/run.py [--seconds 10] [--rounds 3] [--compare DIR]
       [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from logistica_workers.db.embedded import EmbeddedPostgres, free_port
from logistica_workers.db.migrate import migrate

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret"


def write_requests(path: Path, prefix: str, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            body = json.dumps(
                {
                    "id": f"{prefix}-{i}",
                    "type": "shipment.updated",
                    "shipment": {
                        "id": i,
                        "status": "in_transit",
                        "hub": "LIS-2",
                        "eta": "2026-11-23T10:00:00Z",
                        "items": [1, 2, 3],
                    },
                }
            )
            sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            f.write(f"{sig}\t{body}\n")


def manifest(path: Path) -> None:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bench"},
            "stringData": {"k": SECRET},
        },
        {
            "apiVersion": "logistica.dev/v1alpha1",
            "kind": "WebhookSource",
            "metadata": {"name": "bench"},
            "spec": {
                "provider": "hmac",
                "secretRef": {"name": "bench"},
                "hmac": {"header": "X-Signature", "algorithm": "sha256", "encoding": "hex"},
                "idempotencyKey": {"jsonPointer": "/id"},
            },
        },
    ]
    path.write_text(yaml.safe_dump_all(docs))


def wait_http(url: str, timeout: float = 30) -> None:
    """Until the server answers anything but 503 (a GET on a POST route answers 405)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def wrk(
    port: int, requests: Path, seconds: float, connections: int, delay_ms: float
) -> dict[str, Any]:
    env = {**os.environ, "REQUESTS": str(requests), "THREADS": "2", "DELAY_MS": str(delay_ms)}
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(HERE / "requests.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    extra = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
    return {"rps": round(rps), **extra}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def separate_database(dsn: str, name: str, workers: Path) -> str:
    """A new database in the same server, migrated by the code under ``workers``."""
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    other = dsn.rsplit("/", 1)[0] + "/" + name
    code = (
        "import asyncio, sys; from logistica_workers.db.migrate import migrate;"
        " asyncio.run(migrate(sys.argv[1]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, other],
        env={**os.environ, "PYTHONPATH": str(workers)},
        check=True,
    )
    return other


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    ready_url: str
    pythonpath: str | None = None  # the code to import instead of this checkout's


@contextmanager
def running(server: Server, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    if server.pythonpath:
        env = {**env, "PYTHONPATH": server.pythonpath}
    proc = subprocess.Popen(
        server.cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(server.ready_url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def saturation(server: Server, work: Path, tag: str, seconds: float, env: dict[str, str]) -> Any:
    requests = work / f"{server.name}-{tag}.txt"  # unique event ids in every run
    write_requests(requests, f"{server.name}-{tag}", 400_000)
    with running(server, env):
        return wrk(server.port, requests, seconds, 64, 0)


def half_load(server: Server, work: Path, rps: float, seconds: float, env: dict[str, str]) -> Any:
    requests = work / f"{server.name}-half.txt"
    write_requests(requests, f"{server.name}-half", 200_000)
    with running(server, env) as proc:
        # 32 connections with think time; the first short run measures the latency at that
        # rate, the second subtracts it so the achieved rate is close to half
        target = rps / 2
        conns = 32
        period_ms = conns * 1000 / target
        probe = wrk(server.port, requests, 3, conns, period_ms)
        half = wrk(server.port, requests, seconds, conns, max(0.0, period_ms - probe["p50_ms"]))
        half["target_rps"] = round(target)
        return half, peak_rss_mb(proc.pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout whose worker to run too")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.compare and not (args.compare / "workers" / "logistica_workers").is_dir():
        parser.error(f"--compare {args.compare}: not a checkout of this repository")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    pg = EmbeddedPostgres(work / "pg", fsync=True)
    dsn = pg.start()
    try:
        asyncio.run(migrate(dsn))
        manifest(work / "sources.yaml")
        env = {**os.environ, "LOGISTICA_LOG_LEVEL": "WARNING"}
        py = sys.executable
        servers = [
            Server("raw", [py, str(HERE / "baselines.py"), "raw", "{port}", SECRET], 0, ""),
            Server(
                "naive", [py, str(HERE / "baselines.py"), "naive", "{port}", SECRET, dsn], 0, ""
            ),
            Server(
                "logistica",
                [
                    *(py, "-m", "logistica_workers", "ingest", "-f", str(work / "sources.yaml")),
                    *("--database-url", dsn, "--host", "127.0.0.1", "--port", "{port}"),
                ],
                0,
                "/readyz",
            ),
        ]
        if args.compare:
            before_dsn = separate_database(dsn, "before", args.compare.resolve() / "workers")
            servers.append(
                Server(
                    "before",
                    [before_dsn if c == dsn else c for c in servers[-1].cmd],
                    0,
                    "/readyz",
                    str(args.compare.resolve() / "workers"),
                )
            )
        for s in servers:
            s.port = free_port()
            s.cmd = [c.replace("{port}", str(s.port)) for c in s.cmd]
            s.ready_url = f"http://127.0.0.1:{s.port}{s.ready_url or '/ingest/bench'}"
        runs: dict[str, list[Any]] = {s.name: [] for s in servers}
        for i in range(args.rounds):
            for s in servers:
                runs[s.name].append(saturation(s, work, f"sat{i}", args.seconds, env))
                print(s.name, "saturation", runs[s.name][-1], file=sys.stderr)
        results: dict[str, Any] = {}
        for s in servers:
            median = sorted(runs[s.name], key=lambda r: r["rps"])[len(runs[s.name]) // 2]
            half, rss = half_load(s, work, median["rps"], args.seconds, env)
            results[s.name] = {
                "saturation": median,
                "saturation_runs_rps": [r["rps"] for r in runs[s.name]],
                "half_load": half,
                "rss_mb": rss,
            }
    finally:
        pg.stop()
    lg, raw, naive = results["logistica"], results["raw"], results["naive"]
    results["ratios"] = {
        "logistica_vs_raw": round(lg["saturation"]["rps"] / raw["saturation"]["rps"], 2),
        "logistica_vs_naive": round(lg["saturation"]["rps"] / naive["saturation"]["rps"], 2),
    }
    if "before" in results:
        before = results["before"]["saturation"]["rps"]
        results["ratios"]["logistica_vs_before"] = round(lg["saturation"]["rps"] / before, 2)
        results["ratios"]["before_vs_raw"] = round(before / raw["saturation"]["rps"], 2)
    results["loadavg"] = {
        "before": load_before,
        "after": Path("/proc/loadavg").read_text().split()[:3],
    }
    results["command"] = (
        f"python benchmarks/ingest/run.py --seconds {args.seconds:g} --rounds {args.rounds}"
        + (" --compare <checkout of the previous commit>" if args.compare else "")
    )
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
