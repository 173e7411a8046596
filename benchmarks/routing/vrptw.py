"""Gehring & Homberger 200-customer VRPTW: logistica vs PyVRP vs VROOM at equal wall time.

Each solver runs as its own process with the same time limit, interleaved per instance
(logistica, pyvrp, vroom, logistica, ...); each answer is scored here by one judge that reads
the instance itself (its own VRPLIB reader), recomputes every arc in the DIMACS convention (Euclidean
distance x 10, truncated to an integer; travel time = distance), checks capacity, every
customer served once, the time windows (waiting allowed) and the depot's window, and compares
the distance with the best-known solution (``.sol`` beside the instance, same convention).

- pyvrp: ``pyvrp.read(..., round_func="dimacs")`` solved for SECONDS, one process, seed 1.
- vroom: the same integer matrix as costs and durations, the fleet of ``VEHICLES`` at the
  depot with its window, jobs with service and windows; exploration level 5, 2 threads.
- logistica: the product's portfolio (``routing.portfolio.Portfolio``, both cores) on the
  logistics model built from the instance as ``routing/instance.py`` lays it out: origin =
  depot, ``VEHICLES`` couriers at the depot with the depot's window as their shift, routes
  back to the origin, the DIMACS integers as metres and seconds, each customer's window and
  service time, priority 0 (so the objective is the distance; dropping a customer costs more
  than any route). Its own process, the limit counting the process start as ``logistica
  solve`` does. With ``--logistica-json`` instead: the same problem as logistica's problem
  JSON with a ``matrix`` (``Problem.matrix``), through ``python -m logistica_workers solve``.

Usage: python benchmarks/routing/vrptw.py --data DIR [--instances C1_2_1,R1_2_1]
       [--seconds 60] [--solvers logistica,pyvrp,vroom] [--logistica-json] [--append]
       [--out PREFIX]
Writes vrptw.csv and vrptw.txt next to this file (``--append`` adds to the existing CSV, so a
long run can be split into short chunks; the summary covers every row).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SOLVERS = ("logistica", "pyvrp", "vroom")
# One instance per family (the target is 60 s per instance; all 36 would not fit).
SUBSET = ("C1_2_1", "C2_2_1", "R1_2_1", "R2_2_1", "RC1_2_1", "RC2_2_1")


@dataclass(frozen=True)
class Gh:
    name: str
    n: int  # customers: locations 1..n, the depot is 0
    vehicles: int
    capacity: int
    demand: np.ndarray
    early: np.ndarray  # x 10, as the matrix
    late: np.ndarray
    service: np.ndarray
    dist: np.ndarray  # DIMACS integers (x 10)
    xy: np.ndarray


def read_sections(path: Path) -> tuple[dict[str, str], dict[str, list[list[float]]]]:
    """A VRPLIB file's ``KEY : value`` header and its numeric ``*_SECTION`` rows."""
    header: dict[str, str] = {}
    sections: dict[str, list[list[float]]] = {}
    current: list[list[float]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("_SECTION"):
            current = sections.setdefault(line, [])
        elif ":" in line and not line[0].isdigit() and not line.startswith("-"):
            key, _, value = line.partition(":")
            header[key.strip().upper()] = value.strip()
            current = None
        elif current is not None:
            current.append([float(x) for x in line.split()])
        else:
            raise ValueError(f"{path}: unexpected line {line!r}")
    return header, sections


def read(path: Path) -> Gh:
    """A VRPTW instance (one depot, numbered first; ``SERVICE_TIME`` or a section)."""
    header, sec = read_sections(path)
    for need in ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION"):
        if need not in sec:
            raise ValueError(f"{path}: no {need}")
    ids = [int(r[0]) for r in sec["NODE_COORD_SECTION"]]
    depots = [int(r[0]) for r in sec.get("DEPOT_SECTION", [[1]]) if r[0] != -1]
    if ids != list(range(1, len(ids) + 1)) or depots != [1]:
        raise ValueError(f"{path}: expected nodes 1..N with the depot 1, got depots {depots}")
    size = len(ids)
    xy = np.array([r[1:3] for r in sec["NODE_COORD_SECTION"]], dtype=np.float64)
    euclid = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    if "SERVICE_TIME_SECTION" in sec:
        service_f = np.array([r[1] for r in sec["SERVICE_TIME_SECTION"]], dtype=np.float64)
    else:
        service_f = np.full(size, float(header.get("SERVICE_TIME", 0)))
    service = np.floor(10 * service_f).astype(np.int64)
    service[0] = 0
    tw = np.array([r[1:3] for r in sec["TIME_WINDOW_SECTION"]], dtype=np.float64)
    tw_i = np.floor(10 * tw).astype(np.int64)
    return Gh(
        name=header.get("NAME", path.stem),
        n=size - 1,
        vehicles=int(header.get("VEHICLES", size - 1)),
        capacity=int(header["CAPACITY"]),
        demand=np.array([int(r[1]) for r in sec["DEMAND_SECTION"]], dtype=np.int64),
        early=tw_i[:, 0],
        late=tw_i[:, 1],
        service=service,
        dist=np.floor(10 * euclid).astype(np.int64),
        xy=xy,
    )


def best_known(path: Path) -> float:
    for line in path.read_text().splitlines():
        if line.lower().startswith("cost"):
            return float(line.split()[1])
    raise ValueError(f"{path}: no Cost line")


def judge(g: Gh, routes: list[list[int]]) -> tuple[bool, str, float, int]:
    """(feasible, reason, distance in the instance's units, vehicles used)."""
    seen: set[int] = set()
    reason = ""
    total = 0
    used = [r for r in routes if r]
    if len(used) > g.vehicles:
        reason = f"{len(used)} routes > {g.vehicles} vehicles"
    for r in used:
        clock, pos, load = int(g.early[0]), 0, 0
        for c in r:
            if not 1 <= c <= g.n:
                reason = reason or f"unknown customer {c}"
                continue
            if c in seen:
                reason = reason or f"customer {c} served twice"
            seen.add(c)
            total += int(g.dist[pos, c])
            clock = max(clock + int(g.dist[pos, c]), int(g.early[c]))
            if clock > g.late[c]:
                reason = reason or f"customer {c} served at {clock} > {g.late[c]} (x10)"
            clock += int(g.service[c])
            load += int(g.demand[c])
            pos = c
        total += int(g.dist[pos, 0])
        if clock + g.dist[pos, 0] > g.late[0]:
            reason = reason or f"a route returns at {clock + g.dist[pos, 0]} > {g.late[0]}"
        if load > g.capacity:
            reason = reason or f"a route carries {load} > {g.capacity}"
    if len(seen) < g.n:
        reason = reason or f"{g.n - len(seen)} customers not served"
    return not reason, reason, total / 10, len(used)


def problem_json(g: Gh) -> dict[str, Any]:
    """logistica's problem JSON with the DIMACS matrix (positions only label the map)."""

    def place(i: int) -> dict[str, float]:
        return {
            "lat": round(float(g.xy[i, 1]) / 1000, 6),
            "lng": round(float(g.xy[i, 0]) / 1000, 6),
        }

    order = [0, *range(1, g.n + 1), *([0] * g.vehicles)]  # origin, stops, courier positions
    m = g.dist[np.ix_(order, order)].tolist()
    return {
        "origin": place(0),
        "stops": [
            {
                "id": str(c),
                **place(c),
                "priority": 0,
                "demand": int(g.demand[c]),
                "serviceSeconds": int(g.service[c]),
                "timeWindows": [{"start": int(g.early[c]), "end": int(g.late[c])}],
            }
            for c in range(1, g.n + 1)
        ],
        "couriers": [
            {
                "id": f"v{k + 1}",
                **place(0),
                "capacity": g.capacity,
                "shift": {"start": int(g.early[0]), "end": int(g.late[0])},
            }
            for k in range(g.vehicles)
        ],
        "matrix": {"durations": m, "distances": m},
        "options": {"returnToOrigin": True},
    }


def solve_pyvrp(path: Path, seconds: float) -> list[list[int]]:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    data = pyvrp.read(path, round_func="dimacs")
    res = pyvrp.solve(data, MaxRuntime(seconds), seed=1, collect_stats=False)
    # client k of the ProblemData is location k + 1 (one depot first)
    return [[int(a.idx) + 1 for a in r if a.is_client()] for r in res.best.routes()]


def solve_vroom(path: Path, seconds: float) -> list[list[int]]:
    import vroom

    g = read(path)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=g.dist.tolist())
    problem.set_costs_matrix(profile="car", matrix_input=g.dist.tolist())
    window = vroom.TimeWindow(int(g.early[0]), int(g.late[0]))
    for k in range(g.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(k, start=0, end=0, capacity=[g.capacity], time_window=window)
        )
    problem.add_job(
        [
            vroom.Job(
                c,
                location=c,
                default_service=int(g.service[c]),
                delivery=[int(g.demand[c])],
                time_windows=[vroom.TimeWindow(int(g.early[c]), int(g.late[c]))],
            )
            for c in range(1, g.n + 1)
        ]
    )
    sol = problem.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=seconds))
    out: dict[int, list[int]] = {}
    df = sol.routes
    for vid, job, kind in zip(df["vehicle_id"], df["id"], df["type"], strict=True):
        if kind == "job":
            out.setdefault(int(vid), []).append(int(job))
    return list(out.values())


