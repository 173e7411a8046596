"""How fast ``reassign`` brings the dropped priority weight down when capacity is short.

For each generated ``short`` city instance (``city.py``: capacity 90 % of demand): one PyVRP
search (our model, polished, as the portfolio's engines run it) for the search part of the
size's limit, then what a solve did before ``reassign`` existed (repair + 0.1 s of exchanges),
then ``reassign`` from that same plan with budgets of 0.25 s, 0.5 s, ... (each run afresh; it
stops early at the knapsack bound or when every region has been tried). Reports the dropped
weight against the knapsack lower bound (``evaluator.drop_bounds``), the routing objective
(km-equivalents: distance + arrival term) and the seconds each run used. Runs in-process, one
instance at a time; the machine's load is printed.

Usage: python benchmarks/routing/reassign.py [--sizes 300,1000,2000] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from city import generate  # noqa: E402
from evaluator import drop_bounds  # noqa: E402
from model import SECONDS, loadavg  # noqa: E402

from logistica_workers.api import Problem  # noqa: E402
from logistica_workers.routing import drops, reassign  # noqa: E402
from logistica_workers.routing.engines import EngineConfig, run_pyvrp  # noqa: E402
from logistica_workers.routing.evaluate import Routes  # noqa: E402
from logistica_workers.routing.exchange import exchange_drops, route_cost  # noqa: E402
from logistica_workers.routing.instance import Instance, from_problem  # noqa: E402
from logistica_workers.routing.repair import repair_drops  # noqa: E402

BUDGETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def dropped_weight(inst: Instance, routes: Routes) -> int:
    served = {s for r in routes for s in r}
    return sum(1 + int(inst.priority[s]) for s in range(inst.n_stops) if s not in served)


def km(inst: Instance, routes: Routes) -> float:
    return sum(route_cost(inst, v, r) for v, r in enumerate(routes)) / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300,1000,2000")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    print(
        f"command: python benchmarks/routing/reassign.py --sizes {args.sizes} --seeds {args.seeds}"
    )
    print(f"loadavg before: {loadavg()}")
    print()
    print(
        "| stops | seed | search s | bound | before (repair + exchanges) | "
        + " | ".join(f"reassign {b:g} s" for b in BUDGETS)
        + " |"
    )
    print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in BUDGETS) + " |")
    for n in [int(x) for x in args.sizes.split(",")]:
        for seed in range(1, args.seeds + 1):
            doc = generate(n, "short", seed)
            limit = SECONDS.get(n, 10.0)
            inst = from_problem(Problem.model_validate(doc), limit)
            search = limit - drops.reserve(inst)
            routes = run_pyvrp(inst, EngineConfig("pyvrp", seed=seed), lambda r: None, search)
            assert routes is not None
            start = repair_drops(inst, routes)
            start = repair_drops(inst, exchange_drops(inst, start, drops.EXCHANGE_SECONDS))
            demand = [int(s.get("demand", 1)) for s in doc["stops"]]
            weight = [1 + int(s["priority"]) for s in doc["stops"]]
            _, bound = drop_bounds(demand, weight, sum(c["capacity"] for c in doc["couriers"]))
            cells = []
            for budget in BUDGETS:
                t0 = time.monotonic()
                out = reassign.reassign(inst, start, budget)
                took = time.monotonic() - t0
                cells.append(f"{dropped_weight(inst, out)} / {km(inst, out):,.1f} / {took:.2f} s")
            print(
                f"| {n} | {seed} | {search:g} | {bound} | "
                f"{dropped_weight(inst, start)} / {km(inst, start):,.1f} | "
                + " | ".join(cells)
                + " |",
                flush=True,
            )
    print()
    print(
        "cells: dropped weight (1 + priority summed over dropped stops) / routing objective "
        "in km-equivalents / seconds used"
    )
    print(f"loadavg after: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
