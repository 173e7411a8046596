"""Re-planning: committed stops stay on their courier, in their order, at the start.

A courier's committed prefix is fixed, so it is not searched at all: the courier is modelled
as starting where the prefix ends (at its last committed stop, when it has served it, with the
room the load on board and the committed demand leave), in a reduced problem of the other
stops that either engine solves as any problem. The prefix is then put back in front of each
route. New stops never go between committed ones: their goods are at the origin, and a courier
reaches the origin only after its committed stops (whose goods are on board).

``previousPlan`` seeds the search: its routes (without committed and vanished stops) are the
first candidate, new stops inserted where they cost least (``repair_drops``), and with two or
more engines an OR-Tools engine starts from it. ``changes`` lists the stops whose courier differs
from that plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from logistica_workers.api import Change, Problem, RouteResult, Solution, times
from logistica_workers.api.routing import Visit, time_zero
from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import Instance, base_matrices, from_problem


@dataclass(frozen=True)
class Prefix:
    stops: list[str]
    start: float  # seconds from time zero: when the courier leaves its position
    arrivals: list[float]  # at each committed stop
    demands: list[int]
    departures: list[float]
    distance: float  # metres, position -> ... -> last committed stop
    demand: int
    back_distance: float  # last committed stop -> origin (returnToOrigin, nothing after)
    back_seconds: float


@dataclass(frozen=True)
class Replan:
    original: Problem
    reduced: Problem  # without the committed stops (maybe none left)
    prefixes: dict[str, Prefix]  # by courier id

    def warm_start(self, inst: Instance) -> Routes | None:
        """The previous plan's routes over the reduced instance's nodes (None without one)."""
        plan = self.original.previous_plan
        if plan is None:
            return None
        node = {sid: i for i, sid in enumerate(inst.stop_ids)}
        vehicle = {cid: k for k, cid in enumerate(inst.courier_ids)}
        routes: Routes = [[] for _ in range(inst.n_vehicles)]
        placed: set[int] = set()
        for r in plan.routes:
            k = vehicle.get(r.courier_id)
            if k is None or routes[k]:
                continue
            load = 0
            for sid in r.stops:
                i = node.get(sid)
                if i is None or i in placed:
                    continue  # committed (in the prefix), gone, or listed twice
                if load + int(inst.demand[i]) > inst.capacity[k]:
                    continue  # the room left after the prefix is smaller now
                routes[k].append(i)
                placed.add(i)
                load += int(inst.demand[i])
        return routes

    def finish(self, solution: Solution) -> Solution:
        """``solution`` of the reduced problem with the prefixes put back, and ``changes``."""
        problem = self.original
        zero = time_zero(problem.start_time)
        by_courier = {r.courier_id: r for r in solution.routes}
        routes: list[RouteResult] = []
        for c in problem.couriers:
            p, r = self.prefixes.get(c.id), by_courier.get(c.id)
            if p is None or not p.stops:
                if r is not None:
                    routes.append(r)
                continue
            routes.append(_join(c.id, p, r, problem.options.return_to_origin, zero))
        added_distance = sum(x.distance_meters for x in routes) - sum(
            x.distance_meters for x in solution.routes
        )
        served = {sid: r.courier_id for r in routes for sid in r.stops}
        return solution.model_copy(
            update={
                "routes": routes,
                "total_distance_meters": sum(x.distance_meters for x in routes),
                "total_duration_seconds": sum(x.duration_seconds for x in routes),
                "objective": round(solution.objective + added_distance, 3),
                "changes": changes(problem, served),
            }
        )


def changes(problem: Problem, served: dict[str, str]) -> list[Change]:
    """Stops whose courier differs from the previous plan's (null = unassigned)."""
    plan = problem.previous_plan
    if plan is None:
        return []
    before: dict[str, str] = {}
    for r in plan.routes:
        for sid in r.stops:
            before.setdefault(sid, r.courier_id)
    out = []
    for sid in problem.stop_ids():
        was, now = before.get(sid), served.get(sid)
        if was != now:
            out.append(Change(stop_id=sid, from_=was, to=now))
    return out


