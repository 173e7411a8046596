"""Routing quality on CVRPLIB: gap to the best-known solution per instance and on average.

Solvers, each with the same wall time per instance, one after another on an otherwise idle
machine:
  ortools-default  OR-Tools routing with default search parameters (1 process)
  logistica        logistica's portfolio (both cores; PyVRP engines for classic CVRP)
  pyvrp            PyVRP alone (1 process, seed 1)
  vroom            VROOM via pyvroom (takes no time limit; exploration level 5, 1 thread)

Usage: python benchmarks/routing/run.py [--seconds 20] [--only X-] [--out results.csv]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from logistica_workers.routing import cvrplib
from logistica_workers.routing.engines import EngineConfig
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.portfolio import Portfolio

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "cvrplib"


def depot_matrix(inst: Instance) -> np.ndarray:
    n = inst.n_stops
    m = np.zeros((n + 1, n + 1), dtype=np.int64)
    m[1:, 1:] = inst.distance[:n, :n]
    m[0, 1:] = inst.distance[inst.start(0), :n]
    m[1:, 0] = inst.distance[:n, inst.end]
    return m


def run_portfolio(inst: Instance, configs: list[EngineConfig] | None) -> int:
    sol = Portfolio(inst, configs).run()
    index = {sid: i for i, sid in enumerate(inst.stop_ids)}
    if sol.unassigned:
        raise RuntimeError(f"{len(sol.unassigned)} customers unserved")
    return cvrplib.cost(inst, [[index[s] for s in r.stops] for r in sol.routes])


def run_vroom(inst: Instance) -> int:
    import vroom

    matrix = depot_matrix(inst)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=matrix.tolist())
    for k in range(inst.n_vehicles):
        problem.add_vehicle(vroom.Vehicle(k + 1, start=0, end=0, capacity=[inst.capacity[k]]))
    problem.add_job(
        [
            vroom.Job(i + 1, location=i + 1, delivery=[int(inst.demand[i])])
            for i in range(inst.n_stops)
        ]
    )
    solution = problem.solve(exploration_level=5, nb_threads=1)
    if solution.summary.unassigned:
        raise RuntimeError("vroom left customers unassigned")
    return int(solution.summary.cost)


SOLVERS = {
    "ortools-default": lambda inst: run_portfolio(
        inst, [EngineConfig("ortools", "AUTOMATIC", "DEFAULT")]
    ),
    "logistica": lambda inst: run_portfolio(inst, None),
    "pyvrp": lambda inst: run_portfolio(inst, [EngineConfig("pyvrp", seed=1)]),
    "vroom": run_vroom,
}


def mean_gap(rows: list[dict[str, object]], solver: str) -> str:
    gaps = [float(str(r[f"{solver}_gap"])) for r in rows if r[f"{solver}_gap"] != ""]
    return f"{sum(gaps) / len(gaps):.2f}" if gaps and len(gaps) == len(rows) else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", default="", help="instance name prefix, e.g. X-")
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.csv"))
    args = parser.parse_args()
    bks = {}
    with (DATA / "bks.csv").open() as f:
        for row in csv.DictReader(f):
            bks[row["instance"]] = int(row["bks"])
    solvers = args.solvers.split(",")
    rows = []
    for name, best in bks.items():
        if not name.startswith(args.only):
            continue
        _, inst = cvrplib.read_vrp(DATA / f"{name}.vrp", args.seconds)
        row: dict[str, object] = {"instance": name, "n": inst.n_stops, "bks": best}
        for solver in solvers:
            t0 = time.monotonic()
            try:
                cost = SOLVERS[solver](inst)
                row[solver] = cost
                row[f"{solver}_gap"] = round(100 * (cost - best) / best, 2)
            except Exception as exc:  # a solver failing is a result too
                row[solver] = f"error: {exc}"
                row[f"{solver}_gap"] = ""
            row[f"{solver}_s"] = round(time.monotonic() - t0, 1)
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    fields = list(rows[0])
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    print("\nmean gap %  (all | X instances)")
    xs = [r for r in rows if str(r["instance"]).startswith("X-")]
    for solver in solvers:
        print(f"  {solver:16s} {mean_gap(rows, solver):>6s} | {mean_gap(xs, solver):>6s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
