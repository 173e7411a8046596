"""``POST /route`` latency for small problems: p50 and p90 over sequential requests, each
answered by the service's real engines (their time limit is a cap, not a duration).

Usage: python benchmarks/routing/latency.py [--requests 20] [--limit 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from city import generate  # noqa: E402

from logistica_workers.routing.service import RouteSettings, run_route  # noqa: E402


async def measure(requests: int, limit: int) -> None:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    settings = RouteSettings(max_concurrent=1, default_time_limit=limit, max_time_limit=limit)
    task = asyncio.create_task(run_route("127.0.0.1", 0, settings, port.set_result, stop))
    url = f"http://127.0.0.1:{await port}/route"
    async with aiohttp.ClientSession() as http:
        for n in (5, 20):
            times, objectives = [], set()
            for i in range(requests):
                doc = generate(n, "plentiful", 1)
                doc["options"]["timeLimitSeconds"] = limit
                for s in doc["stops"]:  # no two requests share a solve; same objective
                    s["id"] = f"{s['id']}-{i}"
                t0 = time.perf_counter()
                async with http.post(
                    url, data=json.dumps(doc), headers={"Content-Type": "application/json"}
                ) as r:
                    body = await r.json()
                times.append(time.perf_counter() - t0)
                objectives.add(round(body["objective"]))
            times.sort()
            print(
                f"{n} stops, limit {limit} s: p50 {1000 * statistics.median(times):.0f} ms, "
                f"p90 {1000 * times[int(0.9 * len(times)) - 1]:.0f} ms, "
                f"max {1000 * times[-1]:.0f} ms; objectives seen: {len(objectives)}"
            )
    stop.set()
    await task


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args()
    print(
        f"command: python benchmarks/routing/latency.py --requests {args.requests} --limit {args.limit}"
    )
    with open("/proc/loadavg") as f:
        print("loadavg before:", " ".join(f.read().split()[:3]))
    asyncio.run(measure(args.requests, args.limit))
    with open("/proc/loadavg") as f:
        print("loadavg after:", " ".join(f.read().split()[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
