"""Generated routing problems for tests (deterministic by seed)."""

from __future__ import annotations

import random
from typing import Any


def city_problem(
    n_stops: int,
    n_couriers: int,
    seed: int,
    capacity: int = 10,
    time_limit: int = 1,
    **options: Any,
) -> dict[str, Any]:
    rnd = random.Random(seed)
    lat0, lng0 = 38.72, -9.14

    def point() -> dict[str, float]:
        return {
            "lat": round(lat0 + rnd.uniform(-0.05, 0.05), 5),
            "lng": round(lng0 + rnd.uniform(-0.07, 0.07), 5),
        }

    return {
        "origin": {"lat": lat0, "lng": lng0},
        "stops": [
            {"id": f"s{i}", **point(), "priority": rnd.randint(0, 100), "demand": rnd.randint(1, 3)}
            for i in range(n_stops)
        ],
        "couriers": [{"id": f"c{k}", **point(), "capacity": capacity} for k in range(n_couriers)],
        "options": {"timeLimitSeconds": time_limit, **options},
    }


def timed_problem(
    n_stops: int,
    n_couriers: int,
    seed: int,
    capacity: int = 10,
    time_limit: int = 1,
    two_windows: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """``city_problem`` with delivery slots: two stops in three get a window (30-90 min, in the
    first 4 h; with ``two_windows`` every third windowed stop a second one later), service
    times, and couriers on shifts (starting in the first 30 min, 4-6 h long)."""
    doc = city_problem(n_stops, n_couriers, seed, capacity, time_limit, **options)
    rnd = random.Random(seed * 7919 + 1)
    for i, stop in enumerate(doc["stops"]):
        stop["serviceSeconds"] = rnd.randint(60, 300)
        if i % 3 == 2:
            continue
        start = rnd.randint(0, 4 * 3600)
        windows = [{"start": start, "end": start + rnd.randint(1800, 5400)}]
        if two_windows and i % 3 == 0:
            later = windows[0]["end"] + rnd.randint(1800, 3600)
            windows.append({"start": later, "end": later + 3600})
        stop["timeWindows"] = windows
    for courier in doc["couriers"]:
        start = rnd.randint(0, 1800)
        courier["shift"] = {"start": start, "end": start + rnd.randint(4, 6) * 3600}
    return doc