def solve_logistica(path: Path, seconds: float) -> list[list[int]]:
    from logistica_workers.routing.instance import Instance
    from logistica_workers.routing.portfolio import Portfolio

    g = read(path)
    n, m = g.n, g.vehicles
    size = n + m + 1  # stops 0..n-1, courier starts n..n+m-1, the route end n+m
    dist = np.zeros((size, size), dtype=np.int64)
    dist[:n, :n] = g.dist[1:, 1:]
    dist[n : n + m, :n] = g.dist[0, 1:][None, :]  # a start is the depot = origin
    dist[:n, n + m] = g.dist[1:, 0]  # back to the origin
    service = np.zeros(size, dtype=np.int64)
    service[:n] = g.service[1:]
    travel = dist + service[:, None]  # service at the from-node, as the product's matrices
    np.fill_diagonal(travel, 0)
    zeros = [0] * (m + 1)
    inst = Instance(
        kind="logistics",
        stop_ids=[str(c) for c in range(1, n + 1)],
        courier_ids=[f"v{k + 1}" for k in range(m)],
        distance=dist,
        travel_time=travel,
        demand=np.array([*g.demand[1:], *zeros], dtype=np.int64),
        priority=np.zeros(size, dtype=np.int64),
        capacity=[g.capacity] * m,
        time_limit=seconds,
        return_to_origin=True,
        service=service,
        windows=tuple(((int(g.early[c]), int(g.late[c])),) for c in range(1, n + 1)),
        shifts=tuple((int(g.early[0]), int(g.late[0])) for _ in range(m)),
        max_duration=tuple(None for _ in range(m)),
    )
    sol = Portfolio(inst).run()
    return [[int(s) for s in r.stops] for r in sol.routes]


