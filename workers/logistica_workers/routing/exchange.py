"""Drop exchanges: a post-pass that trades served stops for dropped ones.

When capacity is short, which stops are dropped matters more than how the routes run (a drop
costs more than any routing). A search that fills every route to the brim can still drop two
demand-1 stops where dropping one demand-2 stop of the same priority would do; no single move
of OR-Tools' searches (one stop in or out at a time) gets there, as every route is full. This
pass takes one served stop out of a route (or none) and puts one or two dropped stops in,
where they fit, whenever that lowers the full objective: a larger served priority weight, or
the same weight for less distance and arrival time.

Every move is priced exactly with per-route prefix sums (the arrival term of the stops after
an insertion grows by its detour time) and applied only if it lowers the full objective.
Only for plans without times (no windows, shifts, route limits or breaks): there a route's
arrival times are the sums of its travel times. Pinned stops and unreachable arcs are kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import ARRIVAL_WEIGHT_M_PER_S, Instance, IntArray

PAIR_FIRSTS = 4  # for two stops in: the cheapest this many single insertions are extended
EPSILON = 1e-6  # metre-equivalents: a move must gain more than this


def applies(inst: Instance) -> bool:
    """Whether the pass can price this instance's routes (no times, our model)."""
    return inst.kind == "logistics" and not inst.timed and inst.n_stops > 0


class Route:
    """One route's path and prefix sums: where a stop goes in and what it costs."""

    def __init__(self, inst: Instance, vehicle: int, stops: list[int]) -> None:
        self.inst, self.vehicle, self.stops = inst, vehicle, stops
        path = np.array([inst.start(vehicle), *stops, inst.end], dtype=np.int64)
        self.prev, self.next = path[:-1], path[1:]  # arc i: prev[i] -> next[i]
        arc_t = inst.travel_time[self.prev, self.next]
        # service start at prev[i]: 0 at the courier's start, then the sums of travel times
        self.begin_prev = np.concatenate(([0], np.cumsum(arc_t)[:-1]))
        prio = inst.priority[np.array(stops, dtype=np.int64)] if stops else np.zeros(0, np.int64)
        # priority of the stops after arc i (they are delayed by an insertion on it)
        self.after = np.concatenate((np.cumsum(prio[::-1])[::-1], [0]))
        self.arc_d = inst.distance[self.prev, self.next]
        self.arc_t = arc_t

    def insertion(self, stops: IntArray) -> tuple[np.ndarray, np.ndarray]:
        """Per stop in ``stops``: (cost of its cheapest insertion, arc index), in
        metre-equivalents; inf where no arc is open."""
        inst, s = self.inst, stops[:, None]
        d, t = inst.distance, inst.travel_time
        extra_d = d[self.prev, s] + d[s, self.next] - self.arc_d
        extra_t = t[self.prev, s] + t[s, self.next] - self.arc_t
        own = inst.priority[s] * (self.begin_prev + t[self.prev, s])
        cost = extra_d + ARRIVAL_WEIGHT_M_PER_S * (own + extra_t * self.after) / 100
        cost = cost.astype(np.float64)
        if inst.blocked is not None:
            closed = inst.blocked[self.prev, s] | inst.blocked[s, self.next]
            cost[closed] = np.inf
        where = cost.argmin(axis=1)
        return cost[np.arange(len(stops)), where], where

    def removal(self, pos: int) -> float:
        """Change of cost when the stop at ``pos`` leaves (negative: a saving); inf if the
        arc that closes the gap is unreachable."""
        inst = self.inst
        a, t, b = int(self.prev[pos]), self.stops[pos], int(self.next[pos + 1])
        if not inst.arc_open(a, b):
            return float("inf")
        d, tt = inst.distance, inst.travel_time
        less_d = int(d[a, b]) - int(d[a, t]) - int(d[t, b])
        less_t = int(tt[a, b]) - int(tt[a, t]) - int(tt[t, b])
        own = int(inst.priority[t]) * int(self.begin_prev[pos + 1])
        arrival = -own + less_t * int(self.after[pos + 1])
        return less_d + ARRIVAL_WEIGHT_M_PER_S * arrival / 100

    def with_stop(self, stop: int, arc: int) -> Route:
        return Route(self.inst, self.vehicle, [*self.stops[:arc], stop, *self.stops[arc:]])

    def without(self, pos: int) -> Route:
        return Route(self.inst, self.vehicle, self.stops[:pos] + self.stops[pos + 1 :])


