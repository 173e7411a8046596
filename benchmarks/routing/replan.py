"""Re-planning latency and quality through ``POST /route``: 10 new stops into a 300-stop plan
with 100 committed stops (issue 13's target: an answer in <= 2 s, no committed stop moved).

Per seed: a 300-stop city problem is planned (``--base`` seconds); the first stops of its
routes (round robin until ``--committed``) become committed; 10 new stops are added. Then,
interleaved (a b c a b c ...) on one in-process service (pool off, as for any warm start):

- ``warm``: the re-plan with ``previousPlan`` (the service's re-planning path);
- ``kept``: the same with ``options.keepPreviousCouriers`` (no stop changes courier);
- ``cold``: the same without ``previousPlan`` (committed stops only);
- ``scratch``: all 310 stops planned from scratch, nothing committed (what a client without
  re-planning would do: it moves promised stops).

Each request's wall time is measured at the client. The objective reference is the warm
re-plan given ``--reference`` seconds (convergence stop left on). Committed stops moved are
counted from the answers (warm and cold keep them by construction; scratch does not).

Usage: python benchmarks/routing/replan.py [--seeds 3] [--limit 1] [--base 10] [--reference 10]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from city import generate  # noqa: E402

from logistica_workers.routing.service import RouteSettings, run_route  # noqa: E402

OLD, NEW = 300, 10


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def start(limit: int) -> tuple[str, asyncio.Event, asyncio.Task[int]]:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    settings = RouteSettings(
        max_concurrent=1,
        default_time_limit=limit,
        max_time_limit=max(limit, 60),
        small_max_stops=0,
        max_stops=1000,
    )
    task = asyncio.create_task(run_route("127.0.0.1", 0, settings, port.set_result, stop))
    return f"http://127.0.0.1:{await port}/route", stop, task


async def post(http: aiohttp.ClientSession, url: str, doc: dict[str, Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    async with http.post(url, json=doc) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"{resp.status}: {body}")
    return time.perf_counter() - t0, body


def commit(plan: dict[str, Any], doc: dict[str, Any], total: int) -> int:
    """Commit the first stops of each route, round robin, ``total`` in all."""
    routes = {r["courierId"]: r["stops"] for r in plan["routes"]}
    taken = dict.fromkeys(routes, 0)
    count = 0
    while count < total:
        grew = False
        for cid, stops in routes.items():
            if count < total and taken[cid] < len(stops):
                taken[cid] += 1
                count += 1
                grew = True
        if not grew:
            break
    for c in doc["couriers"]:
        c["committed"] = routes.get(c["id"], [])[: taken.get(c["id"], 0)]
    return count


def moved(doc: dict[str, Any], answer: dict[str, Any]) -> int:
    """Committed stops not served first, in order, by their courier."""
    routes = {r["courierId"]: r["stops"] for r in answer["routes"]}
    bad = 0
    for c in doc["couriers"]:
        promised = c.get("committed") or []
        got = routes.get(c["id"], [])[: len(promised)]
        bad += sum(
            1 for a, b in zip(promised, got + [None] * len(promised), strict=False) if a != b
        )
    return bad


async def main(args: argparse.Namespace) -> None:
    print(f"command: python benchmarks/routing/replan.py --seeds {args.seeds} "
          f"--limit {args.limit:g} --base {args.base:g} --reference {args.reference:g}")  # fmt: skip
    print("loadavg before:", loadavg())
    url, stop, task = await start(args.limit)
    walls: dict[str, list[float]] = {"warm": [], "kept": [], "cold": [], "scratch": []}
    rows = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
        for seed in range(1, args.seeds + 1):
            full = generate(OLD + NEW, "plentiful", seed)
            base = copy.deepcopy(full)
            base["stops"] = full["stops"][:OLD]
            base["options"]["timeLimitSeconds"] = args.base
            _, plan = await post(http, url, base)
            replan = copy.deepcopy(full)
            n_committed = commit(plan, replan, args.committed)
            replan["previousPlan"] = {"routes": plan["routes"]}
            replan["options"]["timeLimitSeconds"] = args.limit
            kept = copy.deepcopy(replan)
            kept["options"]["keepPreviousCouriers"] = True
            cold = copy.deepcopy(replan)
            del cold["previousPlan"]
            scratch = copy.deepcopy(full)
            scratch["options"]["timeLimitSeconds"] = args.limit
            answers = {}
            paths = (("warm", replan), ("kept", kept), ("cold", cold), ("scratch", scratch))
            for name, doc in paths:
                wall, answers[name] = await post(http, url, doc)
                walls[name].append(wall)
            ref_doc = copy.deepcopy(replan)
            ref_doc["options"]["timeLimitSeconds"] = args.reference
            _, ref = await post(http, url, ref_doc)
            rows.append(
                (seed, n_committed, ref["objective"], {
                    name: (
                        walls[name][-1], a["objective"] / ref["objective"], moved(replan, a),
                        len(a["unassigned"]), len(a.get("changes", [])), a["solver"]["engine"],
                    )
                    for name, a in answers.items()
                })
            )  # fmt: skip
    stop.set()
    await task
    print("| seed | committed | path | wall s | objective / reference | committed moved "
          "| unassigned | changes | engine |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seed, n_committed, _, by in rows:
        for name, (wall, ratio, bad, drop, changes, engine) in by.items():
            print(f"| {seed} | {n_committed} | {name} | {wall:.2f} | {ratio:.4f} | {bad} | "
                  f"{drop} | {changes} | {engine} |")  # fmt: skip
    for name, w in walls.items():
        print(f"{name}: wall median {statistics.median(w):.2f} s, max {max(w):.2f} s")
    print("references (warm re-plan, --reference s):", [round(r[2], 1) for r in rows])
    print("loadavg after:", loadavg())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=1)
    parser.add_argument("--base", type=int, default=10)
    parser.add_argument("--reference", type=int, default=10)
    parser.add_argument("--committed", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