def run(
    solver: str, path: Path, seconds: float, tmp: Path, json_input: bool = False
) -> dict[str, Any]:
    out = tmp / f"{solver}-{path.stem}.json"
    if solver == "logistica" and json_input:
        problem = tmp / f"{path.stem}.json"
        problem.write_text(json.dumps(problem_json(read(path))))
        cmd = [sys.executable, "-m", "logistica_workers", "solve", str(problem)]
        cmd += ["--time-limit", f"{seconds:g}", "-o", str(out)]
    else:
        cmd = [sys.executable, __file__, "--peer", solver, str(path), f"{seconds:g}", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = time.monotonic() - t0
    routes: list[list[int]] = []
    if out.exists():
        doc = json.loads(out.read_text())
        if solver == "logistica" and json_input:
            routes = [[int(s) for s in r["stops"]] for r in doc["routes"]]
        else:
            routes = doc["routes"]
    err = proc.stderr.strip().splitlines()[-1:] if proc.returncode else []
    if proc.returncode:
        routes = []  # a failed run scores nothing, whatever it wrote
    return {"exit": proc.returncode, "wall": round(wall, 1), "routes": routes, "error": err}


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def summary(rows: list[dict[str, Any]], solvers: list[str]) -> list[str]:
    names = sorted({r["instance"] for r in rows})
    lines = [
        "| instance | BKS | " + " | ".join(f"{s} gap %" for s in solvers) + " |",
        "|" + " --- |" * (len(solvers) + 2),
    ]
    gaps: dict[str, list[float]] = {s: [] for s in solvers}
    for name in names:
        cols = []
        bks = next(r["bks"] for r in rows if r["instance"] == name)
        for s in solvers:
            mine = [r for r in rows if r["instance"] == name and r["solver"] == s]
            if not mine:
                cols.append("not run")
            elif not all(r["feasible"] in (True, "True") for r in mine):
                cols.append("failed/infeasible")
            else:
                g = sum(float(r["gap_pct"]) for r in mine) / len(mine)
                gaps[s].append(g)
                cols.append(f"{g:.2f}")
        lines.append(f"| {name} | {bks} | " + " | ".join(cols) + " |")
    mean = [
        f"{sum(gaps[s]) / len(gaps[s]):.2f} ({len(gaps[s])}/{len(names)})" if gaps[s] else "n/a"
        for s in solvers
    ]
    lines.append("| **mean** (solved/instances) | | " + " | ".join(mean) + " |")
    return lines


def peer_main(argv: list[str]) -> int:
    solver, path, seconds, out = argv
    fn = {"pyvrp": solve_pyvrp, "vroom": solve_vroom, "logistica": solve_logistica}[solver]
    limit = float(seconds)
    if solver == "logistica":  # its limit counts the process start, as `logistica solve`'s
        from logistica_workers.cli.solve import budget

        limit = budget(limit)
    t0 = time.monotonic()
    routes = fn(Path(path), limit)
    Path(out).write_text(json.dumps({"routes": routes, "seconds": time.monotonic() - t0}))
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        return peer_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parents[2] / "shared/data/vrptw-gh200")
    ap.add_argument("--instances", default=",".join(SUBSET))
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--append", action="store_true", help="add to the existing CSV")
    ap.add_argument(
        "--logistica-json",
        action="store_true",
        help="logistica through its problem JSON + matrix and `logistica solve`",
    )
    ap.add_argument("--out", type=Path, default=HERE / "vrptw")
    args = ap.parse_args()
    solvers = args.solvers.split(",")
    if unknown := set(solvers) - set(SOLVERS):
        ap.error(f"unknown solvers {sorted(unknown)}; choose from {SOLVERS}")
    csv_path, txt_path = args.out.with_suffix(".csv"), args.out.with_suffix(".txt")
    rows: list[dict[str, Any]] = []
    runs: list[str] = []
    if args.append and csv_path.exists():
        with csv_path.open() as f:
            rows = list(csv.DictReader(f))
        runs = [x for x in txt_path.read_text().splitlines() if x.startswith("run: ")]
    before, started = loadavg(), time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.instances.split(","):
            path = args.data / f"{name}.vrp"
            g = read(path)
            bks = best_known(path.with_suffix(".sol"))
            for solver in solvers:
                load = loadavg()
                res = run(solver, path, args.seconds, Path(tmp), args.logistica_json)
                ok, reason, cost, used = judge(g, res["routes"])
                row = {
                    "instance": name,
                    "solver": solver,
                    "limit_s": args.seconds,
                    "wall_s": res["wall"],
                    "exit": res["exit"],
                    "feasible": ok and res["exit"] == 0,
                    "reason": (" ".join(res["error"]) or reason)[:200],
                    "cost": round(cost, 1),
                    "bks": bks,
                    "gap_pct": round(100 * (cost / bks - 1), 2) if ok else "",
                    "vehicles": used,
                    "loadavg": load,
                }
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    runs.append(
        f"run: python benchmarks/routing/vrptw.py {' '.join(sys.argv[1:])} | loadavg before "
        f"{before}, after {loadavg()} | {time.monotonic() - started:.0f} s"
    )
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    all_solvers = [s for s in SOLVERS if any(r["solver"] == s for r in rows)]
    text = [
        *runs,
        f"cpus: {os.cpu_count()}; other engineers' jobs shared the machine (loadavg column)",
        "gap = distance / best-known - 1 (DIMACS: arcs truncated to 0.1); one run per solver",
        "",
        *summary(rows, all_solvers),
    ]
    txt_path.write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