def route_cost(inst: Instance, vehicle: int, stops: list[int]) -> float:
    """Distance plus the arrival term of one route (untimed), metre-equivalents."""
    r = Route(inst, vehicle, stops)
    if not stops:
        return 0.0
    begins = r.begin_prev[1:]
    prio = inst.priority[np.array(stops, dtype=np.int64)]
    return float(r.arc_d.sum()) + ARRIVAL_WEIGHT_M_PER_S * float((prio * begins).sum()) / 100


Move = tuple[float, list[int]]  # (change of the full objective, the route's new stops)


def _bases(
    inst: Instance, route: Route, room: int, most: float
) -> Iterator[tuple[Route, int, float]]:
    """The route with nothing or one stop taken out: (what is left, its room, the change of
    the full objective so far: the saving in routing plus the stop's drop penalty). A stop
    worth more than ``most`` is kept (no dropped stops make up for it)."""
    yield route, room, 0.0
    penalty = inst.drop_penalty()
    for pos, t in enumerate(route.stops):
        if float(penalty[t]) > most:
            continue
        out = route.removal(pos)
        if out != float("inf"):
            yield route.without(pos), room + int(inst.demand[t]), out + float(penalty[t])


def _best_insertions(
    inst: Instance, base: Route, left: int, change: float, fits: IntArray
) -> Move | None:
    """Into ``base`` (``left`` room, ``change`` so far): the best one or two of ``fits``,
    if that lowers the full objective."""
    demand, penalty = inst.demand, inst.drop_penalty()
    best: Move | None = None
    cost, arcs = base.insertion(fits)
    gains = change + cost - penalty[fits]
    k = int(gains.argmin())
    if gains[k] < -EPSILON:
        best = (float(gains[k]), base.with_stop(int(fits[k]), int(arcs[k])).stops)
    for k in np.argsort(cost, kind="stable")[:PAIR_FIRSTS]:
        first = int(fits[k])
        if cost[k] == np.inf:
            break
        rest = fits[(fits != first) & (demand[fits] <= left - int(demand[first]))]
        if not len(rest):
            continue
        grown = base.with_stop(first, int(arcs[k]))
        cost2, arcs2 = grown.insertion(rest)
        gains2 = change + cost[k] + cost2 - float(penalty[first]) - penalty[rest]
        j = int(gains2.argmin())
        if gains2[j] < -EPSILON and (best is None or gains2[j] < best[0]):
            best = (float(gains2[j]), grown.with_stop(int(rest[j]), int(arcs2[j])).stops)
    return best


def _best_move(inst: Instance, route: Route, room: int, dropped: list[int]) -> Move | None:
    """The best exchange on one route: take out one of its stops (or none), put in one or two
    dropped stops that fit; None if none lowers the full objective."""
    v = route.vehicle
    pool = np.array([s for s in dropped if inst.allows(v, s)], dtype=np.int64)
    if not len(pool):
        return None
    best: Move | None = None
    most = 2.0 * float(inst.drop_penalty()[pool].max())
    for base, left, change in _bases(inst, route, room, most):
        fits = pool[inst.demand[pool] <= left]
        move = _best_insertions(inst, base, left, change, fits) if len(fits) else None
        if move is not None and (best is None or move[0] < best[0]):
            best = move
    return best


def exchange_drops(inst: Instance, routes: Routes, seconds: float = 0.2) -> Routes:
    """``routes`` with served and dropped stops exchanged while that lowers the full objective:
    each round applies the best move over all routes, until none gains or ``seconds`` are up."""
    if not applies(inst):
        return routes
    deadline = time.monotonic() + seconds
    routes = [list(r) for r in routes]
    served = {s for r in routes for s in r}
    dropped = [s for s in range(inst.n_stops) if s not in served]
    penalty = inst.drop_penalty()
    tried: set[tuple[int, ...]] = set()  # moves the exact cost rejected
    while dropped and time.monotonic() < deadline:
        moves = []
        for v in range(inst.n_vehicles):
            if time.monotonic() >= deadline:
                return routes
            room = inst.capacity[v] - sum(int(inst.demand[s]) for s in routes[v])
            move = _best_move(inst, Route(inst, v, routes[v]), room, dropped)
            if move is not None and (v, *move[1]) not in tried:
                moves.append((move[0], v, move[1]))
        if not moves:
            break
        _, v, new = min(moves)
        gone, came = set(routes[v]) - set(new), set(new) - set(routes[v])
        before = route_cost(inst, v, routes[v]) + sum(float(penalty[s]) for s in came)
        after = route_cost(inst, v, new) + sum(float(penalty[s]) for s in gone)
        if after >= before - EPSILON:  # the prefix sums disagree with the exact cost
            tried.add((v, *new))
            continue
        routes[v] = new
        dropped = sorted((set(dropped) - came) | gone)
    return routes
