"""When each stop of a route is reached: the one timing rule every engine's plan is read with.

The courier leaves its position at its shift's start, drives (through the origin) to each stop
in turn, waits there for the first window that has not ended yet, serves, and drives on. A
route whose courier has a ``maxRouteSeconds`` leaves later when that is needed, by at most the
waiting it can absorb without delaying the route's end (so no window is missed).

Breaks: each break the courier owes (its latest start falls after the departure and it cannot
be over before it) is taken between two services - while driving (the drive pauses) or
waiting - as early as its window allows in the leg that gives the earliest plan; a route still
running at a break's latest start without having taken it is infeasible (reason ``shift``).

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
    breaks: tuple[tuple[int, int], ...] = ()  # (start, end) of each break taken


def window_for(windows: tuple[Window, ...], arrival: int) -> Window | None:
    """The first window that has not ended at ``arrival`` (None: all have)."""
    for w in windows:
        if w[1] >= arrival:
            return w
    return None


def _begin(inst: Instance, stop: int, ready: int) -> tuple[int, int, str | None]:
    """(service start, seconds late, reason it cannot be served) at ``stop`` from ``ready``."""
    windows = inst.windows_of(stop)
    if not windows:
        return ready, 0, None
    if windows[0][0] == NEVER:  # every window passed before time zero
        return ready, 0, "timeWindow"
    w = window_for(windows, ready)
    if w is not None:
        return max(ready, w[0]), 0, None
    if inst.soft_windows:
        return ready, ready - windows[-1][1], None
    return ready, 0, "timeWindow"


@dataclass(frozen=True)
class _State:
    clock: int  # service start at ``node`` (the departure time at the start node)
    node: int
    late: int
    reason: str | None
    arrivals: tuple[int, ...]
    begins: tuple[int, ...]
    taken: tuple[tuple[int, int], ...]

    def key(self) -> tuple[bool, int, int]:
        return (self.reason is not None, self.clock, self.late)


def _with_breaks(inst: Instance, vehicle: int, stops: list[int], depart: int) -> Schedule:
    """Breaks by dynamic programming over (leg, breaks taken so far), keeping the earliest
    state: breaks are taken as early as their windows allow within the leg chosen, the drive
    pausing for them (arrival = the later of the last break's end and drive + breaks)."""
    owed = [b for b in inst.breaks_of(vehicle) if b[1] >= depart and b[0] + b[2] > depart]
    svc = inst.service
    t = inst.travel_time
    end_node = inst.end
    states: dict[int, _State] = {0: _State(depart, inst.start(vehicle), 0, None, (), (), ())}
    for target in [*stops, end_node]:
        nxt: dict[int, _State] = {}
        for j, st in states.items():
            served = int(svc[st.node]) if svc is not None and st.node < inst.n_stops else 0
            leave = st.clock + served
            drive = int(t[st.node, target]) - served if target != end_node or stops else 0
            cur, paused, taken = leave, 0, st.taken
            for j2 in range(j, len(owed) + 1):
                if j2 > j:
                    b_start, b_latest, b_len = owed[j2 - 1]
                    begin_break = max(cur, b_start)
                    if begin_break > b_latest:
                        break
                    cur, paused = begin_break + b_len, paused + b_len
                    taken = (*taken, (begin_break, cur))
                ready = max(cur, leave + drive + paused)
                if target == end_node:
                    cand = _State(ready, target, st.late, st.reason, st.arrivals, st.begins, taken)
                else:
                    begin, late, why = _begin(inst, target, ready)
                    cand = _State(
                        begin,
                        target,
                        st.late + late,
                        st.reason or why,
                        (*st.arrivals, ready),
                        (*st.begins, begin),
                        taken,
                    )
                if j2 not in nxt or cand.key() < nxt[j2].key():
                    nxt[j2] = cand
        states = nxt
    finals = []
    for j, st in states.items():
        reason = st.reason
        if reason is None and any(b[1] < st.clock for b in owed[j:]):
            reason = "shift"  # a break owed while the route still runs was not taken
        if reason is None and st.clock > inst.shift(vehicle)[1]:
            reason = "shift"
        finals.append((reason is not None, st.clock, st.late, reason, st))
    _, _, _, reason, best = min(finals, key=lambda f: f[:3])
    return Schedule(
        reason is None,
        reason,
        depart,
        list(best.arrivals),
        list(best.begins),
        best.clock if stops else depart,
        best.late,
        best.taken if stops else (),
    )


def _forward(inst: Instance, vehicle: int, stops: list[int], depart: int) -> Schedule:
    if inst.breaks_of(vehicle) and stops:
        return _with_breaks(inst, vehicle, stops, depart)
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
    if inst.breaks_of(vehicle):  # no shortcut: try leaving later
        later = _forward(inst, vehicle, stops, first.start + need)
        if later.feasible and later.end - later.start <= limit:
            return later
        return Schedule(False, "shift", *_fields(first))
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


def _fields(
    s: Schedule,
) -> tuple[int, list[int], list[int], int, int, tuple[tuple[int, int], ...]]:
    return s.start, s.arrivals, s.begins, s.end, s.lateness, s.breaks
