"""Seeded city problems in logistica's problem JSON, for the model benchmark.

Stops sit in clustered neighbourhoods around a city centre, demands are 1-3, priorities are
heavy-tailed (most low, a few urgent), couriers are scattered over the city with capacities
8-30. The fleet is sized per scenario:

- ``plentiful``: total capacity >= 1.3 x total demand, open routes;
- ``short``: total capacity = 90 % of total demand (some stops must be dropped), open routes;
- ``return``: as plentiful, but every route returns to the origin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCENARIOS = ("plentiful", "short", "return")
CENTRE = (38.7223, -9.1393)  # Lisbon
KM_PER_DEG_LAT = 111.2


def _offsets_deg(rng: np.random.Generator, n: int, radius_km: float) -> np.ndarray:
    """Uniform points in a disc, as (dlat, dlng) degrees around CENTRE."""
    r = radius_km * np.sqrt(rng.random(n))
    a = rng.random(n) * 2 * math.pi
    dlat = r * np.sin(a) / KM_PER_DEG_LAT
    dlng = r * np.cos(a) / (KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[0])))
    return np.column_stack([dlat, dlng])


def generate(n_stops: int, scenario: str, seed: int) -> dict[str, Any]:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    rng = np.random.default_rng([n_stops, SCENARIOS.index(scenario), seed])
    n_hoods = max(2, n_stops // 40)
    hoods = _offsets_deg(rng, n_hoods, 9.0)
    which = rng.integers(0, n_hoods, n_stops)
    spread_km = rng.uniform(0.3, 1.2, n_hoods)[which]
    jitter = rng.normal(0.0, 1.0, (n_stops, 2)) * spread_km[:, None] / KM_PER_DEG_LAT
    stops_deg = hoods[which] + jitter
    demand = rng.choice([1, 2, 3], size=n_stops, p=[0.5, 0.3, 0.2])
    priority = np.minimum(100, np.floor(rng.pareto(1.2, n_stops) * 8)).astype(int)
    service = rng.integers(60, 241, n_stops)
    total = int(demand.sum())
    target = math.ceil(1.3 * total) if scenario != "short" else math.floor(0.9 * total)
    capacities: list[int] = []
    while sum(capacities) < target:
        capacities.append(int(rng.integers(8, 31)))
    if scenario == "short":  # trim the last courier so capacity is exactly 90 % of demand
        capacities[-1] -= sum(capacities) - target
        if capacities[-1] < 1:
            capacities.pop()
    couriers_deg = _offsets_deg(rng, len(capacities), 11.0)
    origin_deg = _offsets_deg(rng, 1, 2.0)[0]
    return {
        "origin": {"lat": CENTRE[0] + origin_deg[0], "lng": CENTRE[1] + origin_deg[1]},
        "stops": [
            {
                "id": f"s{i}",
                "lat": round(CENTRE[0] + float(stops_deg[i, 0]), 6),
                "lng": round(CENTRE[1] + float(stops_deg[i, 1]), 6),
                "priority": int(priority[i]),
                "demand": int(demand[i]),
                "serviceSeconds": int(service[i]),
            }
            for i in range(n_stops)
        ],
        "couriers": [
            {
                "id": f"c{k}",
                "lat": round(CENTRE[0] + float(couriers_deg[k, 0]), 6),
                "lng": round(CENTRE[1] + float(couriers_deg[k, 1]), 6),
                "capacity": cap,
            }
            for k, cap in enumerate(capacities)
        ],
        "options": {"returnToOrigin": scenario == "return", "speedKmh": 30.0},
    }
