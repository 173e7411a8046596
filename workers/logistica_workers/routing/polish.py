"""Intra-route polish under the full objective: reorder each route's stops for distance plus
the priority-weighted arrival term, which PyVRP cannot see.

PyVRP's routes are short and good for distance; the arrival term asks high-priority stops to
come early. For each route this local search tries every 2-opt reversal, every move of a
segment of 1-3 stops (either way round) and every swap of two stops at once (numpy: all
candidate orders of a route as rows of one array) and takes the best improving one, until
none improves or the deadline passes. A route's set of stops never changes, so loads stay as
they were; only untimed routes are reordered (no windows, shift, route limit or breaks on the
instance: arrival times are then the running sum of travel times, and no order is
infeasible), so the result is never worse and always feasible.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import numpy.typing as npt

from logistica_workers.routing.instance import ARRIVAL_WEIGHT_M_PER_S, Instance

Routes = list[list[int]]
IndexArray = npt.NDArray[np.intp]
MAX_SEGMENT = 3  # or-opt moves segments of 1..MAX_SEGMENT stops
MAX_ROUTE = 60  # longer routes are left as they are (k^2 candidates each pass)


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
        return np.zeros((0, k), dtype=np.intp)
    return np.array(rows, dtype=np.intp)


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


def polish(inst: Instance, routes: Routes, seconds: float) -> Routes:
    """``routes`` with each route reordered for the full objective, within ``seconds``;
    unchanged on timed instances (see the module docstring)."""
    if not untimed(inst):
        return routes
    deadline = time.monotonic() + seconds
    cost = RouteCost(inst)
    out: Routes = []
    for v, stops in enumerate(routes):
        if time.monotonic() >= deadline:
            out.append(stops)
            continue
        out.append(polish_route(cost, v, stops, deadline)[0])
    return out
