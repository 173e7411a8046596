"""The search engines. Each runs in its own process and streams every improving solution to
the parent through ``report``; the parent keeps the best, so a killed engine loses nothing.

- OR-Tools (routing library): the logistics model, i.e. open routes from each courier's
  position through the origin, optional stops with priority-scaled drop penalties, and the
  priority-weighted arrival-time term (soft upper bound 0 on the time cumul of each stop).
- PyVRP (hybrid genetic search): classic CVRP (CVRPLIB), where it is far stronger.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import COST_SCALE, Instance

Report = Callable[[Routes], None]


@dataclass(frozen=True)
class EngineConfig:
    engine: str  # "ortools" | "pyvrp"
    first_solution: str = "PATH_CHEAPEST_ARC"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    seed: int = 1

    @property
    def label(self) -> str:
        if self.engine == "pyvrp":
            return f"pyvrp(seed={self.seed})"
        return f"ortools({self.first_solution},{self.metaheuristic})"


class StopFlag:
    """Set by SIGTERM in an engine process; engines poll it where they can."""

    stopped = False

    @classmethod
    def install(cls) -> None:
        def handler(_sig: int, _frame: object) -> None:
            cls.stopped = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides


def solve_ortools(inst: Instance, cfg: EngineConfig, report: Report, time_limit: float) -> str:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    m = inst.n_vehicles
    manager = pywrapcp.RoutingIndexManager(
        inst.end + 1, m, [inst.start(v) for v in range(m)], [inst.end] * m
    )
    routing = pywrapcp.RoutingModel(manager)
    arc = routing.RegisterTransitMatrix((inst.distance * COST_SCALE).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    load = routing.RegisterUnaryTransitVector(inst.demand.tolist())
    routing.AddDimensionWithVehicleCapacity(load, 0, inst.capacity, True, "load")
    if inst.kind == "logistics":
        if inst.priority[: inst.n_stops].any():
            transit = routing.RegisterTransitMatrix(inst.travel_time.tolist())
            horizon = int(inst.travel_time.max()) * (inst.n_stops + 2) + 1
            routing.AddDimension(transit, 0, horizon, True, "time")
            time_dim = routing.GetDimensionOrDie("time")
            for i in range(inst.n_stops):
                if inst.priority[i] > 0:
                    # cost priority_i per second of arrival = (priority/100) m/s at COST_SCALE 100
                    time_dim.SetCumulVarSoftUpperBound(
                        manager.NodeToIndex(i), 0, int(inst.priority[i])
                    )
        penalty = inst.drop_penalty()
        for i in range(inst.n_stops):
            routing.AddDisjunction([manager.NodeToIndex(i)], int(penalty[i]))

    best = [np.inf]

    def extract() -> Routes:
        routes = []
        for v in range(m):
            idx = routing.NextVar(routing.Start(v)).Value()
            stops = []
            while not routing.IsEnd(idx):
                stops.append(manager.IndexToNode(idx))
                idx = routing.NextVar(idx).Value()
            routes.append(stops)
        return routes

    def on_solution() -> None:
        cost = routing.CostVar().Value()
        if cost < best[0]:
            best[0] = cost
            report(extract())

    routing.AddAtSolutionCallback(on_solution)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, cfg.first_solution
    )
    if cfg.metaheuristic != "DEFAULT":
        params.local_search_metaheuristic = getattr(
            routing_enums_pb2.LocalSearchMetaheuristic, cfg.metaheuristic
        )
    params.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
    solution = routing.SolveWithParameters(params)
    status = routing.status()
    names = {
        0: "NOT_SOLVED",
        1: "SUCCESS",
        2: "FAIL",
        3: "FAIL_TIMEOUT",
        4: "INVALID",
        5: "INFEASIBLE",
        6: "OPTIMAL",
    }
    if solution is None:
        return names.get(int(status), str(status))
    return "SUCCESS" if int(status) in (1, 6, 7) else names.get(int(status), str(status))


def solve_pyvrp(inst: Instance, cfg: EngineConfig, report: Report, time_limit: float) -> str:
    import pyvrp

    n = inst.n_stops
    start0 = inst.start(0)
    size = n + 1
    dist = np.zeros((size, size), dtype=np.int64)
    dist[1:, 1:] = inst.distance[:n, :n]
    dist[0, 1:] = inst.distance[start0, :n]
    dist[1:, 0] = inst.distance[:n, inst.end]
    data = pyvrp.ProblemData(
        [pyvrp.Location(0, 0) for _ in range(size)],
        [pyvrp.Client(i + 1, delivery=[int(inst.demand[i])]) for i in range(n)],
        [pyvrp.Depot(0)],
        [pyvrp.VehicleType(inst.n_vehicles, capacity=[inst.capacity[0]])],
        [dist],  # type: ignore[list-item]
        [np.zeros_like(dist)],  # type: ignore[list-item]
    )
    deadline = time.monotonic() + time_limit

    class Stop:
        def __call__(self, best_cost: int) -> bool:
            return StopFlag.stopped or time.monotonic() >= deadline

    result = pyvrp.solve(data, Stop(), seed=cfg.seed, collect_stats=False, display=False)
    if not result.is_feasible():
        return "INFEASIBLE"
    routes: Routes = [[a.idx for a in r if a.is_client()] for r in result.best.routes()]
    routes += [[] for _ in range(inst.n_vehicles - len(routes))]
    report(routes)
    return "SUCCESS"


ENGINES = {"ortools": solve_ortools, "pyvrp": solve_pyvrp}
