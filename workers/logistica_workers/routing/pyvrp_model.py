"""Our Instance as PyVRP ProblemData.

Logistics: locations are the instance's nodes (stops, courier starts, the route end); one start
depot per courier (its arcs to stops already go through the origin), one end depot whose arcs
cost nothing for open routes (the origin's distances with ``returnToOrigin``); one vehicle type
per courier (heterogeneous capacities); every stop optional with a prize = its drop penalty in
metres. PyVRP has no arrival-time objective: the OR-Tools phase adds it (see engines.py).
Times: one window per client (``tw_early``/``tw_late``, ``service_duration``), the shift as
the vehicle type's ``tw_early``/``tw_late`` and ``maxRouteSeconds`` as its ``shift_duration``;
durations are travel only. Where PyVRP has less than our model it solves a restriction, whose
plans are feasible for the full model: a stop with several windows gets its longest one, soft
windows are hard (the OR-Tools phase of ``hybrid`` then uses every window and prices lateness).
Breaks it cannot express: it plans without them, and ``engines.run_pyvrp`` removes stops
from routes that cannot then fit their breaks (``repair.make_feasible``).
CVRP: one depot, every client required, one vehicle type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from logistica_workers.routing.instance import OPEN_END, Instance

if TYPE_CHECKING:
    import pyvrp

NEVER = 10**8  # arcs no route uses (into a start depot, out of the end depot)


def stop_prizes(inst: Instance) -> list[int]:
    """(1 + priority) x more than any stop's detour: a stop that fits is never dropped, and
    among drops the ratios of our drop penalties hold."""
    n = inst.n_stops
    d = inst.distance[: inst.end, :n]
    if inst.blocked is not None:  # unreachable arcs cost more than any prize
        d = np.where(inst.blocked[: inst.end, :n], 0, d)
    unit = 2 * int(d.max()) + 1
    return [int((1 + inst.priority[i]) * unit) for i in range(n)]


def _durations(inst: Instance) -> npt.NDArray[np.int64]:
    """Travel-only seconds (our travel times include the from-node's service)."""
    n, m = inst.n_stops, inst.n_vehicles
    dur = inst.travel_time.copy()
    if inst.service is not None:
        dur[:n, :] -= inst.service[:n, None]
    dur[:n, n : n + m] = NEVER
    dur[n + m, :] = NEVER
    dur[n : n + m, n : n + m] = NEVER
    dur[n : n + m, n + m] = 0
    np.fill_diagonal(dur, 0)
    return np.maximum(dur, 0)


def _client(inst: Instance, i: int, prize: int) -> pyvrp.Client:
    import pyvrp

    windows = inst.windows_of(i)
    early, late = max(windows, key=lambda w: w[1] - w[0]) if windows else (0, OPEN_END)
    service = int(inst.service[i]) if inst.service is not None else 0
    return pyvrp.Client(
        i,
        delivery=[int(inst.demand[i])],
        service_duration=service,
        tw_early=early,
        tw_late=late,
        prize=prize,
        required=False,
    )


def _vehicle(inst: Instance, k: int) -> pyvrp.VehicleType:
    import pyvrp

    m = inst.n_vehicles
    if not inst.timed:
        return pyvrp.VehicleType(1, capacity=[inst.capacity[k]], start_depot=k, end_depot=m)
    start, end = inst.shift(k)
    limit = inst.duration_limit(k)
    return pyvrp.VehicleType(
        1,
        capacity=[inst.capacity[k]],
        start_depot=k,
        end_depot=m,
        tw_early=start,
        tw_late=max(start, end),
        shift_duration=limit if limit is not None else OPEN_END,
    )


def build(inst: Instance) -> pyvrp.ProblemData:
    import pyvrp

    n, m = inst.n_stops, inst.n_vehicles
    if inst.kind == "cvrp":
        dist = np.zeros((n + 1, n + 1), dtype=np.int64)
        dist[:n, :n] = inst.distance[:n, :n]
        dist[n, :n] = inst.distance[inst.start(0), :n]
        dist[:n, n] = inst.distance[:n, inst.end]
        return pyvrp.ProblemData(
            [pyvrp.Location(0, 0) for _ in range(n + 1)],
            [pyvrp.Client(i, delivery=[int(inst.demand[i])]) for i in range(n)],
            [pyvrp.Depot(n)],
            [pyvrp.VehicleType(m, capacity=[inst.capacity[0]])],
            [dist],  # type: ignore[list-item]
            [np.zeros_like(dist)],  # type: ignore[list-item]
        )
    dist = inst.distance.copy()
    dist[:n, n : n + m] = NEVER
    dist[n + m, :] = NEVER
    dist[n : n + m, n : n + m] = NEVER
    dist[n : n + m, n + m] = 0
    np.fill_diagonal(dist, 0)
    prizes = stop_prizes(inst)
    durations = _durations(inst) if inst.timed else np.zeros_like(dist)
    return pyvrp.ProblemData(
        [pyvrp.Location(0, 0) for _ in range(n + m + 1)],
        [_client(inst, i, prizes[i]) for i in range(n)],
        [pyvrp.Depot(n + k) for k in range(m + 1)],
        [_vehicle(inst, k) for k in range(m)],
        [dist],  # type: ignore[list-item]
        [durations],  # type: ignore[list-item]
    )


def solve_params(inst: Instance) -> pyvrp.SolveParams:
    """Raise the load-penalty cap above the largest prize, or overloading would pay."""
    import pyvrp

    if inst.kind == "cvrp":
        return pyvrp.SolveParams()
    return pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=4.0 * max(stop_prizes(inst))))


def routes_of(inst: Instance, solution: pyvrp.Solution) -> list[list[int]]:
    """Per courier (vehicle), the stop nodes in visit order."""
    routes: list[list[int]] = [[] for _ in range(inst.n_vehicles)]
    if inst.kind == "cvrp":
        for k, r in enumerate(solution.routes()):
            routes[k] = [int(a.idx) for a in r if a.is_client()]
        return routes
    for r in solution.routes():
        routes[r.vehicle_type()] = [int(a.idx) for a in r if a.is_client()]
    return routes
