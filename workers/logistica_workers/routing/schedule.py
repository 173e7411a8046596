"""When each stop of a route is reached: the one timing rule every engine's plan is read with.

The courier leaves its position at its shift's start, drives (through the origin) to each stop
in turn, waits there for the first window that has not ended yet, serves, and drives on. A
route whose courier has a ``maxRouteSeconds`` leaves later when that is needed, by at most the
waiting it can absorb without delaying the route's end (so no window is missed).

Hard windows: a stop reached after its last window makes the route infeasible (reason
``timeWindow``); a route ending after its shift or longer than its limit is infeasible (reason
``shift``). Soft windows: service after the last window is allowed and its lateness counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from logistica_workers.routing.instance import NEVER, Instance, Window


@dataclass(frozen=True)
class Schedule:
    feasible: bool
    reason: str | None  # why not: "timeWindow" | "shift"
    start: int  # the courier leaves its position
    arrivals: list[int]  # per stop of the route
    begins: list[int]  # service starts (arrival + wait)
    end: int  # the last departure, or back at the origin
    lateness: int  # seconds after the last window, summed (soft windows)


def window_for(windows: tuple[Window, ...], arrival: int) -> Window | None:
    """The first window that has not ended at ``arrival`` (None: all have)."""
    for w in windows:
        if w[1] >= arrival:
            return w
    return None


def _forward(inst: Instance, vehicle: int, stops: list[int], depart: int) -> Schedule:
    t = inst.travel_time
    clock = depart
    node = inst.start(vehicle)
    arrivals: list[int] = []
    begins: list[int] = []
    late = 0
    reason: str | None = None
    for s in stops:
        arrive = clock + int(t[node, s])
        begin = arrive
        windows = inst.windows_of(s)
        if windows:
            w = window_for(windows, arrive)
            if windows[0][0] == NEVER:  # every window passed before time zero
                reason = reason or "timeWindow"
            elif w is not None:
                begin = max(arrive, w[0])
            elif inst.soft_windows:
                late += arrive - windows[-1][1]
            else:
                reason = reason or "timeWindow"
        arrivals.append(arrive)
        begins.append(begin)
        clock, node = begin, s
    end = clock + int(t[node, inst.end]) if stops else depart
    if reason is None and end > inst.shift(vehicle)[1]:
        reason = "shift"
    return Schedule(reason is None, reason, depart, arrivals, begins, end, late)


def schedule(inst: Instance, vehicle: int, stops: list[int]) -> Schedule:
    """The route's times (see the module docstring)."""
    first = _forward(inst, vehicle, stops, inst.shift(vehicle)[0])
    limit = inst.duration_limit(vehicle)
    if not first.feasible or limit is None or not stops or first.end - first.start <= limit:
        return first
    need = first.end - first.start - limit
    # leaving later by d shifts stop k by max(0, d - waits up to k): it must stay in its window
    absorbable = 0
    room = need
    for k, s in enumerate(stops):
        absorbable += first.begins[k] - first.arrivals[k]
        windows = inst.windows_of(s)
        w = window_for(windows, first.arrivals[k])
        # no window: any time will do; else stay inside it (a late stop gets no later)
        slack = need if not windows else (w[1] - first.begins[k] if w is not None else 0)
        room = min(room, absorbable + max(0, slack))
    if room < need or absorbable < need:
        return Schedule(False, "shift", *_fields(first))
    later = _forward(inst, vehicle, stops, first.start + need)
    if later.end != first.end or not later.feasible:
        return Schedule(False, "shift", *_fields(first))
    return later


def _fields(s: Schedule) -> tuple[int, list[int], list[int], int, int]:
    return s.start, s.arrivals, s.begins, s.end, s.lateness
