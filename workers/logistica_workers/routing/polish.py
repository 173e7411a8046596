"""Polish under the full objective: reorder routes and move stops between them for distance
plus the priority-weighted arrival term, which PyVRP cannot see.

PyVRP's routes are short and good for distance; the arrival term asks high-priority stops to
come early. First, for each route, a local search tries every 2-opt reversal, every move of a
segment of 1-3 stops (either way round) and every swap of two stops at once (numpy: all
candidate orders of a route as rows of one array) and takes the best improving one, until
none improves. Then single stops move to the best place on another route with room
(``Relocation``: next to one of their nearest stops), and the routes that changed are
reordered again. Every move is checked on the exact cost of the routes it touches, so the
result is never worse; loads never exceed capacity. Only untimed instances are polished (no
windows, shift, route limit or breaks, no unreachable arcs: arrival times are then the
running sum of travel times, and no order is infeasible). Everything stops at the deadline.
"""

from __future__ import annotations

import collections
import functools
import itertools
import time

import numpy as np
import numpy.typing as npt

from logistica_workers.routing.instance import ARRIVAL_WEIGHT_M_PER_S, Instance

Routes = list[list[int]]
IndexArray = npt.NDArray[np.int16]  # positions in a route (< MAX_ROUTE)
IntMatrix = npt.NDArray[np.int64]
MAX_SEGMENT = 3  # or-opt moves segments of 1..MAX_SEGMENT stops
# longer routes keep their order: a route of k stops has ~5.5 k^2 candidate orders, cached per k
# (k <= 30: 2 MB for all k together, ~7 MB of temporaries per pass; at k <= 60 it was 135 MB of
# cache and ~60 MB of temporaries per pass and engine thread)
MAX_ROUTE = 30
NEAREST_BLOCK = 64  # rows at a time when finding each stop's nearest stops
NEIGHBOURS = 30  # a stop moves next to one of its nearest stops (or first on a route)


@functools.cache
def candidate_orders(k: int) -> IndexArray:
    """Every neighbour order of positions ``0..k-1`` (rows): 2-opt reversals, segment moves
    (forward and reversed) and swaps. The identity is not among them."""
    base = list(range(k))
    seen: set[tuple[int, ...]] = {tuple(base)}
    rows: list[tuple[int, ...]] = []

    def add(order: list[int]) -> None:
        key = tuple(order)
        if key not in seen:
            seen.add(key)
            rows.append(key)

    for i in range(k):
        for j in range(i + 1, k):
            add(base[:i] + base[i : j + 1][::-1] + base[j + 1 :])  # 2-opt
            swapped = base.copy()
            swapped[i], swapped[j] = swapped[j], swapped[i]
            add(swapped)
    for length in range(1, min(MAX_SEGMENT, k - 1) + 1):
        for i in range(k - length + 1):
            seg = base[i : i + length]
            rest = base[:i] + base[i + length :]
            for at in range(len(rest) + 1):
                add(rest[:at] + seg + rest[at:])
                if length > 1:
                    add(rest[:at] + seg[::-1] + rest[at:])
    if not rows:
        return np.zeros((0, k), dtype=np.int16)
    return np.array(rows, dtype=np.int16)


def untimed(inst: Instance) -> bool:
    """Whether arrival times are the running sum of travel times (no waiting, no limit)."""
    return inst.kind == "logistics" and not inst.timed and inst.blocked is None


class RouteCost:
    """Full-objective cost of untimed routes, many candidate orders at once."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.dist = inst.distance
        self.time = inst.travel_time
        self.weight = inst.priority.astype(np.float64) * (ARRIVAL_WEIGHT_M_PER_S / 100)

    def of(self, vehicle: int, orders: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Distance + arrival term of each row of ``orders`` (stop nodes) on ``vehicle``."""
        rows = orders.shape[0]
        start = np.full((rows, 1), self.inst.start(vehicle), dtype=orders.dtype)
        end = np.full((rows, 1), self.inst.end, dtype=orders.dtype)
        path = np.concatenate([start, orders, end], axis=1)
        dist = self.dist[path[:, :-1], path[:, 1:]].sum(axis=1)
        arrive = np.cumsum(self.time[path[:, :-2], path[:, 1:-1]], axis=1)
        arrive += self.inst.shift(vehicle)[0]
        total: npt.NDArray[np.float64] = dist + (self.weight[orders] * arrive).sum(axis=1)
        return total


