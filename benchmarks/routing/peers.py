"""The peer solvers of the model benchmark, each run as its own process:

    python benchmarks/routing/peers.py {pyvrp,vroom,ortools} PROBLEM.json SECONDS OUT.json

Each models logistica's problem with its own means (not the product's code):
- pyvrp: a start depot per courier whose arcs to stops go through the origin, a zero-cost end
  depot for open routes (the origin's distances with returnToOrigin), one vehicle type per
  courier, optional clients with prize = drop penalty, the load-penalty cap above the largest
  prize. It has no priority-weighted arrival term.
- vroom (pyvroom): the same matrix; vehicles start at their courier's row and (with
  returnToOrigin) end at the origin; job priority = stop priority (VROOM serves the highest
  priority sum first); timeout = SECONDS, exploration level 5, 2 threads.
- ortools: the full objective (arrival term as a soft upper bound 0 on each stop's time cumul),
  drop penalties as disjunctions; path cheapest arc + guided local search, one process.
Time windows, shifts and ``maxRouteSeconds`` (issue 13) with each peer's own means: travel
times rounded up to whole seconds (so the evaluator's recomputed times are never later);
PyVRP: client ``tw_early``/``tw_late`` + ``service_duration``, vehicle ``tw_early`` = shift start
(it may leave later), ``tw_late`` = shift end, ``shift_duration`` = ``maxRouteSeconds``; VROOM:
job ``time_windows`` + ``service``, vehicle ``time_window`` = [shift start, shift end], metres as
its costs matrix and seconds as its durations; VROOM has no route-duration limit that counts
waiting, so ``maxRouteSeconds`` becomes an end at shift start + maxRouteSeconds (stricter than
the model); OR-Tools: a time dimension with waiting slack, windows as cumul ranges, start and
end cumuls within the shift, ``maxRouteSeconds`` as the vehicle's span upper bound.
One window per stop (the generated scenarios have at most one).
OUT.json gets ``{"routes": [{"courierId", "stops"}], "seconds": solve seconds}``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

R_EARTH = 6_371_008.8
FAR = 10**8  # arcs no route uses (into a start depot, out of the end)


def matrices(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Integer metres and seconds over [stops, courier starts, end]; the seconds include the
    service time at the from-node and are rounded up."""
    pts = [(s["lat"], s["lng"]) for s in p["stops"]]
    pts += [(c["lat"], c["lng"]) for c in p["couriers"]]
    pts.append((p["origin"]["lat"], p["origin"]["lng"]))
    lat, lng = np.radians(np.array(pts)).T
    h = (
        np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
        + np.cos(lat[:, None])
        * np.cos(lat[None, :])
        * np.sin((lng[:, None] - lng[None, :]) / 2) ** 2
    )
    base = 2 * R_EARTH * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    n, m = len(p["stops"]), len(p["couriers"])
    o = n + m
    d = np.full((o + 1, o + 1), float(FAR))
    d[:n, :n] = base[:n, :n]
    d[n:o, :n] = base[n:o, o][:, None] + base[o, :n][None, :]
    d[:n, o] = base[:n, o] if p.get("options", {}).get("returnToOrigin") else 0.0
    d[n:o, o] = 0.0
    np.fill_diagonal(d, 0.0)
    speed = float(p.get("options", {}).get("speedKmh", 30.0)) / 3.6
    t = np.ceil(d / speed)
    t[:n, :] += service_seconds(p)[:, None]
    np.fill_diagonal(t, 0.0)
    t[d >= FAR] = FAR
    return np.rint(d).astype(np.int64), t.astype(np.int64), n, m


def service_seconds(p: dict[str, Any]) -> np.ndarray:
    return np.array([s.get("serviceSeconds", 0) for s in p["stops"]], dtype=np.int64)


def window(stop: dict[str, Any]) -> tuple[int, int] | None:
    ws = stop.get("timeWindows") or []
    if len(ws) > 1:
        raise ValueError(f"stop {stop['id']}: the peers model one time window per stop")
    return (int(ws[0]["start"]), int(ws[0]["end"])) if ws else None