def _join(
    cid: str, p: Prefix, r: RouteResult | None, back: bool, zero: datetime | None
) -> RouteResult:
    """The route ``r`` of the reduced problem (None: nothing after the prefix) behind the
    prefix: distance, duration (start to end), load and visits of both."""
    distance = p.distance + (r.distance_meters if r is not None else 0.0)
    if r is not None and r.end is not None:
        end_s = float(times.to_seconds(r.end, zero))
    elif r is not None:
        end_s = p.departures[-1] + r.duration_seconds
    else:
        end_s = p.departures[-1] + (p.back_seconds if back else 0.0)
        distance += p.back_distance if back else 0.0
    visits: list[Visit] = []
    load = 0
    for sid, a, d, q in zip(p.stops, p.arrivals, p.departures, p.demands, strict=True):
        load += q
        visits.append(
            Visit(
                stop_id=sid,
                arrival=times.render(a, zero),
                departure=times.render(d, zero),
                wait_seconds=0,
                load_after=load,
            )
        )
    for v in r.visits if r is not None else []:
        visits.append(v.model_copy(update={"load_after": v.load_after + p.demand}))
    return RouteResult(
        courier_id=cid,
        stops=p.stops + (r.stops if r is not None else []),
        distance_meters=float(round(distance)),
        duration_seconds=float(round(end_s - p.start)),
        load=p.demand + (r.load if r is not None else 0),
        start=times.render(p.start, zero),
        end=times.render(end_s, zero),
        visits=visits,
    )


def needed(problem: Problem) -> bool:
    return problem.previous_plan is not None or any(c.committed or c.load for c in problem.couriers)


def split(problem: Problem) -> Replan:
    """The reduced problem (committed stops removed, their couriers starting after them)."""
    zero = time_zero(problem.start_time)
    n, m = len(problem.stops), len(problem.couriers)
    ids = problem.stop_ids()
    at = {sid: i for i, sid in enumerate(ids)}
    committed = {sid for c in problem.couriers for sid in c.committed}
    need_matrices = any(c.committed for c in problem.couriers)
    dist, secs = base_matrices(problem) if need_matrices else (np.zeros(0), np.zeros(0))
    prefixes: dict[str, Prefix] = {}
    couriers = []
    where = list(range(n + 1, n + m + 1))  # each courier's location in the full matrix
    for k, c in enumerate(problem.couriers):
        start = _start_seconds(c.available_at, c.shift.start if c.shift else None, zero)
        update: dict[str, object] = {"committed": [], "load": 0}
        demand = 0
        if c.committed:
            loc = n + 1 + k
            clock, metres = float(start), 0.0
            arrivals: list[float] = []
            departures: list[float] = []
            demands: list[int] = []
            for sid in c.committed:
                i = at[sid] + 1
                clock += float(secs[loc, i])
                metres += float(dist[loc, i])
                arrivals.append(clock)
                clock += problem.stops[at[sid]].service_seconds
                departures.append(clock)
                demand += problem.stops[at[sid]].demand
                demands.append(problem.stops[at[sid]].demand)
                loc = i
            back_d, back_t = float(dist[loc, 0]), float(secs[loc, 0])
            prefixes[c.id] = Prefix(
                stops=list(c.committed),
                start=float(start),
                arrivals=arrivals,
                demands=demands,
                departures=departures,
                distance=metres,
                demand=demand,
                back_distance=0.0 if math.isnan(back_d) else back_d,
                back_seconds=0.0 if math.isnan(back_t) else back_t,
            )
            last = problem.stops[at[c.committed[-1]]]
            where[k] = loc
            update |= {"lat": last.lat, "lng": last.lng, "available_at": math.ceil(clock)}
        update["capacity"] = c.capacity - c.load - demand
        couriers.append(c.model_copy(update=update))
    keep = [i for i, sid in enumerate(ids) if sid not in committed]
    matrix = problem.matrix
    if matrix is not None:
        index = [0] + [i + 1 for i in keep] + where
        matrix = matrix.model_copy(
            update={
                name: _select(rows, index)
                for name, rows in (("durations", matrix.durations), ("distances", matrix.distances))
                if rows is not None
            }
        )
    reduced = problem.model_copy(
        update={
            "stops": [problem.stops[i] for i in keep],
            "couriers": couriers,
            "matrix": matrix,
            "previous_plan": None,
        }
    )
    return Replan(original=problem, reduced=reduced, prefixes=prefixes)


def prepare(problem: Problem, time_limit: float | None) -> tuple[Instance, Replan | None]:
    """The instance to search: ``problem``'s, or with re-planning fields the reduced one."""
    if not needed(problem):
        return from_problem(problem, time_limit), None
    rp = split(problem)
    return from_problem(rp.reduced, time_limit), rp


def _select(rows: list[list[float | None]], index: list[int]) -> list[list[float | None]]:
    return [[rows[i][j] for j in index] for i in index]


def _start_seconds(
    available_at: int | str | None, shift_start: int | str | None, zero: datetime | None
) -> int:
    start = 0
    if shift_start is not None:
        start = times.to_seconds(shift_start, zero)
    if available_at is not None:
        start = max(start, times.to_seconds(available_at, zero))
    return start
