"""Reassignment when capacity is short: which stops to serve, and on which courier, as small
integer programs over neighbourhoods of routes.

When the fleet cannot carry every stop, the dropped priority weight dominates the objective,
and getting it down is a packing problem across routes: serving a dropped demand-1 stop may
need a demand-2 stop of lower weight out of a full route two routes away and a stop moved
from route to route in between. Local moves (``exchange.py``: one route at a time) do not find
such chains once every route is full, nor does PyVRP's search.

This pass takes a dropped stop, the ~``REGION_ROUTES`` routes around it, and writes their
packing as an integer program: each of their stops keeps its route, moves to one of the routes
of its nearest stops, or is dropped if it has no more weight per unit of demand than some
dropped stop (a restriction, see ``_droppable``); each dropped stop near them may go into those
of them cheapest for it (all, while they are few); every route keeps within its capacity. OR-Tools' CP-SAT (through ``pywraplp``: ``cp_model``
would import pandas, +40 MB) maximises the served priority weight and, at that weight, minimises the estimated routing cost
(a stop's cost where it is, its cheapest insertion elsewhere), both in one objective. A region that
serves more weight is rebuilt (kept stops in order, new ones at their cheapest place, then
each changed route reordered by ``polish.polish_route``); the next dropped stop's region
follows, with regions of 8, then 16, 24 and 32 routes (plus the couriers without stops nearest
the dropped stop: a served stop may move there to make room). A region whose stops would not serve
more even as one knapsack of its total capacity is skipped without a solve. Regions grow
along near routes, so a fleet of at most ``WHOLE_FLEET_ROUTES`` couriers gets a last program
over all its routes in which a dropped stop may join any route, not only near ones (the room a
stop dropped in one part of the city frees may be the only room for a dropped stop in another). The pass
ends at the knapsack bound of the whole fleet, at the deadline or on a stop request; the plan
is returned only if its full objective is lower.

Only for plans without times and with every arc open (``applies``); pinned stops stay with
their courier.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from logistica_workers.routing.evaluate import Routes, score
from logistica_workers.routing.exchange import Route
from logistica_workers.routing.instance import BoolArray, Instance, IntArray
from logistica_workers.routing.polish import RouteCost, nearest, polish_route, untimed

if TYPE_CHECKING:
    from ortools.linear_solver import pywraplp

NEAR_STOPS = 30  # a served stop may move to the routes of its nearest stops ...
NEAR_ROUTES = 6  # ... at most this many routes besides its own
# a dropped stop may go into the region's routes cheapest for it: all of them while the dropped
# stops have at most DROPPED_PLACEMENTS places together, else as many as fit, at least 8
DROPPED_PLACEMENTS = 4_000
DROPPED_ROUTES = 8
EMPTY_ROUTES = 2  # each region also holds the couriers without stops nearest its dropped stop
REGION_ROUTES = (8, 16, 24, 32)  # routes in one integer program, pass after pass
REGION_SECONDS = 0.5  # at most this long for one region's solve (its build comes on top)
WHOLE_FLEET_ROUTES = 40  # up to this many couriers, a last program over the whole fleet
COST_STEPS = 10_000  # the largest routing cost of a placement, in the program's integer units
BUILD_SECONDS_PER_VARIABLE = 20e-6  # measured ~15 us: a program that cannot be built in time is not
KNAPSACK_CAPACITY = 100_000  # exact knapsack tables up to this capacity, else the fractional bound
KNAPSACK_CELLS = 20_000_000  # ... and up to this many item x capacity steps


def applies(inst: Instance) -> bool:
    """Whether the pass can price this instance's routes: our model, no times and every arc
    open (``polish.untimed``: it reorders the routes it changes)."""
    return untimed(inst) and inst.n_stops > 1


class _Plan:
    """The plan being improved: routes, where each stop is, each stop's nearest stops."""

    def __init__(self, inst: Instance, routes: Routes, near: IntArray) -> None:
        self.inst, self.near = inst, near
        self.routes = [list(r) for r in routes]
        self.where = np.full(inst.n_stops, -1, dtype=np.int64)  # vehicle, -1 = dropped
        for v, r in enumerate(self.routes):
            self.where[r] = v
        self.weight = (1 + inst.priority[: inst.n_stops]).astype(np.int64)
        self.demand = inst.demand[: inst.n_stops].astype(np.int64)
        self._near_routes: dict[int, list[int]] = {}  # cleared when a route changes

    def near_routes(self, s: int) -> list[int]:
        """Up to ``NEAR_ROUTES`` routes (other than its own) of ``s``'s nearest stops, nearest
        first, that ``s`` may join."""
        if s in self._near_routes:
            return self._near_routes[s]
        own, out = int(self.where[s]), []
        for t in self.near[s].tolist():
            v = int(self.where[t])
            if v >= 0 and v != own and v not in out and self.inst.allows(v, s):
                out.append(v)
                if len(out) == NEAR_ROUTES:
                    break
        self._near_routes[s] = out
        return out

    def region(self, seed: int, size: int) -> list[int]:
        """The routes around dropped stop ``seed``: its near routes, then the routes most
        often near their stops, up to ``size``."""
        region = list(self.near_routes(seed))  # a copy: the cached list stays as it is
        frontier = list(region)
        while frontier and len(region) < size:
            counts: dict[int, int] = {}
            for v in frontier:
                for s in self.routes[v]:
                    for u in self.near_routes(s):
                        if u not in region:
                            counts[u] = counts.get(u, 0) + 1
            frontier = sorted(counts, key=lambda u: -counts[u])[: size - len(region)]
            region += frontier
        return region + self.nearest_empty(seed)

    def nearest_empty(self, s: int) -> list[int]:
        """Up to ``EMPTY_ROUTES`` couriers without stops that ``s`` may join, those whose start
        is nearest it first (a served stop may move there to make room)."""
        empty = [v for v, r in enumerate(self.routes) if not r and self.inst.allows(v, s)]
        if not empty:
            return []
        start = self.inst.distance[[self.inst.start(v) for v in empty], s]
        return [empty[i] for i in np.argsort(start, kind="stable")[:EMPTY_ROUTES].tolist()]

    def served_weight(self) -> int:
        return int(self.weight[self.where >= 0].sum())

    def members(self, region: list[int], whole: bool = False) -> list[int]:
        """The stops a region's program may place: its routes' stops and the dropped stops
        with one of its routes near them (``whole``: every dropped stop)."""
        inside = set(region)
        out = [s for v in region for s in self.routes[v]]
        if whole:
            return out + np.flatnonzero(self.where < 0).tolist()
        near = np.unique(self.near[out].ravel()) if out else np.zeros(0, dtype=np.int64)
        for t in near[self.where[near] < 0].tolist():
            if inside.intersection(self.near_routes(t)):
                out.append(t)
        return out

    def set_routes(self, routes: dict[int, list[int]]) -> None:
        for v in routes:
            self.where[self.routes[v]] = -1
        for v, stops in routes.items():
            self.routes[v] = stops
            self.where[stops] = v
        self._near_routes.clear()