def polish_route(
    cost: RouteCost, vehicle: int, stops: list[int], deadline: float
) -> tuple[list[int], float]:
    """The route reordered by best-improvement local search, and the cost it saved."""
    k = len(stops)
    if k < 2 or k > MAX_ROUTE:
        return stops, 0.0
    moves = candidate_orders(k)
    route = np.array(stops, dtype=np.int64)
    current = float(cost.of(vehicle, route[None, :])[0])
    saved = 0.0
    while time.monotonic() < deadline:
        costs = cost.of(vehicle, route[moves])
        best = int(np.argmin(costs))
        if costs[best] >= current - 1e-6:
            break
        saved += current - float(costs[best])
        current = float(costs[best])
        route = route[moves[best]]
    return [int(s) for s in route], saved


def nearest(inst: Instance, k: int) -> IntMatrix | None:
    """Per stop its ``k`` nearest other stops (both ways round), a block of rows at a time
    (no n x n temporaries: two engines polish at once)."""
    n = inst.n_stops
    k = min(k, n - 1)
    if k <= 0:
        return None
    d = inst.distance
    out = np.empty((n, k), dtype=np.int64)
    for lo in range(0, n, NEAREST_BLOCK):
        hi = min(n, lo + NEAREST_BLOCK)
        block = (d[lo:hi, :n] + d[:n, lo:hi].T).astype(np.float64)
        block[np.arange(hi - lo), np.arange(lo, hi)] = np.inf
        out[lo:hi] = np.argpartition(block, k - 1, axis=1)[:, :k]
    return out


class Relocation:
    """Moves of one stop to another route under the full objective: numpy over the insertion
    points next to its ``NEIGHBOURS`` nearest stops, each move checked exactly
    (``RouteCost``) before it is taken; loads stay within capacity."""

    def __init__(self, inst: Instance, routes: Routes) -> None:
        self.inst = inst
        self.cost = RouteCost(inst)
        self.routes = [list(r) for r in routes]
        self.loads = np.array([int(inst.demand[r].sum()) if r else 0 for r in self.routes])
        self.capacity = np.array(inst.capacity, dtype=np.int64)
        self.near = nearest(inst, NEIGHBOURS)
        self.where: dict[int, tuple[int, int]] = {}
        self.gain: dict[int, float] = {}
        # insertion point per node: the arc leaving it (route starts and stops) and the arc
        # entering it (stops): u -> v, u's service start, the weight of the stops from v on
        size = inst.end + 1
        self.u = np.zeros(2 * size, dtype=np.int64)
        self.v = np.zeros(2 * size, dtype=np.int64)
        self.begin = np.zeros(2 * size)
        self.after = np.zeros(2 * size)
        self.owner = np.full(2 * size, -1, dtype=np.int64)
        self.at = np.zeros(2 * size, dtype=np.int64)
        for v in range(len(self.routes)):
            self._index(v)

    def _index(self, vehicle: int) -> None:
        """The insertion points and removal gains of ``vehicle``'s route. Point ``node`` is
        the arc leaving ``node``, point ``size + node`` the arc entering it."""
        inst, w, t, d = self.inst, self.cost.weight, self.inst.travel_time, self.inst.distance
        size = inst.end + 1
        stops = self.routes[vehicle]
        path = [inst.start(vehicle), *stops, inst.end]
        clock = float(inst.shift(vehicle)[0])
        times = [clock]
        for a, b in itertools.pairwise(path[:-1]):
            clock += float(t[a, b])
            times.append(clock)
        weights = [float(w[s]) for s in stops] + [0.0]
        suffix = np.cumsum(weights[::-1])[::-1]  # weight of the stops from position i on
        for i in range(len(path) - 1):
            point = path[i]  # the arc leaving path[i]; the same arc enters path[i + 1]
            for p in (point, size + path[i + 1]) if path[i + 1] != inst.end else (point,):
                self.u[p], self.v[p] = path[i], path[i + 1]
                self.begin[p], self.after[p] = times[i], suffix[i]
                self.owner[p], self.at[p] = vehicle, i
        if not stops:
            self.owner[inst.start(vehicle)] = vehicle  # the empty route: start -> end
        for i, s in enumerate(stops):
            prev, nxt = path[i], path[i + 2]
            later = float(suffix[i + 1])
            saved = float(d[prev, s] + d[s, nxt] - d[prev, nxt]) + weights[i] * times[i + 1]
            saved += float(t[prev, s] + t[s, nxt] - t[prev, nxt]) * later
            self.where[s] = (vehicle, i)
            self.gain[s] = saved

    def _points(self, s: int) -> npt.NDArray[np.int64]:
        """Insertion points next to ``s``'s nearest stops, and every route's first arc."""
        size = self.inst.end + 1
        starts = np.arange(self.inst.n_stops, self.inst.end)
        if self.near is None:
            return starts
        near = self.near[s]
        return np.concatenate([near, size + near, starts])

    def try_stop(self, s: int) -> bool:
        """Move stop ``s`` to the best place on another route if that lowers the cost."""
        inst, d, t = self.inst, self.inst.distance, self.inst.travel_time
        a, i = self.where[s]
        pts = self._points(s)
        pts = pts[(self.owner[pts] >= 0) & (self.owner[pts] != a)]
        owner = self.owner[pts]
        pts = pts[self.loads[owner] + int(inst.demand[s]) <= self.capacity[owner]]
        if not len(pts):
            return False
        u, v, after = self.u[pts], self.v[pts], self.after[pts]
        added = d[u, s] + d[s, v] - d[u, v] + self.cost.weight[s] * (self.begin[pts] + t[u, s])
        added = added + (t[u, s] + t[s, v] - t[u, v]) * after
        k = int(np.argmin(added))
        if added[k] - self.gain[s] >= -1e-6:
            return False
        b, at = int(self.owner[pts[k]]), int(self.at[pts[k]])
        old_a, old_b = self.routes[a], self.routes[b]
        new_a = old_a[:i] + old_a[i + 1 :]
        new_b = [*old_b[:at], s, *old_b[at:]]
        before = self._cost(a, old_a) + self._cost(b, old_b)
        if self._cost(a, new_a) + self._cost(b, new_b) >= before - 1e-6:
            return False
        self.routes[a], self.routes[b] = new_a, new_b
        self.loads[a] -= int(inst.demand[s])
        self.loads[b] += int(inst.demand[s])
        size = inst.end + 1
        self.owner[size + s] = -1  # s may now end its route: its entering arc is re-set below
        self.owner[s] = -1
        self._index(a)
        self._index(b)
        return True

    def _cost(self, vehicle: int, stops: list[int]) -> float:
        if not stops:
            return 0.0
        return float(self.cost.of(vehicle, np.array([stops], dtype=np.int64))[0])