def shift(courier: dict[str, Any]) -> tuple[int, int | None]:
    """(start, latest end) of a courier's route: the shift end and start + maxRouteSeconds."""
    sh = courier.get("shift") or {}
    start = int(sh.get("start", 0))
    ends = [int(sh["end"])] if "end" in sh else []
    if courier.get("maxRouteSeconds") is not None:
        ends.append(start + int(courier["maxRouteSeconds"]))
    return start, min(ends) if ends else None


def travel_seconds(p: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """``t`` without the service time at the from-node (PyVRP and VROOM add it themselves)."""
    n = len(p["stops"])
    out = t.copy()
    far = out >= FAR
    out[:n, :] -= service_seconds(p)[:, None]
    np.fill_diagonal(out, 0)
    out[far] = FAR
    return out


def _routes(p: dict[str, Any], per_vehicle: dict[int, list[int]]) -> list[dict[str, Any]]:
    return [
        {"courierId": p["couriers"][k]["id"], "stops": [p["stops"][j]["id"] for j in r]}
        for k, r in sorted(per_vehicle.items())
        if r
    ]


def solve_pyvrp(p: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    d, t, n, m = matrices(p)
    unit = int(d[: n + m, :n].max()) * 2 + 1  # more than any stop's detour
    prizes = [(1 + s["priority"]) * unit for s in p["stops"]]
    clients = []
    for j, s in enumerate(p["stops"]):
        tw = window(s)
        kw: dict[str, Any] = {"tw_early": tw[0], "tw_late": tw[1]} if tw else {}
        clients.append(
            pyvrp.Client(
                j,
                delivery=[s.get("demand", 1)],
                service_duration=int(s.get("serviceSeconds", 0)),
                prize=prizes[j],
                required=False,
                **kw,
            )
        )
    vehicles = []
    for k, c in enumerate(p["couriers"]):
        vkw: dict[str, Any] = {"tw_early": shift(c)[0]}
        sh_end = (c.get("shift") or {}).get("end")
        if sh_end is not None:
            vkw["tw_late"] = int(sh_end)
        if c.get("maxRouteSeconds") is not None:
            vkw["shift_duration"] = int(c["maxRouteSeconds"])
        vehicles.append(
            pyvrp.VehicleType(1, capacity=[c["capacity"]], start_depot=k, end_depot=m, **vkw)
        )
    data = pyvrp.ProblemData(
        [pyvrp.Location(0, 0) for _ in range(n + m + 1)],
        clients,
        [pyvrp.Depot(n + k) for k in range(m + 1)],
        vehicles,
        [d],
        [travel_seconds(p, t)],
    )
    params = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=4.0 * max(prizes)))
    res = pyvrp.solve(data, MaxRuntime(seconds), seed=1, collect_stats=False, params=params)
    out: dict[int, list[int]] = {}
    for r in res.best.routes():
        out[r.vehicle_type()] = [int(a.idx) for a in r if a.is_client()]
    return _routes(p, out)


def solve_vroom(p: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    import vroom

    d, t, n, m = matrices(p)
    back = bool(p.get("options", {}).get("returnToOrigin"))
    problem = vroom.Input()
    d = np.where(d >= FAR, d[d < FAR].max(), d)  # VROOM rejects huge costs
    t = travel_seconds(p, t)
    t = np.where(t >= FAR, t[t < FAR].max(), t)
    problem.set_durations_matrix(profile="car", matrix_input=t.tolist())
    problem.set_costs_matrix(profile="car", matrix_input=d.tolist())
    for k, c in enumerate(p["couriers"]):
        kw: dict[str, Any] = {"start": n + k, "capacity": [c["capacity"]]}
        if back:
            kw["end"] = n + m
        start, end = shift(c)
        if start or end is not None:
            kw["time_window"] = vroom.TimeWindow(start, end if end is not None else 2**31 - 1)
        problem.add_vehicle(vroom.Vehicle(k, **kw))
    jobs = []
    for j, s in enumerate(p["stops"]):
        tw = window(s)
        jkw: dict[str, Any] = {"time_windows": [vroom.TimeWindow(*tw)]} if tw else {}
        jobs.append(
            vroom.Job(
                j,
                location=j,
                default_service=int(s.get("serviceSeconds", 0)),
                delivery=[s.get("demand", 1)],
                priority=s["priority"],
                **jkw,
            )
        )
    problem.add_job(jobs)
    sol = problem.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=seconds))
    out: dict[int, list[int]] = {}
    df = sol.routes
    for vid, job, kind in zip(df["vehicle_id"], df["id"], df["type"], strict=True):
        if kind == "job":
            out.setdefault(int(vid), []).append(int(job))
    return _routes(p, out)


