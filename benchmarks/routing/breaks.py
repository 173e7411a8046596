"""Couriers' breaks: what each engine path drops and costs on generated problems with breaks.

The ``breaks`` scenario of ``city.py`` (every stop one 30-minute window, 0-4 h shifts, every
courier a 30-minute break starting 1.5-2.5 h into its shift). Paths, each the product's
portfolio (``Portfolio(inst, configs).run()``, so the last repair of drops is included):

- ``pyvrp-old``: PyVRP planning without breaks, its routes cut down until their breaks fit
  (``pyvrp_breaks=False``: the path before break copies);
- ``pyvrp``: PyVRP with break copies of the stops (``pyvrp_model.break_kinds``);
- ``ortools``: plain OR-Tools (path cheapest arc + guided local search, breaks as
  ``SetBreakIntervalsOfVehicle``);
- ``portfolio-old``: the portfolio before break copies (two engine processes: ``hybrid`` beside
  plain OR-Tools up to 150 stops, beside PyVRP seed 2 above; PyVRP without breaks);
- ``portfolio-copies``: the same two engines, PyVRP with break copies;
- ``portfolio``: the default portfolio (``portfolio.break_configs``): ``hybrid`` with break
  copies beside PyVRP without breaks (``hybrid`` up to 150 stops, PyVRP alone above).

Runs are interleaved per instance (every path once, then the next instance); every answer goes
through the independent checker ``tests/support/feasibility.py`` (ETAs, windows, shifts and
breaks recomputed). Reported per path: stops dropped, dropped weight sum(1 + priority) and the
objective (metres + arrival term, km, from the answer); and the stops missing from the best
plan the engines reported, before the portfolio's last repair puts back what fits
(``engine_dropped``: for PyVRP without breaks, what cutting routes down to fit breaks cost).

Usage: python benchmarks/routing/breaks.py [--sizes 100,300,1000] [--seeds 2]
       [--paths pyvrp-old,pyvrp,ortools,portfolio-old,portfolio-copies,portfolio] [--out breaks]
Appends one CSV row per run to ``--out``.csv; the summary goes to ``--out``.txt.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))  # tests/support/feasibility

from city import generate  # noqa: E402

from logistica_workers.api import Problem  # noqa: E402
from logistica_workers.routing.engines import EngineConfig  # noqa: E402
from logistica_workers.routing.instance import Instance, from_problem  # noqa: E402
from logistica_workers.routing.portfolio import (  # noqa: E402
    ORTOOLS_PEER_MAX_STOPS,
    Portfolio,
    default_configs,
)
from tests.support.feasibility import check  # noqa: E402

SECONDS = {100: 2.0, 300: 5.0, 1000: 10.0, 2000: 15.0}
PATHS = ("pyvrp-old", "pyvrp", "ortools", "portfolio-old", "portfolio-copies", "portfolio")
FIELDS = (
    "stops", "seed", "path", "limit_s", "wall_s", "feasible", "engine_dropped", "dropped", "drop_weight",
    "objective_km", "status", "load",
)  # fmt: skip


def configs(path: str, inst: Instance) -> list[EngineConfig]:
    if path == "pyvrp-old":
        return [EngineConfig("pyvrp", seed=1, pyvrp_breaks=False)]
    if path == "pyvrp":
        return [EngineConfig("pyvrp", seed=1)]
    if path == "ortools":
        return [EngineConfig("ortools", "PATH_CHEAPEST_ARC", "GUIDED_LOCAL_SEARCH")]
    if path in ("portfolio-old", "portfolio-copies"):
        second = (
            EngineConfig("ortools", "PATH_CHEAPEST_ARC", "GUIDED_LOCAL_SEARCH")
            if inst.n_stops <= ORTOOLS_PEER_MAX_STOPS
            else EngineConfig("pyvrp", seed=2)
        )
        pair = [EngineConfig("hybrid", seed=1), second]
        return [dataclasses.replace(c, pyvrp_breaks=path == "portfolio-copies") for c in pair]
    if path == "portfolio":
        return default_configs(inst)
    raise ValueError(f"path must be one of {PATHS}, got {path!r}")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(doc: dict[str, Any], path: str, limit: float) -> dict[str, Any]:
    inst = from_problem(Problem.model_validate(doc), limit)
    t0 = time.monotonic()
    portfolio = Portfolio(inst, configs(path, inst))
    sol = portfolio.run()
    wall = time.monotonic() - t0
    best = portfolio.best[1] if portfolio.best else []
    answer = sol.model_dump(mode="json", by_alias=True)
    errors = check(doc, answer)
    priority = {s["id"]: s["priority"] for s in doc["stops"]}
    return {
        "wall_s": round(wall, 2),
        "feasible": not errors,
        "engine_dropped": inst.n_stops - sum(len(r) for r in best),
        "dropped": len(sol.unassigned),
        "drop_weight": sum(1 + priority[s] for s in sol.unassigned),
        "objective_km": round(sol.objective / 1000, 1),
        "status": sol.solver.status if errors == [] else f"INFEASIBLE: {errors[0][:80]}",
    }


def summary(rows: list[dict[str, Any]], paths: list[str]) -> list[str]:
    head = "| stops | " + " | ".join(f"{p} drops (engine) / dropW / obj km" for p in paths) + " |"
    out = [head, "| --- |" + " --- |" * len(paths)]
    for n in sorted({int(r["stops"]) for r in rows}):
        cells = []
        for p in paths:
            rs = [r for r in rows if int(r["stops"]) == n and r["path"] == p]
            if not rs:
                cells.append("-")
                continue
            bad = sum(str(r["feasible"]) != "True" for r in rs)
            mean = statistics.mean
            cell = (
                f"{mean(int(r['dropped']) for r in rs):g} "
                f"({mean(int(r['engine_dropped']) for r in rs):g}) / "
                f"{mean(int(r['drop_weight']) for r in rs):g} / "
                f"{mean(float(r['objective_km']) for r in rs):,.1f}"
            )
            cells.append(cell + (f" ({bad} infeasible)" if bad else ""))
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,300,1000")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--out", type=Path, default=HERE / "breaks")
    ap.add_argument("--summarize", action="store_true", help="only rewrite the summary")
    args = ap.parse_args()
    paths = args.paths.split(",")
    csv_path, txt = args.out.with_suffix(".csv"), args.out.with_suffix(".txt")
    if not args.summarize:
        new = not csv_path.exists()
        with csv_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            for n in (int(x) for x in args.sizes.split(",")):
                limit = SECONDS.get(n, 10.0)
                for seed in range(1, args.seeds + 1):
                    doc = generate(n, "breaks", seed)
                    for p in paths:  # interleaved: every path once per instance
                        load = loadavg()
                        row = {"stops": n, "seed": seed, "path": p, "limit_s": limit}
                        row |= run(doc, p, limit) | {"load": load}
                        print(row, flush=True)
                        w.writerow(row)
                        f.flush()
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    seen = [p for p in PATHS if any(r["path"] == p for r in rows)]
    head = txt.read_text().split("\n\n")[0] if txt.exists() and args.summarize else ""
    if not head:
        head = (
            f"command: python benchmarks/routing/breaks.py --sizes {args.sizes} "
            f"--seeds {args.seeds} --paths {args.paths}"
        )
    txt.write_text(head + "\n\n" + "\n".join(summary(rows, seen)) + "\n")
    print(txt.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
