"""The solver's view of a problem: integer matrices over nodes, built once with numpy.

Nodes: ``0..n-1`` stops, ``n..n+m-1`` courier start positions, ``n+m`` the route end.
Every courier must load at the origin before serving a stop, so the arc from a courier's start
to a stop costs start->origin->stop. Routes are open (ending costs nothing) unless they return
to the origin. An unused courier costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from logistica_workers.api import Problem
from logistica_workers.routing.geo import euclidean_matrix, haversine_matrix

IntArray = npt.NDArray[np.int64]

# Objective weights (see README "The routing model").
ARRIVAL_WEIGHT_M_PER_S = 1.0  # a priority-100 stop waiting 1 s costs as much as 1 m of driving
COST_SCALE = 100  # integer cost units per metre, so priority/100 * 1 m/s is an integer per s


@dataclass(frozen=True)
class Instance:
    kind: str  # "logistics" (priority model) or "cvrp" (classic: closed routes, all required)
    stop_ids: list[str]
    courier_ids: list[str]
    distance: IntArray  # metres (cvrp: rounded Euclidean units), N x N
    travel_time: IntArray  # seconds incl. service time at the from-node, N x N
    demand: IntArray  # per node, 0 for starts and end
    priority: IntArray  # per node, 0 for starts and end
    capacity: list[int]  # per vehicle
    time_limit: float
    return_to_origin: bool

    @property
    def n_stops(self) -> int:
        return len(self.stop_ids)

    @property
    def n_vehicles(self) -> int:
        return len(self.capacity)

    @property
    def end(self) -> int:
        return self.n_stops + self.n_vehicles

    def start(self, vehicle: int) -> int:
        return self.n_stops + vehicle

    def drop_penalty(self) -> IntArray:
        """Per stop: larger than any routing cost, growing with priority (low dropped first)."""
        n = self.n_stops
        bound = COST_SCALE * (n + 1) * (int(self.distance.max()) + int(self.travel_time.max()) + 1)
        return (1 + self.priority[:n]) * bound


def _assemble(
    base: npt.NDArray[np.float64],
    n: int,
    m: int,
    speed_mps: float,
    service: IntArray,
    return_to_origin: bool,
) -> tuple[IntArray, IntArray]:
    """``base`` is over [origin, stops..., couriers...]; returns distance and time matrices."""
    size = n + m + 1
    origin_to = base[0]
    dist = np.zeros((size, size), dtype=np.float64)
    dist[:n, :n] = base[1 : n + 1, 1 : n + 1]
    # start k -> stop j goes through the origin to load
    dist[n : n + m, :n] = base[n + 1 :, 0][:, None] + origin_to[None, 1 : n + 1]
    if return_to_origin:
        dist[:n, n + m] = origin_to[1 : n + 1]
    dist_i = np.rint(dist).astype(np.int64)
    t = np.rint(dist / speed_mps).astype(np.int64)
    t[:n, :] += service[:n, None]  # service happens at the from-node
    np.fill_diagonal(t, 0)
    np.fill_diagonal(dist_i, 0)
    return dist_i, t


def from_problem(problem: Problem, time_limit: float | None = None) -> Instance:
    n, m = len(problem.stops), len(problem.couriers)
    lat = np.array(
        [problem.origin.lat] + [s.lat for s in problem.stops] + [c.lat for c in problem.couriers],
        dtype=np.float64,
    )
    lng = np.array(
        [problem.origin.lng] + [s.lng for s in problem.stops] + [c.lng for c in problem.couriers],
        dtype=np.float64,
    )
    base = haversine_matrix(lat, lng)
    service = np.zeros(n + m + 1, dtype=np.int64)
    service[:n] = [s.service_seconds for s in problem.stops]
    opts = problem.options
    dist, t = _assemble(base, n, m, opts.speed_kmh / 3.6, service, opts.return_to_origin)
    node_zero = [0] * (m + 1)
    return Instance(
        kind="logistics",
        stop_ids=problem.stop_ids(),
        courier_ids=[c.id for c in problem.couriers],
        distance=dist,
        travel_time=t,
        demand=np.array([s.demand for s in problem.stops] + node_zero, dtype=np.int64),
        priority=np.array([s.priority for s in problem.stops] + node_zero, dtype=np.int64),
        capacity=[c.capacity for c in problem.couriers],
        time_limit=float(time_limit if time_limit is not None else opts.time_limit_seconds),
        return_to_origin=opts.return_to_origin,
    )


def cvrp_instance(
    xy: npt.NDArray[np.float64],
    demand: list[int],
    capacity: int,
    time_limit: float,
    names: list[str],
) -> Instance:
    """Classic CVRP: row 0 of ``xy`` is the depot; closed routes; rounded Euclidean costs."""
    n = len(demand)
    base = euclidean_matrix(xy[:, 0], xy[:, 1])
    base = np.rint(base)  # CVRPLIB EUC_2D: nint of each arc
    k_min = math.ceil(sum(demand) / capacity)
    m = max(2, math.ceil(k_min * 1.5) + 3)  # "unlimited": more than any good solution uses
    full = np.vstack([base, np.repeat(base[:1], m, axis=0)])  # every vehicle starts at the depot
    full = np.hstack([full, np.repeat(full[:, :1], m, axis=1)])
    service = np.zeros(n + m + 1, dtype=np.int64)
    # at the depot: the start->stop arc is depot->stop (start==depot, depot->depot = 0)
    dist, _ = _assemble(full, n, m, 1.0, service, True)
    return Instance(
        kind="cvrp",
        stop_ids=names,
        courier_ids=[f"vehicle-{k + 1}" for k in range(m)],
        distance=dist,
        travel_time=dist.copy(),
        demand=np.array(demand + [0] * (m + 1), dtype=np.int64),
        priority=np.zeros(n + m + 1, dtype=np.int64),
        capacity=[capacity] * m,
        time_limit=time_limit,
        return_to_origin=True,
    )
