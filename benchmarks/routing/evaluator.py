"""The benchmark's one judge: scores any solver's routes on a problem JSON.

Written from the README's objective ("The routing model"), independently of the product's
``evaluate.py``: haversine recomputed per arc, capacity and uniqueness checked, and drops
compared with a knapsack lower bound.

    objective = sum of route metres
              + sum over served stops of priority / 100 x 1 m/s x arrival second
    full      = objective + B x sum over dropped stops of (1 + priority)

A route starts at the courier's position, goes to the origin to load, then serves its stops in
order (and returns to the origin with ``returnToOrigin``); the clock starts at 0 at the courier,
travel time is distance / speed, a stop's service time is spent before leaving it. ``B`` is
larger than any routing cost of the instance, so ``full`` ranks plans by drops first.

Time windows and shifts (issue 13; times in integer seconds from time zero): the courier leaves
its position at ``shift.start`` (0 without a shift) or later; a stop reached before its window
opens waits, service starts at max(arrival, window start) and must start no later than the
window's end; the route ends at the last stop's departure (or back at the origin with
``returnToOrigin``), no later than ``shift.end``, and lasts (departure to end, waiting
included) at most ``maxRouteSeconds``. The judge leaves as early as it can: later only by as
much as ``maxRouteSeconds`` needs, which the waiting on the route absorbs without making a
window or the shift end late (if no such departure exists, the route is infeasible). The
arrival term prices the service start (arrival + wait) of that schedule.
Times are recomputed in floating point from haversine / speed. A solver that rounds each arc's
travel time to the nearest second may be up to half a second early per arc, so lateness of at
most ``TOLERANCE_S`` per arc driven so far counts as on time (peers round up and never need it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

R_EARTH = 6_371_008.8
TOLERANCE_S = 0.5  # per arc (see above)


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_EARTH * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Verdict:
    feasible: bool
    reason: str
    distance: float
    arrival: float
    dropped: int
    drop_weight: int  # sum of (1 + priority) over dropped stops
    drop_bound: int  # lower bound on the number of drops (capacity)
    weight_bound: int  # lower bound on drop_weight (knapsack)
    big_b: float

    @property
    def objective(self) -> float:
        return self.distance + self.arrival

    @property
    def full(self) -> float:
        return self.objective + self.big_b * self.drop_weight


def drop_bounds(demand: list[int], weight: list[int], capacity: int) -> tuple[int, int]:
    """Fewest drops and least dropped weight so the rest fits the fleet's total capacity
    (one big knapsack: a relaxation of the fleet, hence lower bounds)."""
    total = sum(demand)
    if total <= capacity:
        return 0, 0
    count, freed = 0, 0
    for d in sorted(demand, reverse=True):
        if total - freed <= capacity:
            break
        freed += d
        count += 1
    best = np.zeros(capacity + 1, dtype=np.int64)  # best[c]: max kept weight within load c
    for d, w in zip(demand, weight, strict=True):
        if d <= capacity:
            cand = best[: capacity + 1 - d] + w
            np.maximum(best[d:], cand, out=best[d:])
    return count, sum(weight) - int(best[capacity])


def _serve_at(clock: float, windows: list[dict[str, Any]], slack: float) -> tuple[float, float]:
    """Service start for an arrival at ``clock`` (waiting for the first window not closed
    ``slack`` seconds ago) and the latest start that window allows (+ slack); a start after
    that latest one means every window has closed."""
    if not windows:
        return clock, math.inf
    for w in sorted(windows, key=lambda w: float(w["start"])):
        if clock <= float(w["end"]) + slack:
            return max(clock, float(w["start"])), float(w["end"]) + slack
    return clock, float(windows[-1]["end"]) + slack


def evaluate(problem: dict[str, Any], routes: list[dict[str, Any]]) -> Verdict:
    """``routes``: ``[{"courierId": ..., "stops": [stop ids]}]``; every other stop is dropped."""
    stops = {s["id"]: s for s in problem["stops"]}
    couriers = {c["id"]: c for c in problem["couriers"]}
    opts = problem.get("options", {})
    speed = float(opts.get("speedKmh", 30.0)) / 3.6
    back = bool(opts.get("returnToOrigin", False))
    origin = (problem["origin"]["lat"], problem["origin"]["lng"])
    seen: set[str] = set()
    used: set[str] = set()
    reason = ""
    distance = arrival = 0.0
    for r in routes:
        cid, ids = r["courierId"], list(r["stops"])
        if not ids:
            continue
        if cid not in couriers:
            reason = reason or f"unknown courier {cid!r}"
            continue
        if cid in used:
            reason = reason or f"courier {cid!r} has two routes"
        used.add(cid)
        c = couriers[cid]
        load = 0
        shift = c.get("shift") or {}
        t0 = float(shift.get("start", 0))
        pos = (c["lat"], c["lng"])
        leg = haversine(pos, origin)
        dist, clock = leg, t0 + leg / speed
        pos = origin
        arcs = 0  # start -> origin -> first stop is one arc in a solver's matrix
        waited = 0.0
        # per served stop: (priority, service start, waiting so far, latest delay it takes)
        visits: list[tuple[int, float, float, float]] = []
        for sid in ids:
            if sid not in stops:
                reason = reason or f"unknown stop {sid!r}"
                continue
            if sid in seen:
                reason = reason or f"stop {sid!r} served twice"
            seen.add(sid)
            s = stops[sid]
            load += int(s.get("demand", 1))
            nxt = (s["lat"], s["lng"])
            leg = haversine(pos, nxt)
            dist += leg
            clock += leg / speed
            arcs += 1
            begin, close = _serve_at(clock, s.get("timeWindows") or [], arcs * TOLERANCE_S)
            if begin > close:
                reason = (
                    reason or f"stop {sid!r} reached {begin - close:.0f} s after its last window"
                )
            waited += begin - clock
            visits.append((int(s["priority"]), begin, waited, waited + close - begin))
            clock = begin + int(s.get("serviceSeconds", 0))
            pos = nxt
        if back:
            leg = haversine(pos, origin)
            dist += leg
            clock += leg / speed
            arcs += 1
        end = float(shift["end"]) + arcs * TOLERANCE_S if "end" in shift else math.inf
        if clock > end:
            reason = reason or f"courier {cid!r} ends at {clock:.0f} s > shift end {shift['end']}"
        # leave later by `delay` if maxRouteSeconds needs it; waiting absorbs it up to `waited`
        max_route = c.get("maxRouteSeconds")
        delay = 0.0
        if max_route is not None:
            delay = max(0.0, clock - t0 - float(max_route) - arcs * TOLERANCE_S)
            room = min([waited, end - clock + waited] + [v[3] for v in visits])
            if delay > room:
                reason = reason or (
                    f"courier {cid!r} works {clock - t0 - room:.0f} s > maxRouteSeconds"
                )
        for prio, begin, waited_before, _ in visits:
            arrival += prio / 100 * (begin + max(0.0, delay - waited_before))
        if load > c["capacity"]:
            reason = reason or f"courier {cid!r} carries {load} > capacity {c['capacity']}"
        distance += dist
    dropped = [s for sid, s in stops.items() if sid not in seen]
    demand = [int(s.get("demand", 1)) for s in problem["stops"]]
    weight = [1 + int(s["priority"]) for s in problem["stops"]]
    capacity = sum(int(c["capacity"]) for c in problem["couriers"])
    count_lb, weight_lb = drop_bounds(demand, weight, capacity)
    # B: more than any plan's routing cost (every stop reached from the farthest courier,
    # at the latest possible time)
    far = max(haversine((c["lat"], c["lng"]), origin) for c in problem["couriers"])
    spread = max(haversine(origin, (s["lat"], s["lng"])) for s in problem["stops"])
    per_stop = far + 2 * spread + 10
    horizon = len(stops) * (
        per_stop / speed + max(int(s.get("serviceSeconds", 0)) for s in stops.values())
    )
    latest = [float(w["end"]) for st in stops.values() for w in st.get("timeWindows") or []]
    latest += [float(c["shift"]["end"]) for c in problem["couriers"] if c.get("shift")]
    horizon += max(latest, default=0.0)  # waiting for windows can push every arrival this late
    big_b = len(stops) * (per_stop + horizon) + 1
    return Verdict(
        feasible=not reason,
        reason=reason,
        distance=distance,
        arrival=arrival,
        dropped=len(dropped),
        drop_weight=sum(1 + int(s["priority"]) for s in dropped),
        drop_bound=count_lb,
        weight_bound=weight_lb,
        big_b=big_b,
    )
