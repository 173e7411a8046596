"""Our Instance as PyVRP ProblemData.

Logistics: locations are the instance's nodes (stops, courier starts, the route end); one start
depot per courier (its arcs to stops already go through the origin), one end depot whose arcs
cost nothing for open routes (the origin's distances with ``returnToOrigin``); one vehicle type
per courier (heterogeneous capacities); every stop optional with a prize = its drop penalty in
metres. PyVRP has no arrival-time objective: the OR-Tools phase adds it (see engines.py).
CVRP: one depot, every client required, one vehicle type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from logistica_workers.routing.instance import Instance

if TYPE_CHECKING:
    import pyvrp

NEVER = 10**8  # arcs no route uses (into a start depot, out of the end depot)


def stop_prizes(inst: Instance) -> list[int]:
    """(1 + priority) x more than any stop's detour: a stop that fits is never dropped, and
    among drops the ratios of our drop penalties hold."""
    n = inst.n_stops
    unit = 2 * int(inst.distance[: inst.end, :n].max()) + 1
    return [int((1 + inst.priority[i]) * unit) for i in range(n)]


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
    return pyvrp.ProblemData(
        [pyvrp.Location(0, 0) for _ in range(n + m + 1)],
        [
            pyvrp.Client(i, delivery=[int(inst.demand[i])], prize=prizes[i], required=False)
            for i in range(n)
        ],
        [pyvrp.Depot(n + k) for k in range(m + 1)],
        [
            pyvrp.VehicleType(1, capacity=[inst.capacity[k]], start_depot=k, end_depot=m)
            for k in range(m)
        ],
        [dist],  # type: ignore[list-item]
        [np.zeros_like(dist)],  # type: ignore[list-item]
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
