"""Our Instance as an OR-Tools routing model: the full logistics objective.

Arc costs in centimetres, loads against per-courier capacities, optional stops with
priority-scaled drop penalties, and the priority-weighted arrival term as a soft upper bound 0
on each stop's time cumul (coefficient = priority: priority/100 m per second at 100 units/m).

Times live on the "time" dimension (cumul = service start, slack = waiting): a stop's windows
are its cumul's range with the gaps between them removed; a shift bounds the courier's start
and end cumuls; maxRouteSeconds is a span upper bound. Soft windows keep the range's start
and gaps but price lateness after the last window as a soft upper bound - on a second
dimension equal to "time", since "time" already carries the arrival term's soft bound. Breaks
are fixed-duration intervals of the vehicle that may not overlap a service (OR-Tools places
them while driving or waiting, or before the start / after the end of the route).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from logistica_workers.routing.instance import COST_SCALE, NEVER, OPEN_END, Instance, IntArray

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
SHARED_INTS_MIN_CELLS = 300 * 300  # larger matrices: one int object per distinct value


def status_name(code: int, has_solution: bool) -> str:
    """Our status for an OR-Tools RoutingSearchStatus code."""
    if has_solution and code in SOLVED:
        return "OPTIMAL" if code == 7 else "SUCCESS"
    return STATUS_NAMES.get(code, f"STATUS_{code}")


def matrix_rows(matrix: IntArray, scale: int = 1) -> list[list[int]]:
    """``matrix * scale`` as the list of lists of ints ``RegisterTransitMatrix`` takes (it
    accepts nothing else), each distinct value one shared int object: ``tolist()`` makes an
    object of every cell (1,121 nodes: 1.26 M ints, +43 MB for a moment; measured), these rows
    hold pointers to the matrix's few distinct values (metres, seconds: +9 MB), at ~0.25 s
    more; no scaled copy of the matrix is made. Small matrices (latency matters, memory does
    not) are converted directly."""
    if matrix.size <= SHARED_INTS_MIN_CELLS:
        rows: list[list[int]] = (matrix * scale).tolist()
        return rows
    values = np.unique(matrix)
    shared = np.array((values * scale).tolist(), dtype=object)
    return [shared[np.searchsorted(values, row)].tolist() for row in matrix]


class OrToolsModel:
    def __init__(self, inst: Instance) -> None:
        from ortools.constraint_solver import pywrapcp

        self.inst = inst
        m = inst.n_vehicles
        self.manager = pywrapcp.RoutingIndexManager(
            inst.end + 1, m, [inst.start(v) for v in range(m)], [inst.end] * m
        )
        routing = self.routing = pywrapcp.RoutingModel(self.manager)
        arc = routing.RegisterTransitMatrix(matrix_rows(inst.distance, COST_SCALE))
        routing.SetArcCostEvaluatorOfAllVehicles(arc)
        try:
            self._build()
        finally:
            if inst.distance.size > SHARED_INTS_MIN_CELLS:  # the rows' freed blocks: back
                from logistica_workers.routing import heap

                heap.trim()

    def _build(self) -> None:
        """Everything but the arc costs: loads, times, the arrival term, drops, pins."""
        inst, routing = self.inst, self.routing
        load = routing.RegisterUnaryTransitVector(inst.demand.tolist())
        routing.AddDimensionWithVehicleCapacity(load, 0, inst.capacity, True, "load")
        if inst.kind != "logistics":
            return
        if inst.timed:
            self._add_times()
        elif inst.priority[: inst.n_stops].any():
            transit = routing.RegisterTransitMatrix(matrix_rows(inst.travel_time))
            horizon = int(inst.travel_time.max()) * (inst.n_stops + 2) + 1
            routing.AddDimension(transit, 0, horizon, True, "time")
        if inst.priority[: inst.n_stops].any():
            time_dim = routing.GetDimensionOrDie("time")
            for i in range(inst.n_stops):
                if inst.priority[i] > 0:
                    time_dim.SetCumulVarSoftUpperBound(
                        self.manager.NodeToIndex(i), 0, int(inst.priority[i])
                    )
        penalty = inst.drop_penalty()
        for i in range(inst.n_stops):
            routing.AddDisjunction([self.manager.NodeToIndex(i)], int(penalty[i]))
        for i, v in enumerate(inst.pinned):
            if v >= 0:  # re-planning with keepPreviousCouriers: its courier, or unperformed (-1)
                routing.VehicleVar(self.manager.NodeToIndex(i)).SetValues([-1, v])

    # one time dimension and its options (windows, shifts, route limits, soft windows) set side
    # by side: each branch is one optional feature of the same dimension
    def _add_times(self) -> None:  # noqa: C901, PLR0912
        """Windows, shifts and route limits on a "time" dimension that may wait."""
        inst, routing, mgr = self.inst, self.routing, self.manager
        transit = routing.RegisterTransitMatrix(matrix_rows(inst.travel_time))
        routing.AddDimension(transit, OPEN_END, OPEN_END, False, "time")
        time_dim = routing.GetDimensionOrDie("time")
        late_dim = None
        if inst.soft_windows and any(inst.windows):
            routing.AddDimension(transit, OPEN_END, OPEN_END, False, "lateness")
            late_dim = routing.GetDimensionOrDie("lateness")
            solver = routing.solver()
            for index in range(routing.Size() + inst.n_vehicles):
                solver.Add(late_dim.CumulVar(index) == time_dim.CumulVar(index))
        late_cost = round(inst.lateness_cost * COST_SCALE)
        for i in range(inst.n_stops):
            windows = inst.windows_of(i)
            if not windows:
                continue
            index = mgr.NodeToIndex(i)
            if windows[0][0] >= NEVER:  # every window passed before time zero
                routing.solver().Add(routing.ActiveVar(index) == 0)
                continue
            cumul = time_dim.CumulVar(index)
            if late_dim is not None:
                cumul.SetRange(windows[0][0], OPEN_END)
                late_dim.SetCumulVarSoftUpperBound(index, windows[-1][1], late_cost)
            else:
                cumul.SetRange(windows[0][0], windows[-1][1])
            for (_, end), (start, _) in itertools.pairwise(windows):
                if start - end > 1:
                    cumul.RemoveInterval(end + 1, start - 1)
        for v in range(inst.n_vehicles):
            start, end = inst.shift(v)
            time_dim.CumulVar(routing.Start(v)).SetRange(start, max(start, end))
            time_dim.CumulVar(routing.End(v)).SetMax(max(start, end))
            limit = inst.duration_limit(v)
            if limit is not None:
                time_dim.SetSpanUpperBoundForVehicle(limit, v)
        if any(inst.breaks):
            service = inst.service if inst.service is not None else [0] * (inst.end + 1)
            visit = [int(service[mgr.IndexToNode(i)]) for i in range(routing.Size())]
            solver = routing.solver()
            for v in range(inst.n_vehicles):
                # a break whose latest start is before the shift is never owed (and OR-Tools,
                # which always places a break, might find no place for it)
                owed = [b for b in inst.breaks_of(v) if b[1] >= inst.shift(v)[0]]
                if owed:
                    intervals = [
                        solver.FixedDurationIntervalVar(a, b, d, False, f"break-{v}-{k}")
                        for k, (a, b, d) in enumerate(owed)
                    ]
                    time_dim.SetBreakIntervalsOfVehicle(intervals, v, visit)

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
