"""Score routes on an instance, independently of the engine that found them.

Every engine returns plain routes (stop node indices per vehicle); this module computes
distances, durations, loads, arrival times and the objective the same way for all of them,
so the portfolio can compare engines and the output never trusts an engine's own numbers.
Times follow ``schedule.schedule``; a plan breaking a hard window, a shift or a route limit
scores infinity.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from logistica_workers.api import (
    RouteResult,
    Solution,
    SolverInfo,
    TakenBreak,
    UnassignedReason,
    Visit,
)
from logistica_workers.api.times import render
from logistica_workers.routing.instance import ARRIVAL_WEIGHT_M_PER_S, Instance
from logistica_workers.routing.reasons import unassigned_reasons
from logistica_workers.routing.schedule import Schedule, schedule

Routes = list[list[int]]  # per vehicle, the stop nodes in visit order


@dataclass(frozen=True)
class Score:
    cost: float  # the model objective incl. drop penalties: what engines minimise
    objective: float  # distance + priority-weighted arrival term (+ lateness), metre-equivalents
    distance: float
    dropped: int
    feasible: bool = True


def drop_blocked(inst: Instance, routes: Routes) -> Routes:
    """``routes`` without the stops an engine reached through an unreachable arc (a user
    matrix's null): each such stop is removed, and its successor checked again."""
    if inst.blocked is None:
        return routes
    out: Routes = []
    for v, stops in enumerate(routes):
        kept: list[int] = []
        prev = inst.start(v)
        for s in stops:
            if inst.arc_open(prev, s):
                kept.append(s)
                prev = s
        while kept and not inst.arc_open(kept[-1], inst.end):
            kept.pop()  # the way back to the origin is closed (returnToOrigin)
        out.append(kept)
    return out


def unreachable_stops(inst: Instance) -> set[int]:
    """Stops no courier can reach over open arcs (through the origin, then other stops)."""
    n = inst.n_stops
    if inst.blocked is None:
        return set()
    open_arcs = ~inst.blocked[:n, :n]
    seen = np.zeros(n, dtype=bool)
    for v in range(inst.n_vehicles):
        seen |= ~inst.blocked[inst.start(v), :n]
    frontier = seen.copy()
    while frontier.any():
        reach = open_arcs[frontier].any(axis=0) & ~seen
        seen |= reach
        frontier = reach
    return {i for i in range(n) if not seen[i]}


@dataclass(frozen=True)
class RouteMetrics:
    distance: int
    duration: int
    load: int
    weighted: int  # priority-weighted service start times, summed
    times: Schedule


def route_metrics(inst: Instance, vehicle: int, stops: list[int]) -> RouteMetrics:
    """Distance, duration, load, priority-weighted arrival sum and times of one route."""
    times = schedule(inst, vehicle, stops)
    if not stops:
        return RouteMetrics(0, 0, 0, 0, times)
    path = [inst.start(vehicle), *stops, inst.end]
    dist = sum(int(inst.distance[a, b]) for a, b in itertools.pairwise(path))
    weighted = sum(int(inst.priority[s]) * b for s, b in zip(stops, times.begins, strict=True))
    load = sum(int(inst.demand[s]) for s in stops)
    return RouteMetrics(dist, times.end - times.start, load, weighted, times)


def score(inst: Instance, routes: Routes) -> Score:
    served = {s for r in routes for s in r}
    dropped = [i for i in range(inst.n_stops) if i not in served]
    distance = 0.0
    arrival = 0.0
    lateness = 0.0
    feasible = True
    for v, stops in enumerate(routes):
        rm = route_metrics(inst, v, stops)
        distance += rm.distance
        arrival += rm.weighted / 100 * ARRIVAL_WEIGHT_M_PER_S
        lateness += rm.times.lateness * inst.lateness_cost
        feasible = feasible and rm.times.feasible
    if inst.kind == "cvrp":
        arrival = 0.0
    penalty = float(inst.drop_penalty()[dropped].sum()) if dropped else 0.0
    objective = distance + arrival + lateness
    cost = objective + penalty if feasible else math.inf
    return Score(
        cost=cost,
        objective=objective,
        distance=distance,
        dropped=len(dropped),
        feasible=feasible,
    )


def _route_result(inst: Instance, v: int, stops: list[int], rm: RouteMetrics) -> RouteResult:
    zero, t = inst.zero, rm.times
    visits = []
    load = 0
    service = inst.service
    for k, s in enumerate(stops):
        load += int(inst.demand[s])
        served = int(service[s]) if service is not None else 0
        visits.append(
            Visit(
                stop_id=inst.stop_ids[s],
                arrival=render(t.arrivals[k], zero),
                departure=render(t.begins[k] + served, zero),
                wait_seconds=t.begins[k] - t.arrivals[k],
                load_after=load,
            )
        )
    return RouteResult(
        courier_id=inst.courier_ids[v],
        stops=[inst.stop_ids[s] for s in stops],
        distance_meters=float(rm.distance),
        duration_seconds=float(rm.duration),
        load=rm.load,
        start=render(t.start, zero),
        end=render(t.end, zero),
        visits=visits,
        breaks=[TakenBreak(start=render(a, zero), end=render(b, zero)) for a, b in t.breaks],
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
        rm = route_metrics(inst, v, stops)
        total_d += rm.distance
        total_t += rm.duration
        out.append(_route_result(inst, v, stops, rm))
    served = {s for r in routes for s in r}
    sc = score(inst, routes)
    reasons = unassigned_reasons(inst, routes) if inst.kind == "logistics" else {}
    return Solution(
        routes=out,
        unassigned=[inst.stop_ids[i] for i in range(inst.n_stops) if i not in served],
        unassigned_reasons=[
            UnassignedReason(stop_id=inst.stop_ids[s], reason=r)  # type: ignore[arg-type]
            for s, r in sorted(reasons.items())
        ],
        total_distance_meters=float(total_d),
        total_duration_seconds=float(total_t),
        objective=round(sc.objective, 3),
        partial=partial,
        solver=SolverInfo(
            engine=engine, status=status, wall_seconds=round(wall, 3), solutions=solutions
        ),
    )
