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

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from logistica_workers.api import (
    Break,
    Change,
    Courier,
    Problem,
    RouteResult,
    Shift,
    Solution,
    times,
)
from logistica_workers.api.routing import TakenBreak, Visit, time_zero
from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import (
    NEVER,
    BreakSpec,
    Instance,
    Window,
    base_matrices,
    breaks_seconds,
    from_problem,
    windows_seconds,
)
from logistica_workers.routing.schedule import window_for


@dataclass(frozen=True)
class Prefix:
    stops: list[str]
    start: float  # seconds from time zero: when the courier leaves its position
    arrivals: list[float]  # at each committed stop
    demands: list[int]
    departures: list[float]
    waits: list[float]  # at each committed stop, for its window
    breaks: list[tuple[float, float]]  # taken on the way (start, end)
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

    def pins(self, inst: Instance) -> tuple[int, ...]:
        """Per stop of ``inst``: the vehicle the previous plan gave it, or -1 (a new stop)."""
        plan = self.original.previous_plan
        pinned = [-1] * inst.n_stops
        if plan is None:
            return tuple(pinned)
        node = {sid: i for i, sid in enumerate(inst.stop_ids)}
        vehicle = {cid: k for k, cid in enumerate(inst.courier_ids)}
        for r in plan.routes:
            k = vehicle.get(r.courier_id)
            for sid in r.stops:
                i = node.get(sid)
                if k is not None and i is not None and pinned[i] < 0:
                    pinned[i] = k
        return tuple(pinned)

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
    for sid, a, d, w, q in zip(p.stops, p.arrivals, p.departures, p.waits, p.demands, strict=True):
        load += q
        visits.append(
            Visit(
                stop_id=sid,
                arrival=times.render(a, zero),
                departure=times.render(d, zero),
                wait_seconds=round(w),
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
        breaks=[
            TakenBreak(start=times.render(a, zero), end=times.render(b, zero)) for a, b in p.breaks
        ]
        + (r.breaks if r is not None else []),
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
            metres = 0.0
            demands: list[int] = []
            legs: list[_Leg] = []
            for sid in c.committed:
                i = at[sid] + 1
                stop = problem.stops[at[sid]]
                windows = windows_seconds([(w.start, w.end) for w in stop.time_windows], zero)
                legs.append((float(secs[loc, i]), windows, stop.service_seconds))
                metres += float(dist[loc, i])
                demand += stop.demand
                demands.append(stop.demand)
                loc = i
            timing = _drive(float(start), breaks_seconds(c.breaks, zero), legs, c.max_route_seconds)
            start = round(timing.start)
            back_d, back_t = float(dist[loc, 0]), float(secs[loc, 0])
            prefixes[c.id] = Prefix(
                stops=list(c.committed),
                start=timing.start,
                arrivals=timing.arrivals,
                demands=demands,
                departures=timing.departures,
                waits=timing.waits,
                breaks=timing.taken,
                distance=metres,
                demand=demand,
                back_distance=0.0 if math.isnan(back_d) else back_d,
                back_seconds=0.0 if math.isnan(back_t) else back_t,
            )
            last = problem.stops[at[c.committed[-1]]]
            where[k] = loc
            update |= {
                "lat": last.lat,
                "lng": last.lng,
                "available_at": math.ceil(timing.clock),
                # the breaks the prefix did not take are still owed
                "breaks": [Break(start=b[0], end=b[1], duration_seconds=b[2]) for b in timing.owed],
                # the route started with the prefix: its limit is an end time for the rest
                # (leaving later than the prefix's end would only be waiting, inside the route)
                "max_route_seconds": None,
                "shift": _shift_until(c, start + c.max_route_seconds, zero)
                if c.max_route_seconds is not None
                else c.shift,
            }
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


class _PrefixClock:
    """The timing rule of ``schedule.py`` along a committed prefix (driven straight from the
    courier's position): wait for the first window not yet ended, serve; each owed break is
    taken as early as its window allows, in the first leg where it starts no later than the
    next service would (the drive pauses for it, or it fills the waiting). A committed stop
    reached after its windows is served late: it was promised, so the plan keeps it."""

    def __init__(self, start: float, breaks: tuple[BreakSpec, ...]) -> None:
        self.start = self.clock = start
        self.late: list[bool] = []  # reached after its windows (served anyway: it was promised)
        # owed as schedule.py has it: not passed, and not one that could be over before leaving
        self.owed = [b for b in breaks if b[1] >= start and b[0] + b[2] > start]
        self.arrivals: list[float] = []
        self.waits: list[float] = []
        self.departures: list[float] = []
        self.taken: list[tuple[float, float]] = []

    def visit(self, drive: float, windows: tuple[Window, ...], service: int) -> None:
        leave = cur = self.clock
        paused = 0.0
        while self.owed:
            b_start, b_latest, b_len = self.owed[0]
            ready = max(cur, leave + drive + paused)
            if b_latest < cur:  # its window passed during a service: it cannot be taken
                self.owed.pop(0)
                continue
            if b_start > _service_start(windows, ready):
                break  # it opens after this service: a later leg
            begin = max(cur, b_start)
            cur, paused = begin + b_len, paused + b_len
            self.taken.append((begin, cur))
            self.owed.pop(0)
        arrival = max(cur, leave + drive + paused)
        begin = _service_start(windows, arrival)
        self.late.append(bool(windows) and window_for(windows, math.ceil(arrival)) is None)
        self.arrivals.append(arrival)
        self.waits.append(begin - arrival)
        self.clock = begin + service
        self.departures.append(self.clock)


_Leg = tuple[float, tuple[Window, ...], int]  # drive seconds, the stop's windows, its service


def _drive(
    start: float, breaks: tuple[BreakSpec, ...], legs: list[_Leg], limit: int | None
) -> _PrefixClock:
    """The prefix's times; a prefix longer than ``limit`` (maxRouteSeconds) leaves later when
    that shortens it without ending later or missing a window (as ``schedule.py`` does)."""
    first = _PrefixClock(start, breaks)
    for leg in legs:
        first.visit(*leg)
    need = first.clock - start - (limit if limit is not None else math.inf)
    if need <= 0:
        return first
    later = _PrefixClock(start + need, breaks)
    for leg in legs:
        later.visit(*leg)
    keeps_promises = all(b or not a for a, b in zip(later.late, first.late, strict=True))
    return later if later.clock <= first.clock and keeps_promises else first


def _service_start(windows: tuple[Window, ...], ready: float) -> float:
    """Service starts at the first window not yet ended (at once without windows, or late)."""
    w = window_for(windows, math.ceil(ready)) if windows and windows[0][0] < NEVER else None
    return max(ready, float(w[0])) if w is not None else ready


def prepare(problem: Problem, time_limit: float | None) -> tuple[Instance, Replan | None]:
    """The instance to search: ``problem``'s, or with re-planning fields the reduced one."""
    if not needed(problem):
        return from_problem(problem, time_limit), None
    rp = split(problem)
    inst = from_problem(rp.reduced, time_limit)
    if problem.options.keep_previous_couriers and problem.previous_plan is not None:
        inst = dataclasses.replace(inst, pinned=rp.pins(inst))
    return inst, rp


def _shift_until(c: Courier, end: int, zero: datetime | None) -> Shift:
    """The courier's shift ending no later than ``end`` (seconds from time zero)."""
    end = min(end, times.MAX_SECONDS)
    if c.shift is None:
        return Shift(start=0, end=end)
    return Shift(start=c.shift.start, end=min(times.to_seconds(c.shift.end, zero), end))


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
