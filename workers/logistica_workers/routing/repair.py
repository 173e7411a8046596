"""Repair of dropped stops, applied to the plan the portfolio returns.

A plan straight from a construction (or a search cut short) can leave a stop unassigned that a
courier still has room for, or drop a stop while serving a lower-priority one whose place it
could take. Either change lowers the objective (a drop costs more than any routing), so: for
each dropped stop, highest priority first, insert it where it is cheapest into a route with
room; failing that, let it replace the lowest-priority served stop it fits in place of (that
stop is then dropped and tried in turn). With windows, shifts or route limits, only changes that
keep the route's schedule feasible are made (insertions cheapest first, swaps lowest priority
first, a bounded number of tries each).
"""

from __future__ import annotations

import numpy as np

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import Instance, IntArray
from logistica_workers.routing.schedule import schedule

TIMED_TRIES = 64  # insertions tried per dropped stop when times constrain the routes

NO_PLACE = 1 << 62  # no insertion position: every one needs an unreachable arc


def _insert_cost(inst: Instance, vehicle: int, route: list[int], stop: int) -> tuple[int, int]:
    """(extra metres, position) of the cheapest insertion of ``stop`` into ``route``."""
    d = inst.distance
    path = [inst.start(vehicle), *route, inst.end]
    best = (NO_PLACE, 0)
    for pos in range(len(path) - 1):
        a, b = path[pos], path[pos + 1]
        if not (inst.arc_open(a, stop) and inst.arc_open(stop, b)):
            continue
        extra = int(d[a, stop]) + int(d[stop, b]) - int(d[a, b])
        if extra < best[0]:
            best = (extra, pos)
    return best


class _TimedInserter:
    """Cheapest feasible insertions into timed routes: every (route, position) priced at once
    with numpy, then the cheapest ``TIMED_TRIES`` checked against the timing rule."""

    def __init__(self, inst: Instance, routes: Routes) -> None:
        self.inst, self.routes = inst, routes
        self.arcs: dict[int, tuple[IntArray, IntArray]] = {}
        # no courier can start service at a stop before this (hard windows: hopeless after)
        starts = [inst.start(v) for v in range(inst.n_vehicles)]
        shift_start = np.array([inst.shift(v)[0] for v in range(inst.n_vehicles)])
        self.earliest = (shift_start[:, None] + inst.travel_time[starts, : inst.n_stops]).min(0)

    def _arcs(self, v: int) -> tuple[IntArray, IntArray]:
        if v not in self.arcs:
            path = np.array([self.inst.start(v), *self.routes[v], self.inst.end], dtype=np.int64)
            self.arcs[v] = (path[:-1], path[1:])
        return self.arcs[v]

    def hopeless(self, stop: int) -> bool:
        windows = self.inst.windows_of(stop)
        return (
            bool(windows)
            and not self.inst.soft_windows
            and (int(self.earliest[stop]) > windows[-1][1])
        )

    def insert(self, fits: list[int], stop: int) -> int | None:
        """The vehicle ``stop`` went into, or None if no checked insertion is feasible."""
        if self.hopeless(stop):
            return None
        d = self.inst.distance
        parts = [self._arcs(v) for v in fits]
        prev = np.concatenate([a for a, _ in parts])
        nxt = np.concatenate([b for _, b in parts])
        owner = np.concatenate([np.full(len(a), v) for v, (a, _) in zip(fits, parts, strict=True)])
        where = np.concatenate([np.arange(len(a)) for a, _ in parts])
        extra = d[prev, stop] + d[stop, nxt] - d[prev, nxt]
        closed = np.zeros(len(extra), dtype=bool)
        if self.inst.blocked is not None:  # never across an unreachable arc
            closed = self.inst.blocked[prev, stop] | self.inst.blocked[stop, nxt]
            extra = np.where(closed, NO_PLACE, extra)
        k = min(TIMED_TRIES, len(extra))
        best = np.argpartition(extra, k - 1)[:k]
        for i in best[np.argsort(extra[best], kind="stable")]:
            if closed[i]:
                break  # sorted: the rest are closed too
            v, pos = int(owner[i]), int(where[i])
            candidate = [*self.routes[v][:pos], stop, *self.routes[v][pos:]]
            if schedule(self.inst, v, candidate).feasible:
                self.routes[v] = candidate
                self.arcs.pop(v, None)
                return v
        return None


