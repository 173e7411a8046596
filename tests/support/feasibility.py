"""An independent checker of routing solutions: it shares no code with the solver.

Checks: known couriers, one route each; every stop served at most once and either served or
unassigned; loads recomputed and within capacity; distances recomputed with an independent
haversine, or summed from the problem's matrix (no unreachable arc used); drops only when
capacity is short (or every place for the stop needs an unreachable arc); lower priority dropped
first. With times (windows, shifts, maxRouteSeconds): every ETA recomputed from the route
(haversine / speed or the matrix's durations, service times, waiting for the first window not yet
ended) and compared with the answer's; hard windows, shift ends and route limits respected; each
unassigned stop has a reason that holds. Re-planning: a courier's ``committed`` stops come first
on its route, in their order, driven from its position; its room is reduced by its load on board.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from typing import Any

REASONS = {"capacity", "timeWindow", "shift", "unreachable"}


def haversine_m(a: dict[str, float], b: dict[str, float]) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lng"] - a["lng"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


class Legs:
    """Metres between the problem's locations (None = unreachable), by index in the order
    origin, stops, couriers: the matrix's distances if given, else haversine."""

    def __init__(self, problem: dict[str, Any]) -> None:
        self.points = [problem["origin"], *problem["stops"], *problem["couriers"]]
        matrix = problem.get("matrix") or {}
        self.distances = matrix.get("distances")
        self.durations = matrix.get("durations")

    def __call__(self, a: int, b: int) -> float | None:
        if a == b:
            return 0.0
        if self.durations is not None and self.durations[a][b] is None:
            return None
        if self.distances is not None:
            d = self.distances[a][b]
            return None if d is None else float(d)
        return haversine_m(self.points[a], self.points[b])


def _insertable(legs: Legs, path: list[int], stop: int) -> bool:
    """Whether ``stop`` fits somewhere after the origin in ``path`` over reachable arcs."""
    for pos in range(path.index(0), len(path)):
        after = path[pos + 1] if pos + 1 < len(path) else None
        if legs(path[pos], stop) is not None and (after is None or legs(stop, after) is not None):
            return True
    return False


