"""Repair of dropped stops, applied to the plan the portfolio returns.

A plan straight from a construction (or a search cut short) can leave a stop unassigned that a
courier still has room for, or drop a stop while serving a lower-priority one whose place it
could take. Either change lowers the objective (a drop costs more than any routing), so: for
each dropped stop, highest priority first, insert it where it is cheapest into a route with
room; failing that, let it replace the lowest-priority served stop it fits in place of (that
stop is then dropped and tried in turn). With windows, shifts or route limits, only changes that
keep the route's schedule feasible are made (cheapest first, a bounded number of tries).
"""

from __future__ import annotations

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.schedule import schedule

TIMED_TRIES = 64  # insertions tried per dropped stop when times constrain the routes


def _insert_cost(inst: Instance, vehicle: int, route: list[int], stop: int) -> tuple[int, int]:
    """(extra metres, position) of the cheapest insertion of ``stop`` into ``route``."""
    d = inst.distance
    path = [inst.start(vehicle), *route, inst.end]
    best = (1 << 62, 0)
    for pos in range(len(path) - 1):
        a, b = path[pos], path[pos + 1]
        extra = int(d[a, stop]) + int(d[stop, b]) - int(d[a, b])
        if extra < best[0]:
            best = (extra, pos)
    return best


def _insertions(inst: Instance, vehicle: int, route: list[int], stop: int) -> list[tuple[int, int]]:
    """(extra metres, position) of every insertion of ``stop`` into ``route``, cheapest first."""
    d = inst.distance
    path = [inst.start(vehicle), *route, inst.end]
    return sorted(
        (int(d[path[p], stop]) + int(d[stop, path[p + 1]]) - int(d[path[p], path[p + 1]]), p)
        for p in range(len(path) - 1)
    )


def _timed_insert(inst: Instance, routes: Routes, fits: list[int], stop: int) -> bool:
    """Insert ``stop`` where it is cheapest and the schedule stays feasible; False if nowhere."""
    options = sorted(
        (extra, pos, v) for v in fits for extra, pos in _insertions(inst, v, routes[v], stop)
    )
    for _, pos, v in options[:TIMED_TRIES]:
        candidate = [*routes[v][:pos], stop, *routes[v][pos:]]
        if schedule(inst, v, candidate).feasible:
            routes[v] = candidate
            return True
    return False


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
    timed = inst.timed
    routes = [list(r) for r in routes]
    n = inst.n_stops
    demand, priority = inst.demand, inst.priority
    load = [sum(int(demand[s]) for s in r) for r in routes]
    served = {s for r in routes for s in r}
    todo = sorted((s for s in range(n) if s not in served), key=lambda s: -int(priority[s]))
    while todo:
        s = todo.pop(0)
        need = int(demand[s])
        fits = [v for v in range(inst.n_vehicles) if inst.capacity[v] - load[v] >= need]
        if timed:
            if fits and _timed_insert(inst, routes, fits, s):
                load[next(v for v in fits if s in routes[v])] += need
            continue  # swaps could break a schedule; the engines weigh priorities already
        if fits:
            options = [(*_insert_cost(inst, v, routes[v], s), v) for v in fits]
            _, pos, v = min(options)
            routes[v].insert(pos, s)
            load[v] += need
            continue
        swap: tuple[int, int, int] | None = None  # (priority, vehicle, position)
        for v, r in enumerate(routes):
            room = inst.capacity[v] - load[v]
            for pos, t in enumerate(r):
                lower = priority[t] < priority[s] and room + int(demand[t]) >= need
                if lower and (swap is None or int(priority[t]) < swap[0]):
                    swap = (int(priority[t]), v, pos)
        if swap is None:
            continue
        _, v, pos = swap
        t = routes[v][pos]
        routes[v][pos] = s
        load[v] += need - int(demand[t])
        todo.append(t)
        todo.sort(key=lambda x: -int(priority[x]))
    return routes