def make_feasible(inst: Instance, routes: Routes) -> Routes:
    """Drop stops from routes whose schedule is infeasible (e.g. a plan made without the
    couriers' breaks) until each is feasible: the lowest-priority stop whose removal makes the
    route feasible, else the one whose removal ends the route earliest."""
    out = []
    for v, route in enumerate(routes):
        route = list(route)
        while route and not schedule(inst, v, route).feasible:
            options = []
            for pos, s in enumerate(route):
                times = schedule(inst, v, route[:pos] + route[pos + 1 :])
                options.append((not times.feasible, int(inst.priority[s]), times.end, pos))
            route.pop(min(options)[3])
        out.append(route)
    return out


def repair_drops(inst: Instance, routes: Routes) -> Routes:
    if inst.kind != "logistics":
        return routes
    routes = [list(r) for r in routes]
    inserter = _TimedInserter(inst, routes) if inst.timed else None
    n = inst.n_stops
    demand, priority = inst.demand, inst.priority
    load = [sum(int(demand[s]) for s in r) for r in routes]
    served = {s for r in routes for s in r}
    todo = sorted((s for s in range(n) if s not in served), key=lambda s: -int(priority[s]))
    while todo:
        s = todo.pop(0)
        need = int(demand[s])
        fits = [
            v
            for v in range(inst.n_vehicles)
            if inst.capacity[v] - load[v] >= need and inst.allows(v, s)
        ]
        if inserter is not None:
            went = inserter.insert(fits, s) if fits else None
            if went is not None:
                load[went] += need
                continue
        else:
            options = [(*_insert_cost(inst, v, routes[v], s), v) for v in fits]
            options = [o for o in options if o[0] < NO_PLACE]
            if options:
                _, pos, v = min(options)
                routes[v].insert(pos, s)
                load[v] += need
                continue
        swap = _swap(inst, routes, load, s)
        if swap is None:
            continue
        v, pos = swap
        t = routes[v][pos]
        routes[v][pos] = s
        load[v] += need - int(demand[t])
        if inserter is not None:
            inserter.arcs.pop(v, None)
        todo.append(t)
        todo.sort(key=lambda x: -int(priority[x]))
    return routes


def _swap(inst: Instance, routes: Routes, load: list[int], s: int) -> tuple[int, int] | None:
    """(vehicle, position) of the lowest-priority served stop that ``s`` can replace: room
    for it, reachable arcs, and (with times) a feasible schedule, checking at most
    ``TIMED_TRIES`` candidates, lowest priority first."""
    demand, priority = inst.demand, inst.priority
    need = int(demand[s])
    candidates = []
    for v, r in enumerate(routes):
        room = inst.capacity[v] - load[v]
        if not inst.allows(v, s):
            continue
        for pos, t in enumerate(r):
            if not (priority[t] < priority[s] and room + int(demand[t]) >= need):
                continue
            if inst.blocked is not None:
                path = [inst.start(v), *r, inst.end]
                if not (inst.arc_open(path[pos], s) and inst.arc_open(s, path[pos + 2])):
                    continue
            candidates.append((int(priority[t]), v, pos))
    candidates.sort()
    if not inst.timed:
        return (candidates[0][1], candidates[0][2]) if candidates else None
    for _, v, pos in candidates[:TIMED_TRIES]:
        if schedule(inst, v, [*routes[v][:pos], s, *routes[v][pos + 1 :]]).feasible:
            return v, pos
    return None
