"""Which OR-Tools settings the portfolio uses for the logistics model, and why.

On generated city problems (priorities, demands, capacity short so that drops happen), every
first-solution strategy with the default local search and with guided local search, one
process each, a fixed time. Reported: the drop penalty (the sum of 1 + priority over unassigned
stops; it dominates the model's objective), the number unassigned, and the routing objective
(distance + priority-weighted arrival, metre-equivalents). Lower is better, in that order.

Usage: python benchmarks/routing/strategies.py [--seconds 10] [--out strategies.txt]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/support/problems
from logistica_workers.api import Problem
from logistica_workers.routing.engines import EngineConfig
from logistica_workers.routing.instance import from_problem
from logistica_workers.routing.portfolio import Portfolio
from tests.support.problems import city_problem

STRATEGIES = [
    "PATH_CHEAPEST_ARC",
    "PARALLEL_CHEAPEST_INSERTION",
    "LOCAL_CHEAPEST_INSERTION",
    "SAVINGS",
    "CHRISTOFIDES",
]
METAHEURISTICS = ["DEFAULT", "GUIDED_LOCAL_SEARCH"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("strategies.txt"))
    args = parser.parse_args()
    lines = [
        f"{'problem':14s} {'first solution':28s} {'search':20s} {'drop pen.':>9s} "
        f"{'dropped':>8s} {'objective':>12s}",
    ]
    for stops, couriers, seed in [(100, 5, 1), (200, 8, 2), (400, 12, 3)]:
        doc = city_problem(stops, couriers, seed=seed, capacity=int(stops * 2 * 0.9 / couriers))
        inst = from_problem(Problem.model_validate(doc), args.seconds)
        for fs in STRATEGIES:
            for mh in METAHEURISTICS:
                sol = Portfolio(inst, [EngineConfig("ortools", fs, mh)]).run()
                priority = {s["id"]: s["priority"] for s in doc["stops"]}
                penalty = sum(1 + priority[sid] for sid in sol.unassigned)
                line = (
                    f"{stops:4d} stops    {fs:28s} {mh:20s} {penalty:9d} "
                    f"{len(sol.unassigned):8d} {sol.objective:12,.0f}"
                )
                print(line, flush=True)
                lines.append(line)
    lines.append(f"\ncommand: python benchmarks/routing/strategies.py --seconds {args.seconds:g}")
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