def _placements(plan: _Plan, region: list[int], members: list[int]) -> dict[int, dict[int, float]]:
    """Per stop of ``members``: the region's routes it may take and the estimated routing cost
    of it there (its saving when taken out of its own route, its cheapest insertion elsewhere).
    A served stop may take its own route, those of its nearest stops and the region's empty
    ones; a dropped stop the region's routes cheapest for it (``DROPPED_PLACEMENTS``)."""
    inst, inside = plan.inst, set(region)
    out: dict[int, dict[int, float]] = {}
    for v in region:
        route = Route(inst, v, plan.routes[v])
        for pos, s in enumerate(plan.routes[v]):
            out[s] = {v: -route.removal(pos)}
    empty = [v for v in region if not plan.routes[v]]
    wanted: dict[int, list[int]] = {v: [] for v in region}
    for s in members:
        if plan.where[s] < 0:
            targets = region
        else:
            targets = [u for u in plan.near_routes(s) if u in inside] + empty
        for u in targets:
            if inst.allows(u, s):
                wanted[u].append(s)
    for v, stops in wanted.items():
        if stops:
            cost, _ = Route(inst, v, plan.routes[v]).insertion(np.array(stops, dtype=np.int64))
            for s, c in zip(stops, cost.tolist(), strict=True):
                out.setdefault(s, {})[v] = c
    dropped = [s for s in members if plan.where[s] < 0]
    most = max(DROPPED_ROUTES, DROPPED_PLACEMENTS // max(1, len(dropped)))
    for s in dropped:
        if len(out.get(s, {})) > most:
            cheapest = sorted(out[s], key=out[s].__getitem__)[:most]
            out[s] = {v: out[s][v] for v in cheapest}
    return out


def _solve_region(
    plan: _Plan, region: list[int], deadline: float, whole: bool = False
) -> dict[int, int] | None:
    """The region's better packing (stop -> route; movable stops missing are dropped), or
    None if it cannot serve more weight (or its program would not fit the time left)."""
    from ortools.linear_solver import pywraplp

    inst = plan.inst
    members = plan.members(region, whole)
    dropped = [s for s in members if plan.where[s] < 0]
    if not dropped:
        return None
    now = sum(int(plan.weight[s]) for s in members if plan.where[s] >= 0)
    capacity = sum(inst.capacity[v] for v in region)
    if knapsack(plan.demand[members], plan.weight[members], capacity) <= now:
        return None  # not even one knapsack of the region's capacity holds more weight
    places = _placements(plan, region, members)
    size = sum(len(p) for p in places.values())
    if time.monotonic() + size * BUILD_SECONDS_PER_VARIABLE >= deadline:
        return None
    droppable = _droppable(plan, dropped, whole)
    solver = pywraplp.Solver.CreateSolver("SAT")  # CP-SAT
    if solver is None:
        return None
    solver.SetSolverSpecificParametersAsString("num_workers:1")
    x: dict[tuple[int, int], pywraplp.Variable] = {}
    terms: dict[int, list[tuple[int, pywraplp.Variable]]] = {v: [] for v in region}
    for s, where in places.items():
        row = []
        for v in where:
            x[s, v] = var = solver.BoolVar("")
            row.append(var)
            terms[v].append((int(plan.demand[s]), var))
        if plan.where[s] >= 0 and not droppable[s]:
            solver.Add(solver.Sum(row) == 1)
        else:
            solver.Add(solver.Sum(row) <= 1)
    for v in region:
        solver.Add(solver.Sum([d * var for d, var in terms[v]]) <= inst.capacity[v])
    variables = list(x.values())
    solver.SetHint(variables, [1.0 if plan.where[s] == v else 0.0 for (s, v) in x])
    # lexicographic in one objective: served weight first, then the estimated routing cost,
    # in units that keep every coefficient small; a stop takes one place or none, so the costs
    # of two plans differ by less than ``scale``: one unit of weight outweighs any routing
    unit = max(1.0, max(abs(c) for p in places.values() for c in p.values()) / COST_STEPS)
    cost = {key: round(places[key[0]][key[1]] / unit) for key in x}
    scale = 1 + sum(
        max(0, *(cost[s, v] for v in where)) - min(0, *(cost[s, v] for v in where))
        for s, where in places.items()
    )
    solver.Maximize(
        solver.Sum([(int(plan.weight[s]) * scale - cost[s, v]) * var for (s, v), var in x.items()])
    )
    solver.SetTimeLimit(_millis(deadline))
    if solver.Solve() not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None
    chosen = {s: v for ((s, v), var) in x.items() if var.solution_value() > 0.5}
    if sum(int(plan.weight[s]) for s in chosen) <= now:
        return None
    return chosen


def _droppable(plan: _Plan, dropped: list[int], whole: bool) -> BoolArray:
    """Per stop: whether a program may drop it if served. In a region, a stop with no more
    weight per unit of demand than some dropped stop (a restriction of the search that makes
    the programs 2-3x faster: measured 0.6 s against 1.9 s at 1,000 stops; rarely, a denser
    stop's room would complete another's); over the whole fleet, any stop worth no more than
    all the dropped stops together (the most its room could take in)."""
    if whole:
        return plan.weight <= int(plan.weight[dropped].sum())
    ratio = max(float(plan.weight[s]) / max(int(plan.demand[s]), 1) for s in dropped)
    return plan.weight <= ratio * plan.demand


def knapsack(demand: IntArray, weight: IntArray, capacity: int) -> int:
    """The most weight of items of ``demand`` that fit ``capacity``: the 0/1 knapsack's
    optimum where its table is small, else the fractional (greedy) bound, rounded down."""
    items = len(demand)
    if capacity <= KNAPSACK_CAPACITY and items * (capacity + 1) <= KNAPSACK_CELLS:
        best = np.zeros(capacity + 1, dtype=np.int64)  # best[c]: most weight within load c
        for d, w in zip(demand.tolist(), weight.tolist(), strict=True):
            if 0 < d <= capacity:
                np.maximum(best[d:], best[: capacity + 1 - d] + w, out=best[d:])
            elif d <= 0:
                best += w
        return int(best[capacity])
    total, room = 0.0, float(capacity)
    order = np.argsort(-weight / np.maximum(demand, 1e-9), kind="stable")
    for d, w in zip(demand[order].tolist(), weight[order].tolist(), strict=True):
        if d <= room:
            total, room = total + w, room - d
        else:
            total += w * room / d
            break
    return int(total + 1e-9)


def _millis(deadline: float) -> int:
    return max(1, int(1000 * min(REGION_SECONDS, deadline - time.monotonic())))


def _apply(plan: _Plan, region: list[int], chosen: dict[int, int], deadline: float) -> None:
    """Rebuild the region's routes with ``chosen`` (stop -> route): stops that stay keep their
    order, new ones go in at their cheapest place, changed routes are reordered."""
    inst = plan.inst
    cost = RouteCost(inst)
    routes: dict[int, list[int]] = {}
    for v in region:
        kept = [s for s in plan.routes[v] if chosen.get(s) == v]
        route = Route(inst, v, kept)
        for s in (s for s, u in chosen.items() if u == v and s not in kept):
            _, arc = route.insertion(np.array([s], dtype=np.int64))
            route = route.with_stop(s, int(arc[0]))
        routes[v] = polish_route(cost, v, route.stops, deadline)[0]
    plan.set_routes(routes)


def _grow_regions(plan: _Plan, most: int, deadline: float, stop: Callable[[], bool]) -> None:
    """Region after region around the dropped stops, ever larger, until the plan serves
    ``most`` (the bound), every region has been tried, the deadline or ``stop()``."""
    tried: set[frozenset[int]] = set()
    # the dropped stops worth most per unit of demand first: the ones a region should take in
    seeds = sorted(
        np.flatnonzero(plan.where < 0).tolist(),
        key=lambda s: -float(plan.weight[s]) / max(int(plan.demand[s]), 1),
    )
    for size in REGION_ROUTES:
        for seed in seeds:
            if time.monotonic() >= deadline or plan.served_weight() == most or stop():
                return
            if plan.where[seed] >= 0:
                continue
            region = plan.region(seed, size)
            key = frozenset(region)
            if not region or key in tried:
                continue
            tried.add(key)
            chosen = _solve_region(plan, region, deadline)
            if chosen is not None:
                _apply(plan, region, chosen, deadline)


def reassign(
    inst: Instance, routes: Routes, seconds: float, stop: Callable[[], bool] = lambda: False
) -> Routes:
    """``routes`` with stops reassigned region by region (see the module docstring) if that
    lowers the full objective within ``seconds`` (or until ``stop()``, asked between regions);
    else ``routes`` unchanged."""
    if not applies(inst) or seconds <= 0:
        return routes
    deadline = time.monotonic() + seconds
    near = nearest(inst, NEAR_STOPS)
    if near is None:
        return routes
    plan = _Plan(inst, routes, near)
    before = plan.served_weight()
    total = sum(inst.capacity)
    most = knapsack(plan.demand, plan.weight, total)  # no plan serves more weight
    _grow_regions(plan, most, deadline, stop)
    # a small fleet last as one region where a dropped stop may join any route: regions grow along near routes, and a stop in one neighbourhood of
    # the city may need the room only a stop dropped in another frees
    fleet = list(range(inst.n_vehicles))
    if (
        len(fleet) <= WHOLE_FLEET_ROUTES
        and plan.served_weight() != most
        and time.monotonic() < deadline
        and not stop()
    ):
        chosen = _solve_region(plan, fleet, deadline, whole=True)
        if chosen is not None:
            _apply(plan, fleet, chosen, deadline)
    if plan.served_weight() <= before:
        return routes
    # more weight served outweighs any routing: a last check of that on the scored objective
    return plan.routes if score(inst, plan.routes).cost < score(inst, routes).cost else routes
