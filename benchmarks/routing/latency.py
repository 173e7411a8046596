"""``POST /route`` latency for small problems, warm pool vs the per-request portfolio.

Two services run side by side in this process: ``pool`` (today's default: problems up to
``LOGISTICA_ROUTE_SMALL_MAX_STOPS`` go to a warm engine process) and ``portfolio`` (the pool
disabled: every request forks its engines, as before the pool). Requests alternate between
them (a b a b) on the same seeded instances. Then each instance is solved once by the
portfolio for the whole limit (its convergence stop disabled) as the objective reference.

Usage: python benchmarks/routing/latency.py [--requests 10] [--limit 10] [--reference 4]
[--scenario plentiful|short|return|tight|loose]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from city import generate  # noqa: E402

from logistica_workers.api import Problem  # noqa: E402
from logistica_workers.routing import portfolio  # noqa: E402
from logistica_workers.routing.instance import from_problem  # noqa: E402
from logistica_workers.routing.service import RouteSettings, run_route  # noqa: E402

SIZES = (5, 20)


def pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return 1000 * s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


async def start(limit: int, small: int) -> tuple[str, asyncio.Event, asyncio.Task[int]]:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    settings = RouteSettings(
        max_concurrent=1, default_time_limit=limit, max_time_limit=limit, small_max_stops=small
    )
    task = asyncio.create_task(run_route("127.0.0.1", 0, settings, port.set_result, stop))
    return f"http://127.0.0.1:{await port}/route", stop, task


SCENARIO = "plentiful"  # city.py's scenario of every instance (--scenario)


def instance(n: int, i: int, limit: int) -> dict[str, Any]:
    doc = generate(n, SCENARIO, i + 1)
    doc["options"]["timeLimitSeconds"] = limit
    return doc


async def measure(requests: int, limit: int) -> dict[tuple[str, int], list[tuple[float, float]]]:
    servers = {"pool": await start(limit, 10_000), "portfolio": await start(limit, 0)}
    out: dict[tuple[str, int], list[tuple[float, float]]] = {}
    async with aiohttp.ClientSession() as http:
        for i in range(requests):
            for n in SIZES:
                for name, (url, _, _) in servers.items():
                    doc = instance(n, i, limit)
                    t0 = time.perf_counter()
                    async with http.post(
                        url, data=json.dumps(doc), headers={"Content-Type": "application/json"}
                    ) as r:
                        body = await r.json()
                    assert r.status == 200, body
                    out.setdefault((name, n), []).append(
                        (time.perf_counter() - t0, body["objective"])
                    )
    for _, stop, task in servers.values():
        stop.set()
        await task
    return out


def reference(n: int, i: int, limit: int) -> float:
    """The portfolio for the whole limit: no convergence stop in the parent."""
    inst = from_problem(Problem.model_validate(instance(n, i, limit)), limit)
    portfolio.patience = lambda _t, _n: float("inf")
    return portfolio.Portfolio(inst).run().objective


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--reference", type=int, default=4, help="instances per size to run 10 s")
    ap.add_argument(
        "--scenario",
        default="plentiful",
        choices=("plentiful", "short", "return", "tight", "loose"),
    )
    a = ap.parse_args()
    globals()["SCENARIO"] = a.scenario
    print(
        f"command: python benchmarks/routing/latency.py --requests {a.requests} "
        f"--limit {a.limit} --reference {a.reference} --scenario {a.scenario}"
    )
    with open("/proc/loadavg") as f:
        print("loadavg before:", " ".join(f.read().split()[:3]))
    out = asyncio.run(measure(a.requests, a.limit))
    print("| stops | path | p50 ms | p95 ms | max ms |")
    print("| --- | --- | --- | --- | --- |")
    for (name, n), rows in sorted(out.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        t = [r[0] for r in rows]
        print(f"| {n} | {name} | {pct(t, 0.5):.0f} | {pct(t, 0.95):.0f} | {1000 * max(t):.0f} |")
    with open("/proc/loadavg") as f:
        print("loadavg after latency:", " ".join(f.read().split()[:3]))
    print(f"objective vs the portfolio run for the whole {a.limit} s (ratio; 1.000 = same):")
    for n in SIZES:
        for i in range(min(a.reference, a.requests)):
            ref = reference(n, i, a.limit)
            got = {name: out[(name, n)][i][1] for name in ("pool", "portfolio")}
            print(
                f"  {n} stops, seed {i + 1}: reference {ref:.1f}; "
                + ", ".join(f"{k} {v / ref:.4f}" for k, v in got.items())
            )
    with open("/proc/loadavg") as f:
        print("loadavg after:", " ".join(f.read().split()[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
