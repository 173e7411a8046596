"""Where the time of a large solve goes, per engine phase (issue 9's large cells).

    python benchmarks/routing/phases.py STOPS SCENARIO SEED SECONDS [--share 0.5]

On one generated city problem (``city.py``), in this process, one core: the start-up pieces
(problem validation, solver instance, PyVRP ProblemData); PyVRP alone for SECONDS (or until it
converges, the product's rule; its first and
best plan on the full objective); from PyVRP's best at ``share`` x SECONDS, the polish
(``routing/polish.py``) and then OR-Tools on the full objective for the rest of the budget (what
``hybrid`` would do); and PyVRP's final best, reordered only, then fully polished. Objectives
are the product's evaluator (``evaluate.score``), km.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from city import generate

from logistica_workers.api import Problem
from logistica_workers.routing import (
    engines,
    evaluate,
    polish,
    pyvrp_model,
)
from logistica_workers.routing.instance import from_problem

Routes = list[list[int]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stops", type=int)
    ap.add_argument("scenario")
    ap.add_argument("seed", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--share", type=float, default=0.5)
    a = ap.parse_args()
    doc = generate(a.stops, a.scenario, a.seed)
    t = time.monotonic()
    problem = Problem.model_validate(doc)
    t_valid = time.monotonic() - t
    t = time.monotonic()
    inst = from_problem(problem, a.seconds)
    t_inst = time.monotonic() - t
    t = time.monotonic()
    pyvrp_model.build(inst)
    t_data = time.monotonic() - t
    print(f"{a.stops} {a.scenario} seed {a.seed}, {a.seconds:g} s")
    print(
        f"start-up: validate {t_valid:.3f} s, instance {t_inst:.3f} s, ProblemData {t_data:.3f} s"
    )

    def km(routes: Routes) -> float:
        return evaluate.score(inst, routes).objective / 1000

    engines.POLISH_SECONDS_PER_STOP = engines.POLISH_BASE_SECONDS = 0.0  # PyVRP unpolished
    seen: list[tuple[float, Routes]] = []
    t0 = time.monotonic()
    engines.run_pyvrp(
        inst,
        engines.EngineConfig("pyvrp"),
        lambda r: seen.append((time.monotonic() - t0, r)),
        a.seconds,
    )
    ran = time.monotonic() - t0
    best = min(seen, key=lambda x: km(x[1]))
    print(
        f"pyvrp alone: {len(seen)} plans, first {km(seen[0][1]):.1f} at {seen[0][0]:.2f} s, "
        f"last {km(seen[-1][1]):.1f} at {seen[-1][0]:.2f} s (best {km(best[1]):.1f}), ran {ran:.2f} s"
    )
    half = [r for at, r in seen if at <= a.share * a.seconds][-1]
    t = time.monotonic()
    polished = polish.polish(inst, half, a.seconds)
    took = time.monotonic() - t
    print(
        f"pyvrp at {a.share * a.seconds:g} s: {km(half):.1f}; polished {km(polished):.1f} in {took:.3f} s"
    )
    found: list[tuple[float, float]] = []
    t1 = time.monotonic()
    rest = (1 - a.share) * a.seconds
    status = engines.run_ortools(
        inst,
        engines.EngineConfig("ortools"),
        lambda r: found.append((time.monotonic() - t1, km(r))),
        rest,
        polished,
    )
    if found:
        print(
            f"ortools {rest:g} s from it: {status}, {len(found)} plans, first {found[0][1]:.1f} at "
            f"{found[0][0]:.2f} s, best {min(f[1] for f in found):.1f} at {found[-1][0]:.2f} s"
        )
    final = seen[-1][1]
    cost = polish.RouteCost(inst)
    t = time.monotonic()
    ordered = [polish.polish_route(cost, v, r, t + a.seconds)[0] for v, r in enumerate(final)]
    took_order = time.monotonic() - t
    t = time.monotonic()
    full = polish.polish(inst, final, a.seconds)
    took_full = time.monotonic() - t
    print(
        f"pyvrp's last plan {km(final):.1f}: reordered {km(ordered):.1f} in {took_order:.3f} s, "
        f"polished (reorder + relocate) {km(full):.1f} in {took_full:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
