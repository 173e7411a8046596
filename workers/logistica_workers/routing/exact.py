"""The exact optimum of tiny instances, by depth-first enumeration with pruning.

For a handful of stops every plan can be tried in a few milliseconds, which is both faster
than starting a search and certain: a metaheuristic stopped on convergence can miss the best
order when the machine is busy. Plans are enumerated once each: vehicle 0's route is grown
stop by stop (or closed), then vehicle 1's, and so on; stops left over are dropped. Costs are
accumulated incrementally with exactly the terms of ``evaluate.score`` (distance, the
priority-weighted arrival term, drop penalties), and a partial plan that already costs more
than the best complete one is abandoned (every term only grows). With windows, shifts or
route limits a stop reached after its last (hard) window is not tried, and each closed route
is costed by ``evaluate.route_metrics`` (infinite when its schedule breaks a shift or limit).
"""

from __future__ import annotations

import math

from logistica_workers.routing.evaluate import Routes, route_metrics
from logistica_workers.routing.instance import ARRIVAL_WEIGHT_M_PER_S, Instance
from logistica_workers.routing.schedule import window_for

# Most plans the enumeration may have to consider (before pruning): ~6 stops on 2 couriers.
MAX_PLANS = 20_000


def plan_count(n_stops: int, n_vehicles: int) -> int:
    """Plans without pruning: for each served subset of k stops, k! orders split over m routes."""
    m = n_vehicles
    return sum(
        math.comb(n_stops, k) * math.factorial(k) * math.comb(k + m - 1, m - 1)
        for k in range(n_stops + 1)
    )


def small_enough(inst: Instance) -> bool:
    return (
        inst.n_stops > 0
        and inst.n_vehicles > 0
        and plan_count(inst.n_stops, inst.n_vehicles) <= MAX_PLANS
    )


# the enumeration and its time-window checks read as one algorithm; splitting it would scatter
# the state it threads through every plan
def solve(inst: Instance) -> Routes:  # noqa: C901, PLR0915
    """The plan of least ``evaluate.score(...).cost`` (capacity respected)."""
    n, m = inst.n_stops, inst.n_vehicles
    dist = inst.distance.tolist()
    time_ = inst.travel_time.tolist()
    prio = inst.priority.tolist()
    demand = inst.demand.tolist()
    penalty = inst.drop_penalty().tolist()
    weight = 0.0 if inst.kind == "cvrp" else ARRIVAL_WEIGHT_M_PER_S / 100
    end = inst.end
    served = [False] * n
    routes: Routes = [[] for _ in range(m)]
    best_cost = math.inf
    best: Routes = [[] for _ in range(m)]

    def finish(cost: float) -> None:
        nonlocal best_cost, best
        cost += sum(penalty[i] for i in range(n) if not served[i])
        if cost < best_cost:
            best_cost = cost
            best = [list(r) for r in routes]

    timed = inst.timed
    windows = [inst.windows_of(s) for s in range(n)]

    def route_cost(v: int) -> float:
        rm = route_metrics(inst, v, routes[v])
        if not rm.times.feasible:
            return math.inf
        return rm.distance + weight * rm.weighted + rm.times.lateness * inst.lateness_cost

    def grow(v: int, last: int, clock: int, load: int, cost: float, base: float) -> None:
        if cost >= best_cost:
            return
        # close this route (an empty route costs nothing), then the next vehicle's
        if not routes[v]:
            closed = cost
        elif timed:
            closed = base + route_cost(v)
        else:
            closed = cost + dist[last][end]
        if v + 1 < m:
            grow(v + 1, inst.start(v + 1), inst.shift(v + 1)[0], 0, closed, closed)
        elif closed < best_cost:
            finish(closed)
        for s in range(n):
            if served[s] or load + demand[s] > inst.capacity[v]:
                continue
            arrive = clock + time_[last][s]
            if windows[s]:
                w = window_for(windows[s], arrive)
                if w is not None:
                    arrive = max(arrive, w[0])  # service starts when the window opens
                elif not inst.soft_windows:
                    continue
            served[s] = True
            routes[v].append(s)
            step = dist[last][s] + weight * prio[s] * arrive
            grow(v, s, arrive, load + demand[s], cost + step, base)
            routes[v].pop()
            served[s] = False

    grow(0, inst.start(0), inst.shift(0)[0], 0, 0.0, 0.0)
    return best