def check(problem: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    """Every violation found (empty when feasible)."""
    errors: list[str] = []
    stops = {s.get("id", str(i)): s for i, s in enumerate(problem["stops"])}
    couriers = {c["id"]: c for c in problem["couriers"]}
    back = bool((problem.get("options") or {}).get("returnToOrigin", False))
    legs = Legs(problem)
    stop_at = {sid: 1 + i for i, sid in enumerate(stops)}
    courier_at = {cid: 1 + len(stops) + k for k, cid in enumerate(couriers)}
    paths: dict[str, list[int]] = {}
    room = {cid: c["capacity"] - int(c.get("load", 0)) for cid, c in couriers.items()}
    committed = {sid for c in couriers.values() for sid in c.get("committed") or []}
    seen: dict[str, str] = {}
    loads: dict[str, int] = {}
    used_couriers: set[str] = set()
    for route in solution["routes"]:
        cid = route["courierId"]
        if cid not in couriers:
            errors.append(f"route for unknown courier {cid}")
            continue
        if cid in used_couriers:
            errors.append(f"courier {cid} has two routes")
        used_couriers.add(cid)
        load = 0
        for sid in route["stops"]:
            if sid not in stops:
                errors.append(f"unknown stop {sid}")
                continue
            if sid in seen:
                errors.append(f"stop {sid} served twice ({seen[sid]} and {cid})")
            seen[sid] = cid
            load += int(stops[sid].get("demand", 1))
        loads[cid] = load
        if load > room[cid]:
            errors.append(f"courier {cid} load {load} > room {room[cid]} (capacity - load)")
        if route.get("load") != load:
            errors.append(f"courier {cid} reports load {route.get('load')}, actual {load}")
        promised = couriers[cid].get("committed") or []
        if route["stops"][: len(promised)] != promised:
            errors.append(f"courier {cid} does not start with its committed stops {promised}")
        if route["stops"]:
            known = [stop_at[s] for s in route["stops"] if s in stops]
            first, rest = known[: len(promised)], known[len(promised) :]
            nodes = [courier_at[cid], *first] + ([0, *rest] if rest or not first else [])
            paths[cid] = nodes if 0 in nodes else [*nodes, 0]
            if back:
                nodes = [*nodes, 0]
            leg = [legs(a, b) for a, b in itertools.pairwise(nodes)]
            if None in leg:
                errors.append(f"courier {cid} drives an unreachable arc")
                continue
            dist = sum(x for x in leg if x is not None)
            if abs(dist - route["distanceMeters"]) > 1.0 * len(nodes):
                errors.append(f"courier {cid} distance {route['distanceMeters']} != {dist:.0f}")
    for cid, c in couriers.items():
        if c.get("committed") and cid not in used_couriers:
            errors.append(f"courier {cid} has committed stops but no route")
    unassigned = solution["unassigned"]
    for sid in unassigned:
        if sid in seen:
            errors.append(f"stop {sid} both served and unassigned")
    missing = set(stops) - set(seen) - set(unassigned)
    if missing:
        errors.append(f"stops neither served nor unassigned: {sorted(missing)}")
    errors += check_committed(problem, solution)
    clock = Clock(problem)
    for route in solution["routes"]:
        if route["courierId"] in couriers:
            errors += check_times(problem, clock, route)
    errors += check_reasons(problem, clock, solution, loads)
    if is_timed(problem):
        return errors
    for sid in unassigned:
        d = int(stops[sid].get("demand", 1))
        spare = [c for c in couriers if room[c] - loads.get(c, 0) >= d]
        if legs.distances is not None or legs.durations is not None:
            spare = [
                c
                for c in spare
                if _insertable(legs, paths.get(c, [courier_at[c], 0]), stop_at[sid])
            ]
        if spare:
            errors.append(f"stop {sid} dropped although {spare[0]} has room for it")
        for served, cid in seen.items():
            s = stops[served]
            if served in committed:
                continue  # promised: never swapped out
            left = room[cid] - loads[cid] + int(s.get("demand", 1))
            swappable = stops[sid]["priority"] > s["priority"] and d <= left
            if swappable and cid in paths:  # over reachable arcs only
                path = paths[cid]
                at = path.index(stop_at[served])
                nxt = path[at + 1] if at + 1 < len(path) else None
                new_in = legs(path[at - 1], stop_at[sid])
                new_out = 0.0 if nxt is None else legs(stop_at[sid], nxt)
                swappable = new_in is not None and new_out is not None
            if swappable:
                errors.append(
                    f"stop {sid} (priority {stops[sid]['priority']}) dropped while "
                    f"{served} (priority {s['priority']}) is served in its place"
                )
                break
    return errors


def check_committed(problem: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    """A courier's ``committed`` stops are on its route, in the committed order; with
    ``keepPreviousCouriers`` no stop of the previous plan is on another courier's route."""
    errors: list[str] = []
    routes = {r["courierId"]: r["stops"] for r in solution["routes"]}
    for courier in problem["couriers"]:
        committed = courier.get("committed") or []
        route = routes.get(courier["id"], [])
        on_route = [sid for sid in route if sid in set(committed)]
        if on_route != committed:
            errors.append(
                f"courier {courier['id']} serves its committed stops as {on_route}, not {committed}"
            )
    if (problem.get("options") or {}).get("keepPreviousCouriers") and problem.get("previousPlan"):
        before = {
            sid: r["courierId"] for r in problem["previousPlan"]["routes"] for sid in r["stops"]
        }
        for cid, stops in routes.items():
            for sid in stops:
                if before.get(sid, cid) != cid:
                    errors.append(
                        f"stop {sid} moved from {before[sid]} to {cid} (keepPreviousCouriers)"
                    )
    return errors


def is_timed(problem: dict[str, Any]) -> bool:
    return any(s.get("timeWindows") for s in problem["stops"]) or any(
        "shift" in c or "maxRouteSeconds" in c or c.get("breaks") for c in problem["couriers"]
    )


class Clock:
    """Times of one problem in seconds from its time zero, parsed here (not by the solver)."""

    def __init__(self, problem: dict[str, Any]) -> None:
        start = problem.get("startTime")
        self.zero = datetime.fromisoformat(start) if start else None
        self.speed = float((problem.get("options") or {}).get("speedKmh", 30)) / 3.6
        points = [problem["origin"], *problem["stops"], *problem["couriers"]]
        self.index = {id(p): i for i, p in enumerate(points)}  # the problem's own dicts
        self.legs = Legs(problem)

    def seconds(self, value: int | str) -> float:
        if isinstance(value, str):
            assert self.zero is not None, f"RFC 3339 time {value} without startTime"
            return (datetime.fromisoformat(value) - self.zero).total_seconds()
        return float(value)

    def windows(self, stop: dict[str, Any]) -> list[tuple[float, float]]:
        return [
            (self.seconds(w["start"]), self.seconds(w["end"])) for w in stop.get("timeWindows", [])
        ]

    def shift(self, courier: dict[str, Any]) -> tuple[float, float]:
        if "shift" not in courier:
            return 0.0, math.inf
        start, end = self.seconds(courier["shift"]["start"]), self.seconds(courier["shift"]["end"])
        return max(0.0, start), max(0.0, end)  # nothing happens before time zero

    def travel(self, a: dict[str, float], b: dict[str, float]) -> float:
        """Seconds: the matrix's durations, else its distances (or haversine) / speed."""
        i, j = self.index.get(id(a)), self.index.get(id(b))
        if i is None or j is None:
            return haversine_m(a, b) / self.speed
        durations = self.legs.durations
        if durations is not None:
            value = durations[i][j] if i != j else 0.0
            return math.inf if value is None else float(value)
        metres = self.legs(i, j)
        return math.inf if metres is None else metres / self.speed


def check_times(problem: dict[str, Any], clock: Clock, route: dict[str, Any]) -> list[str]:
    """ETAs recomputed along the route, then windows, shift and route limit."""
    errors: list[str] = []
    cid = route["courierId"]
    courier = next(c for c in problem["couriers"] if c["id"] == cid)
    stops = {s.get("id", str(i)): s for i, s in enumerate(problem["stops"])}
    soft = bool((problem.get("options") or {}).get("softTimeWindows", False))
    back = bool((problem.get("options") or {}).get("returnToOrigin", False))
    origin = problem["origin"]
    shift_start, shift_end = clock.shift(courier)
    visits = route.get("visits", [])
    if [v["stopId"] for v in visits] != route["stops"]:
        errors.append(f"courier {cid}: visits {visits} do not follow stops {route['stops']}")
        return errors
    start = clock.seconds(route["start"])
    if start < shift_start - 1:
        errors.append(f"courier {cid} leaves at {start}, before its shift starts ({shift_start})")
    taken = sorted(
        (clock.seconds(b["start"]), clock.seconds(b["end"])) for b in route.get("breaks", [])
    )
    pending = list(taken)

    def leg(leave: float, drive: float, reached: float, tol: float) -> float:
        """When the courier is ready at the leg's end: the drive pauses for the breaks the
        answer places in this leg (those starting before it is ready there)."""
        inside = [b for b in pending if b[0] < reached + tol]
        del pending[: len(inside)]
        for b_start, _ in inside:
            if b_start < leave - tol:
                errors.append(f"courier {cid}: break at {b_start} overlaps a service")
        paused = sum(b - a for a, b in inside)
        return max([leave + drive + paused] + [b for _, b in inside])

    t = start
    here: dict[str, float] = courier
    committed = len(courier.get("committed") or [])  # served first, from the position
    load = 0
    for k, visit in enumerate(visits):
        tol = 2.0 + k  # one second of rounding per leg
        stop = stops[visit["stopId"]]
        if k < committed:  # committed stops: straight from the position, goods on board
            drive = clock.travel(here, stop)
        elif k == committed:  # to the origin to load, then on
            drive = clock.travel(here, origin) + clock.travel(origin, stop)
        else:
            drive = clock.travel(here, stop)
        arrival = clock.seconds(visit["arrival"])
        t = leg(t, drive, arrival, tol)
        if abs(arrival - t) > tol:
            errors.append(
                f"courier {cid}: arrival at {visit['stopId']} {arrival}, recomputed {t:.0f}"
            )
        t = arrival  # rounding does not accumulate beyond one leg
        windows = clock.windows(stop)
        begin = t
        # the answer's own arrival (checked above) picks the window, as it did for the solver
        open_ = [w for w in windows if w[1] >= t]
        if open_:
            begin = max(t, open_[0][0])
        elif windows and not soft and windows[-1][1] < t - tol:
            errors.append(
                f"courier {cid} reaches {visit['stopId']} at {t:.0f}, after its windows {windows}"
            )
        if abs(visit["waitSeconds"] - (begin - t)) > tol:
            errors.append(
                f"courier {cid}: wait at {visit['stopId']} {visit['waitSeconds']}, recomputed {begin - t:.0f}"
            )
        t = begin + int(stop.get("serviceSeconds", 0))
        if abs(clock.seconds(visit["departure"]) - t) > tol:
            errors.append(
                f"courier {cid}: departure from {visit['stopId']} {visit['departure']}, recomputed {t:.0f}"
            )
        load += int(stop.get("demand", 1))
        if visit["loadAfter"] != load:
            errors.append(
                f"courier {cid}: loadAfter at {visit['stopId']} {visit['loadAfter']}, recomputed {load}"
            )
        here = stop
    if visits:
        reported_end = clock.seconds(route["end"])
        t = leg(t, clock.travel(here, origin) if back else 0.0, reported_end, 2.0 + len(visits))
    errors += check_breaks(clock, courier, cid, start, clock.seconds(route["end"]), taken)
    end = clock.seconds(route["end"])
    tol = 2.0 + len(visits)
    if abs(end - t) > tol:
        errors.append(f"courier {cid}: route end {end}, recomputed {t:.0f}")
    if end > shift_end + tol:
        errors.append(f"courier {cid} ends at {end}, after its shift ({shift_end})")
    limit = courier.get("maxRouteSeconds")
    if limit is not None and end - start > limit + tol:
        errors.append(f"courier {cid} route lasts {end - start:.0f} s > maxRouteSeconds {limit}")
    if abs(route["durationSeconds"] - (end - start)) > tol:
        errors.append(f"courier {cid}: durationSeconds {route['durationSeconds']} != end - start")
    return errors


def check_breaks(
    clock: Clock,
    courier: dict[str, Any],
    cid: str,
    start: float,
    end: float,
    taken: list[tuple[float, float]],
) -> list[str]:
    """Every break owed (the route still runs at its latest start, and it could not be over
    before the courier left) is taken inside its window and for its whole length."""
    errors: list[str] = []
    left = list(taken)
    for b in courier.get("breaks", []):
        earliest = max(0.0, clock.seconds(b["start"]))
        latest, length = clock.seconds(b["end"]), b["durationSeconds"]
        owed = latest >= start and earliest + length > start and latest < end
        match = [
            x for x in left if earliest - 2 <= x[0] <= latest + 2 and x[1] - x[0] >= length - 1
        ]
        if match:
            left.remove(match[0])
        elif owed:
            errors.append(f"courier {cid} owes a break {b} but takes none in its window")
    if left:
        errors.append(f"courier {cid} takes breaks {left} it does not have")
    return errors


def _free_from(
    clock: Clock,
    courier: dict[str, Any],
    stops: dict[str, dict[str, Any]],
    route: dict[str, Any] | None,
) -> tuple[float, dict[str, Any]]:
    """When and where a courier is free for new stops: at its position from its shift start
    or ``availableAt``; with committed stops, at the last one once it is served (the answer's
    departure there, which ``check_route`` recomputes)."""
    ready = clock.shift(courier)[0]
    if courier.get("availableAt") is not None:
        ready = max(ready, clock.seconds(courier["availableAt"]))
    committed = courier.get("committed") or []
    if committed and route is not None and len(route.get("visits", [])) >= len(committed):
        last = route["visits"][len(committed) - 1]
        return clock.seconds(last["departure"]), stops[committed[-1]]
    return ready, courier


def check_reasons(
    problem: dict[str, Any], clock: Clock, solution: dict[str, Any], loads: dict[str, int]
) -> list[str]:
    """Every unassigned stop has a reason, and the reason holds."""
    errors: list[str] = []
    stops = {s.get("id", str(i)): s for i, s in enumerate(problem["stops"])}
    soft = bool((problem.get("options") or {}).get("softTimeWindows", False))
    reasons = {r["stopId"]: r["reason"] for r in solution.get("unassignedReasons", [])}
    routes = {r["courierId"]: r for r in solution["routes"]}
    if set(reasons) != set(solution["unassigned"]):
        errors.append(
            f"reasons for {sorted(reasons)} but unassigned {sorted(solution['unassigned'])}"
        )
    for sid, reason in reasons.items():
        if reason not in REASONS:
            errors.append(f"stop {sid}: unknown reason {reason}")
            continue
        stop = stops[sid]
        demand = int(stop.get("demand", 1))
        able = [c for c in problem["couriers"] if c["capacity"] >= demand]
        windows = clock.windows(stop)
        # the earliest any courier able to carry it could start serving it: from its position
        # when it is available, or (re-planning) from its last committed stop once served
        reach = []
        for c in able:
            ready, here = _free_from(clock, c, stops, routes.get(c["id"]))
            reach.append(
                ready
                + clock.travel(here, problem["origin"])
                + clock.travel(problem["origin"], stop)
            )
        in_time = not windows or soft or any(t <= windows[-1][1] + 2 for t in reach)
        if reason == "timeWindow" and (in_time and able):
            errors.append(
                f"stop {sid} is 'timeWindow' but a courier reaches it at {min(reach):.0f} within {windows}"
            )
        if reason == "capacity" and able:
            room = [
                c["id"]
                for c in able
                if c["capacity"] - int(c.get("load", 0)) - loads.get(c["id"], 0) >= demand
            ]
            if room:
                errors.append(f"stop {sid} is 'capacity' but {room[0]} has room for it")
        if reason == "shift" and not (able and in_time):
            errors.append(f"stop {sid} is 'shift' but no courier reaches it inside a window")
    return errors