def relocate(inst: Instance, routes: Routes, deadline: float) -> tuple[Routes, set[int]]:
    """``routes`` after improving moves of single stops between routes (until none improves
    or the deadline), and the vehicles whose routes changed. Each round tries every stop; after
    a move, the stops of both routes and the moved stop's neighbours are tried again within
    the round (most moves come in the first round, which thus ends early)."""
    moves = Relocation(inst, routes)
    changed: set[int] = set()
    moved = True
    while moved and time.monotonic() < deadline:  # rounds over every stop until none moves
        moved = False
        todo = collections.deque(sorted(moves.where))
        queued = set(todo)
        while todo and time.monotonic() < deadline:
            s = todo.popleft()
            queued.discard(s)
            a = moves.where[s][0]
            if not moves.try_stop(s):
                continue
            moved = True
            b = moves.where[s][0]
            changed |= {a, b}
            near = moves.near[s].tolist() if moves.near is not None else []
            for t in [*moves.routes[a], *moves.routes[b], *near]:
                if t not in queued and t in moves.where:
                    queued.add(t)
                    todo.append(t)
    return moves.routes, changed


def polish(inst: Instance, routes: Routes, seconds: float) -> Routes:
    """``routes`` with each route reordered for the full objective, then single stops moved
    between routes and the changed routes reordered again, within ``seconds``; unchanged on
    timed instances (see the module docstring)."""
    if not untimed(inst):
        return routes
    deadline = time.monotonic() + seconds
    cost = RouteCost(inst)
    out = [polish_route(cost, v, stops, deadline)[0] for v, stops in enumerate(routes)]
    if time.monotonic() >= deadline:
        return out
    out, changed = relocate(inst, out, deadline)
    for v in sorted(changed):
        out[v] = polish_route(cost, v, out[v], deadline)[0]
    return out
