"""Our Instance as an OR-Tools routing model: the full logistics objective.

Arc costs in centimetres, loads against per-courier capacities, optional stops with
priority-scaled drop penalties, and the priority-weighted arrival term as a soft upper bound 0
on each stop's time cumul (coefficient = priority: priority/100 m per second at 100 units/m).
Further constraints (e.g. time windows) belong on the "time" dimension built here.
"""

from __future__ import annotations

from typing import Any

from logistica_workers.routing.instance import COST_SCALE, Instance

# RoutingSearchStatus (routing_enums.proto): 1, 2 and 7 come with a solution
STATUS_NAMES = {
    0: "NOT_SOLVED",
    1: "SUCCESS",
    2: "SUCCESS_TIME_LIMITED",  # PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED: a normal timed stop
    3: "FAIL",
    4: "FAIL_TIMEOUT",
    5: "INVALID",
    6: "INFEASIBLE",
    7: "OPTIMAL",
}
SOLVED = frozenset({1, 2, 7})


def status_name(code: int, has_solution: bool) -> str:
    """Our status for an OR-Tools RoutingSearchStatus code."""
    if has_solution and code in SOLVED:
        return "OPTIMAL" if code == 7 else "SUCCESS"
    return STATUS_NAMES.get(code, f"STATUS_{code}")


class OrToolsModel:
    def __init__(self, inst: Instance) -> None:
        from ortools.constraint_solver import pywrapcp

        self.inst = inst
        m = inst.n_vehicles
        self.manager = pywrapcp.RoutingIndexManager(
            inst.end + 1, m, [inst.start(v) for v in range(m)], [inst.end] * m
        )
        routing = self.routing = pywrapcp.RoutingModel(self.manager)
        arc = routing.RegisterTransitMatrix((inst.distance * COST_SCALE).tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(arc)
        load = routing.RegisterUnaryTransitVector(inst.demand.tolist())
        routing.AddDimensionWithVehicleCapacity(load, 0, inst.capacity, True, "load")
        if inst.kind != "logistics":
            return
        if inst.priority[: inst.n_stops].any():
            transit = routing.RegisterTransitMatrix(inst.travel_time.tolist())
            horizon = int(inst.travel_time.max()) * (inst.n_stops + 2) + 1
            routing.AddDimension(transit, 0, horizon, True, "time")
            time_dim = routing.GetDimensionOrDie("time")
            for i in range(inst.n_stops):
                if inst.priority[i] > 0:
                    time_dim.SetCumulVarSoftUpperBound(
                        self.manager.NodeToIndex(i), 0, int(inst.priority[i])
                    )
        penalty = inst.drop_penalty()
        for i in range(inst.n_stops):
            routing.AddDisjunction([self.manager.NodeToIndex(i)], int(penalty[i]))

    def routes(self, assignment: Any | None = None) -> list[list[int]]:
        """Stop nodes per vehicle, of ``assignment`` or (in a solution callback) the current."""
        r, mgr = self.routing, self.manager
        out = []
        for v in range(self.inst.n_vehicles):
            nxt = r.NextVar(r.Start(v))
            idx = assignment.Value(nxt) if assignment is not None else nxt.Value()
            stops = []
            while not r.IsEnd(idx):
                stops.append(mgr.IndexToNode(idx))
                nxt = r.NextVar(idx)
                idx = assignment.Value(nxt) if assignment is not None else nxt.Value()
            out.append(stops)
        return out

    def assignment_from(self, routes: list[list[int]], params: Any) -> Any | None:
        """A warm start from plain routes (stop nodes per vehicle); None if OR-Tools rejects
        them. Closes the model with ``params`` (the ones the search will use)."""
        self.routing.CloseModelWithParameters(params)
        indices = [[self.manager.NodeToIndex(s) for s in r] for r in routes]
        return self.routing.ReadAssignmentFromRoutes(indices, True)

    @staticmethod
    def params(
        time_limit: float,
        first_solution: str = "PARALLEL_CHEAPEST_INSERTION",
        metaheuristic: str = "GUIDED_LOCAL_SEARCH",
    ) -> Any:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = getattr(
            routing_enums_pb2.FirstSolutionStrategy, first_solution
        )
        if metaheuristic != "DEFAULT":
            params.local_search_metaheuristic = getattr(
                routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic
            )
        params.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
        return params
