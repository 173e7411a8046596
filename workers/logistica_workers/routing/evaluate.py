"""Score routes on an instance, independently of the engine that found them.

Every engine returns plain routes (stop node indices per vehicle); this module computes
distances, durations, loads, arrival times and the objective the same way for all of them,
so the portfolio can compare engines and the output never trusts an engine's own numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from logistica_workers.api import RouteResult, Solution, SolverInfo
from logistica_workers.routing.instance import ARRIVAL_WEIGHT_M_PER_S, Instance

Routes = list[list[int]]  # per vehicle, the stop nodes in visit order


@dataclass(frozen=True)
class Score:
    cost: float  # the model objective incl. drop penalties: what engines minimise
    objective: float  # distance + priority-weighted arrival term, metre-equivalents
    distance: float
    dropped: int


def route_metrics(inst: Instance, vehicle: int, stops: list[int]) -> tuple[int, int, int, int]:
    """(distance, duration, load, priority-weighted arrival sum) of one route."""
    if not stops:
        return 0, 0, 0, 0
    path = [inst.start(vehicle), *stops, inst.end]
    dist = sum(int(inst.distance[a, b]) for a, b in itertools.pairwise(path))
    clock = 0
    weighted = 0
    for a, b in itertools.pairwise(path):
        clock += int(inst.travel_time[a, b])
        if b < inst.n_stops:
            weighted += int(inst.priority[b]) * clock
    load = sum(int(inst.demand[s]) for s in stops)
    return dist, clock, load, weighted


def score(inst: Instance, routes: Routes) -> Score:
    served = {s for r in routes for s in r}
    dropped = [i for i in range(inst.n_stops) if i not in served]
    distance = 0.0
    arrival = 0.0
    for v, stops in enumerate(routes):
        d, _, _, w = route_metrics(inst, v, stops)
        distance += d
        arrival += w / 100 * ARRIVAL_WEIGHT_M_PER_S
    if inst.kind == "cvrp":
        arrival = 0.0
    penalty = float(inst.drop_penalty()[dropped].sum()) if dropped else 0.0
    objective = distance + arrival
    return Score(
        cost=objective + penalty, objective=objective, distance=distance, dropped=len(dropped)
    )


def to_solution(
    inst: Instance,
    routes: Routes,
    *,
    engine: str,
    status: str,
    wall: float,
    solutions: int,
    partial: bool,
) -> Solution:
    out = []
    total_d = 0
    total_t = 0
    for v, stops in enumerate(routes):
        if not stops:
            continue
        d, t, load, _ = route_metrics(inst, v, stops)
        total_d += d
        total_t += t
        out.append(
            RouteResult(
                courier_id=inst.courier_ids[v],
                stops=[inst.stop_ids[s] for s in stops],
                distance_meters=float(d),
                duration_seconds=float(t),
                load=load,
            )
        )
    served = {s for r in routes for s in r}
    sc = score(inst, routes)
    return Solution(
        routes=out,
        unassigned=[inst.stop_ids[i] for i in range(inst.n_stops) if i not in served],
        total_distance_meters=float(total_d),
        total_duration_seconds=float(total_t),
        objective=round(sc.objective, 3),
        partial=partial,
        solver=SolverInfo(
            engine=engine, status=status, wall_seconds=round(wall, 3), solutions=solutions
        ),
    )
