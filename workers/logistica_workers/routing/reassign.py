"""Reassignment when capacity is short: which stops to serve, and on which courier, as small
integer programs over neighbourhoods of routes.

When the fleet cannot carry every stop, the dropped priority weight dominates the objective,
and getting it down is a packing problem across routes: serving a dropped demand-1 stop may
need a demand-2 stop of lower weight out of a full route two routes away and a stop moved
from route to route in between. Local moves (``exchange.py``: one route at a time) do not find
such chains once every route is full, nor does PyVRP's search.

This pass takes a dropped stop, the ~``REGION_ROUTES`` routes around it, and writes their
packing as an integer program: each of their stops keeps its route, moves to one of the routes
of its nearest stops, or (if its weight per unit of demand is low enough ever to pay) is
dropped; each dropped stop near them may go into one of them; every route keeps within its
capacity. OR-Tools' CP-SAT (through ``pywraplp``: ``cp_model`` would import pandas, +40 MB)
maximises the served priority weight and, at that weight, minimises the estimated routing cost
(a stop's cost where it is, its cheapest insertion elsewhere), both in one objective. A region that
serves more weight is rebuilt (kept stops in order, new ones at their cheapest place, then
each changed route reordered by ``polish.polish_route``); the next dropped stop's region
follows, with regions of 8, then 16, 24 and 32 routes. A region whose stops would not serve
more even as one knapsack of its total capacity is skipped without a solve. Regions grow
along near routes, so a fleet of at most ``WHOLE_FLEET_ROUTES`` couriers gets a last program
over all its routes in which a dropped stop may join any route (the room a stop dropped in
one part of the city frees may be the only room for a dropped stop in another). The pass
ends at the knapsack bound of the whole fleet, at the deadline or on a stop request; the plan
is returned only if its full objective is lower.

Only for plans without times (as ``exchange.py``); pinned stops stay with their courier.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.exchange import Route, route_cost
from logistica_workers.routing.instance import Instance, IntArray
from logistica_workers.routing.polish import RouteCost, nearest, polish_route, untimed

if TYPE_CHECKING:
    from ortools.linear_solver import pywraplp

NEAR_STOPS = 30  # a stop may move to the routes of its nearest stops ...
NEAR_ROUTES = 6  # ... at most this many routes besides its own
REGION_ROUTES = (8, 16, 24, 32)  # routes in one integer program, pass after pass
REGION_SECONDS = 0.5  # at most this long for one region's solve
COST_STEPS = 10_000  # the largest routing cost of a placement, in the program's integer units
WHOLE_FLEET_ROUTES = 40  # up to this many couriers, a last program over the whole fleet
KNAPSACK_CELLS = 50_000_000  # the drop bound's table (stops x capacity) at most this large


def applies(inst: Instance) -> bool:
    """Whether the pass can price this instance's routes (our model, no times, every arc
    open: as ``polish``, which reorders the routes it changes)."""
    return untimed(inst) and inst.n_stops > 1


def full_cost(inst: Instance, routes: Routes) -> float:
    """The full objective of untimed routes: drop penalties, distance and arrival term."""
    served = {s for r in routes for s in r}
    penalty = inst.drop_penalty()
    dropped = sum(float(penalty[s]) for s in range(inst.n_stops) if s not in served)
    return dropped + sum(route_cost(inst, v, r) for v, r in enumerate(routes))


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
        return region

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
    """Per stop of ``members``: the region's routes it may take (a served stop: its own and
    those of its nearest stops; a dropped stop: any) and the estimated routing cost of it
    there (its saving when taken out of its own route, its cheapest insertion elsewhere)."""
    inst = plan.inst
    out: dict[int, dict[int, float]] = {}
    for v in region:
        route = Route(inst, v, plan.routes[v])
        for pos, s in enumerate(plan.routes[v]):
            saving = route.removal(pos)
            out[s] = {v: -saving} if saving != float("inf") else {v: 0.0}
    for v, stops in _wanted(plan, region, members, out).items():
        if not stops:
            continue
        cost, _ = Route(inst, v, plan.routes[v]).insertion(np.array(stops, dtype=np.int64))
        for s, c in zip(stops, cost.tolist(), strict=True):
            if c != float("inf"):
                out.setdefault(s, {})[v] = c
    return out


def _wanted(
    plan: _Plan, region: list[int], members: list[int], own: dict[int, dict[int, float]]
) -> dict[int, list[int]]:
    """Per route of the region: the members that may move into it."""
    inside = set(region)
    wanted: dict[int, list[int]] = {v: [] for v in region}
    for s in members:
        if plan.where[s] < 0:
            for u in region:
                if plan.inst.allows(u, s):
                    wanted[u].append(s)
        elif own[s][int(plan.where[s])] != 0.0:  # 0.0: its gap cannot close, it stays
            for u in plan.near_routes(s):
                if u in inside:
                    wanted[u].append(s)
    return wanted


def _solve_region(
    plan: _Plan, region: list[int], deadline: float, whole: bool = False
) -> dict[int, int] | None:
    """The region's better packing (stop -> route; movable stops missing are dropped), or
    None if it cannot serve more weight."""
    from ortools.linear_solver import pywraplp

    inst = plan.inst
    members = plan.members(region, whole)
    dropped = [s for s in members if plan.where[s] < 0]
    if not dropped:
        return None
    now = sum(int(plan.weight[s]) for s in members if plan.where[s] >= 0)
    capacity = sum(inst.capacity[v] for v in region)
    most = knapsack(plan.demand[members], plan.weight[members], capacity)
    if most is not None and most <= now:
        return None  # not even one knapsack of the region's capacity holds more weight
    ratio = max(float(plan.weight[s]) / max(int(plan.demand[s]), 1) for s in dropped)
    places = _placements(plan, region, members)
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
        served = plan.where[s] >= 0
        if served and plan.weight[s] > ratio * plan.demand[s]:
            solver.Add(solver.Sum(row) == 1)  # dropping it cannot pay
        else:
            solver.Add(solver.Sum(row) <= 1)
    for v in region:
        solver.Add(solver.Sum([d * var for d, var in terms[v]]) <= inst.capacity[v])
    variables = list(x.values())
    solver.SetHint(variables, [1.0 if plan.where[s] == v else 0.0 for (s, v) in x])
    # lexicographic in one objective: served weight first, then the estimated routing cost
    # (in units that keep every coefficient small; a stop takes one place, so the costs of two
    # plans differ by less than ``scale``: one unit of weight outweighs any routing)
    unit = max(1.0, max(abs(c) for p in places.values() for c in p.values()) / COST_STEPS)
    cost = {key: round(places[key[0]][key[1]] / unit) for key in x}
    scale = sum(max(abs(cost[s, v]) for v in where) for s, where in places.items()) + 1
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


def knapsack(demand: IntArray, weight: IntArray, capacity: int) -> int | None:
    """The most weight of items of ``demand`` that fit ``capacity`` (0/1 knapsack); None
    where the table would be too large."""
    if len(demand) * (capacity + 1) > KNAPSACK_CELLS:
        return None
    best = np.zeros(capacity + 1, dtype=np.int64)  # best[c]: most weight within load c
    for d, w in zip(demand.tolist(), weight.tolist(), strict=True):
        if 0 < d <= capacity:
            np.maximum(best[d:], best[: capacity + 1 - d] + w, out=best[d:])
        elif d <= 0:
            best += w
    return int(best[capacity])


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


def _grow_regions(plan: _Plan, most: int | None, deadline: float, stop: Callable[[], bool]) -> None:
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
    # a small fleet last as one region, every dropped stop free to join any route: regions
    # grow along near routes, and stops in one neighbourhood of the city may need the room
    # that only a stop dropped in another frees
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
    return plan.routes if full_cost(inst, plan.routes) < full_cost(inst, routes) else routes
