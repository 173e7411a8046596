"""Why each unassigned stop is unassigned, read from the plan (machine-readable reasons).

- ``unreachable``: no courier has a path to it (a matrix with no route).
- ``capacity``: its demand exceeds every courier's capacity, or every courier that could
  serve it is full in this plan (problems without times: always this).
- ``timeWindow``: no courier, going there first, arrives before its last window ends.
- ``shift``: some courier arrives in a window, but none can serve it and still end inside its
  shift and ``maxRouteSeconds`` with its breaks - alone, or (with room for it) in this plan,
  whose time went to higher-value stops.
"""

from __future__ import annotations

import numpy as np

from logistica_workers.routing.instance import NEVER, UNREACHABLE, Instance
from logistica_workers.routing.schedule import schedule

Routes = list[list[int]]


def _unreachable(inst: Instance, s: int) -> bool:
    return all(
        int(inst.travel_time[inst.start(v), s]) >= UNREACHABLE for v in range(inst.n_vehicles)
    )


def unassigned_reasons(inst: Instance, routes: Routes) -> dict[int, str]:
    served = {s for r in routes for s in r}
    loads = [sum(int(inst.demand[s]) for s in r) for r in routes]
    starts = np.array([inst.start(v) for v in range(inst.n_vehicles)])
    shift_start = np.array([inst.shift(v)[0] for v in range(inst.n_vehicles)])
    capacity = np.array(inst.capacity)
    out: dict[int, str] = {}
    for s in range(inst.n_stops):
        if s in served:
            continue
        need = int(inst.demand[s])
        able = np.flatnonzero(capacity >= need)
        if _unreachable(inst, s):
            out[s] = "unreachable"
            continue
        if not able.size or not inst.timed:
            out[s] = "capacity"
            continue
        # when each able courier, going there first, would arrive
        arrive = shift_start[able] + inst.travel_time[starts[able], s]
        windows = inst.windows_of(s)
        if windows and (
            windows[0][0] >= NEVER or (not inst.soft_windows and arrive.min() > windows[-1][1])
        ):
            out[s] = "timeWindow"
            continue
        if not any(schedule(inst, int(v), [s]).feasible for v in able[np.argsort(arrive)]):
            out[s] = "shift"
            continue
        room = [int(v) for v in able if inst.capacity[v] - loads[v] >= need]
        # it fits a courier alone; in this plan those with room have no time left for it
        out[s] = "shift" if room else "capacity"
    return out
