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