def solve_ortools(p: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    d, t, n, m = matrices(p)
    end = n + m
    mgr = pywrapcp.RoutingIndexManager(n + m + 1, m, list(range(n, n + m)), [end] * m)
    rt = pywrapcp.RoutingModel(mgr)
    rt.SetArcCostEvaluatorOfAllVehicles(rt.RegisterTransitMatrix((d * 100).tolist()))
    demand = [s.get("demand", 1) for s in p["stops"]] + [0] * (m + 1)
    caps = [c["capacity"] for c in p["couriers"]]
    rt.AddDimensionWithVehicleCapacity(rt.RegisterUnaryTransitVector(demand), 0, caps, True, "load")
    t_use = np.where(t >= FAR, 0, t)
    latest = [int((c.get("shift") or {}).get("end", 0)) for c in p["couriers"]]
    latest += [shift(c)[1] or 0 for c in p["couriers"]]
    latest += [(window(s) or (0, 0))[1] for s in p["stops"]]
    horizon = int(t_use.max()) * (n + 2) + max(latest) + 1
    timed = any(window(s) for s in p["stops"]) or any(
        c.get("shift") or c.get("maxRouteSeconds") is not None for c in p["couriers"]
    )
    # waiting slack only when windows or shifts exist; start cumuls are bounded below
    rt.AddDimension(
        rt.RegisterTransitMatrix(t_use.tolist()),
        horizon if timed else 0,
        horizon,
        not timed,
        "time",
    )
    time_dim = rt.GetDimensionOrDie("time")
    for k, c in enumerate(p["couriers"]):
        sh = c.get("shift") or {}
        start = int(sh.get("start", 0))
        time_dim.CumulVar(rt.Start(k)).SetMin(start)
        if "end" in sh:
            time_dim.CumulVar(rt.End(k)).SetMax(int(sh["end"]))
        if c.get("maxRouteSeconds") is not None:
            time_dim.SetSpanUpperBoundForVehicle(int(c["maxRouteSeconds"]), k)
    for j, s in enumerate(p["stops"]):
        tw = window(s)
        if tw:
            time_dim.CumulVar(mgr.NodeToIndex(j)).SetRange(*tw)
    big = 100 * (n + 1) * (int(d[: n + m, :n].max()) * 2 + horizon) + 1
    for j, s in enumerate(p["stops"]):
        idx = mgr.NodeToIndex(j)
        if s["priority"]:
            time_dim.SetCumulVarSoftUpperBound(idx, 0, int(s["priority"]))
        rt.AddDisjunction([idx], (1 + int(s["priority"])) * big)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    sol = rt.SolveWithParameters(params)
    out: dict[int, list[int]] = {}
    if sol is not None:
        for k in range(m):
            idx = sol.Value(rt.NextVar(rt.Start(k)))
            while not rt.IsEnd(idx):
                out.setdefault(k, []).append(mgr.IndexToNode(idx))
                idx = sol.Value(rt.NextVar(idx))
    return _routes(p, out)


SOLVERS = {"pyvrp": solve_pyvrp, "vroom": solve_vroom, "ortools": solve_ortools}


def main() -> int:
    name, problem_path, seconds, out_path = sys.argv[1:5]
    p = json.loads(Path(problem_path).read_text())
    t0 = time.monotonic()
    routes = SOLVERS[name](p, float(seconds))
    Path(out_path).write_text(json.dumps({"routes": routes, "seconds": time.monotonic() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
