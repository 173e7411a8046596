"""Plans to start post-passes from in tests."""

from __future__ import annotations

import random

from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import Instance


def first_fit(inst: Instance, rnd: random.Random) -> Routes:
    """A poor start: the stops in random order, each into the first route it may join
    (``Instance.allows``) and fits; the rest dropped."""
    routes: Routes = [[] for _ in range(inst.n_vehicles)]
    load = [0] * inst.n_vehicles
    order = list(range(inst.n_stops))
    rnd.shuffle(order)
    for s in order:
        for v in range(inst.n_vehicles):
            if inst.allows(v, s) and load[v] + int(inst.demand[s]) <= inst.capacity[v]:
                routes[v].append(s)
                load[v] += int(inst.demand[s])
                break
    return routes
