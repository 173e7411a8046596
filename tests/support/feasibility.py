"""An independent checker of routing solutions: it shares no code with the solver.

Checks: known couriers, one route each; every stop served at most once and either served or
unassigned; loads recomputed and within capacity; distances recomputed with an independent
haversine; drops only when capacity is short; lower priority dropped first.
"""

from __future__ import annotations

import itertools
import math
from typing import Any


def haversine_m(a: dict[str, float], b: dict[str, float]) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lng"] - a["lng"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def check(problem: dict[str, Any], solution: dict[str, Any]) -> list[str]:
    """Every violation found (empty when feasible)."""
    errors: list[str] = []
    stops = {s.get("id", str(i)): s for i, s in enumerate(problem["stops"])}
    couriers = {c["id"]: c for c in problem["couriers"]}
    back = bool((problem.get("options") or {}).get("returnToOrigin", False))
    origin = problem["origin"]
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
        if load > couriers[cid]["capacity"]:
            errors.append(f"courier {cid} load {load} > capacity {couriers[cid]['capacity']}")
        if route.get("load") != load:
            errors.append(f"courier {cid} reports load {route.get('load')}, actual {load}")
        if route["stops"]:
            path = [couriers[cid], origin] + [stops[s] for s in route["stops"] if s in stops]
            if back:
                path.append(origin)
            dist = sum(haversine_m(a, b) for a, b in itertools.pairwise(path))
            if abs(dist - route["distanceMeters"]) > 1.0 * len(path):
                errors.append(f"courier {cid} distance {route['distanceMeters']} != {dist:.0f}")
    unassigned = solution["unassigned"]
    for sid in unassigned:
        if sid in seen:
            errors.append(f"stop {sid} both served and unassigned")
    missing = set(stops) - set(seen) - set(unassigned)
    if missing:
        errors.append(f"stops neither served nor unassigned: {sorted(missing)}")
    for sid in unassigned:
        d = int(stops[sid].get("demand", 1))
        spare = [c for c in couriers if couriers[c]["capacity"] - loads.get(c, 0) >= d]
        if spare:
            errors.append(f"stop {sid} dropped although {spare[0]} has room for it")
        for served, cid in seen.items():
            s = stops[served]
            room = couriers[cid]["capacity"] - loads[cid] + int(s.get("demand", 1))
            if stops[sid]["priority"] > s["priority"] and d <= room:
                errors.append(
                    f"stop {sid} (priority {stops[sid]['priority']}) dropped while "
                    f"{served} (priority {s['priority']}) is served in its place"
                )
                break
    return errors
