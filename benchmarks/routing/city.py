"""Seeded city problems in logistica's problem JSON, for the model benchmark.

Stops sit in clustered neighbourhoods around a city centre, demands are 1-3, priorities are
heavy-tailed (most low, a few urgent), couriers are scattered over the city with capacities
8-30. The fleet is sized per scenario:

- ``plentiful``: total capacity >= 1.3 x total demand, open routes;
- ``short``: total capacity = 90 % of total demand (some stops must be dropped), open routes;
- ``return``: as plentiful, but every route returns to the origin.

Time-window scenarios (Solomon-style; capacity as plentiful; times in seconds from time zero):

- ``tight``: every stop has one 30-minute window; every courier works a 0-4 h shift; open routes.
- ``loose``: half of the stops have one 2-hour window, the rest none; couriers start at 0 h or
  2 h on 6-hour shifts with ``maxRouteSeconds`` = 5 h; routes return to the origin.
- ``breaks``: as ``tight`` with every other courier, each with twice its capacity (the fleet's
  time binds, not its capacity), and every courier owes a 30-minute break starting between
  1.5 h and 2.5 h into its shift (judged by ``breaks.py``; ``evaluator.py`` knows no breaks).

Each window is placed uniformly where some courier could reach the stop in time (earliest:
the earliest courier start + its drive to the origin + origin to stop; latest: the latest
shift end less the service time, less the way back with ``returnToOrigin``), so no stop is
unservable on its own; drops come from the fleet's time, not from impossible windows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCENARIOS = ("plentiful", "short", "return", "tight", "loose", "breaks")
TW_SCENARIOS = ("tight", "loose")
BREAK_SCENARIOS = ("breaks",)
BREAK = {"start": 5400, "end": 9000, "durationSeconds": 1800}  # seconds into the shift
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
    problem: dict[str, Any] = {
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
        "options": {
            "returnToOrigin": scenario in ("return", "loose"),
            "speedKmh": 30.0,
        },
    }
    if scenario in TW_SCENARIOS:
        _add_time_windows(problem, scenario, rng)
    if scenario in BREAK_SCENARIOS:  # half the couriers, twice the capacity: time binds
        problem["couriers"] = [
            {**c, "capacity": 2 * c["capacity"]} for c in problem["couriers"][::2]
        ]
        _add_time_windows(problem, "tight", rng)
        for c in problem["couriers"]:
            at = c["shift"]["start"]
            c["breaks"] = [{**BREAK, "start": at + BREAK["start"], "end": at + BREAK["end"]}]
    return problem


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine kilometres (generation only; the evaluator has its own)."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _add_time_windows(problem: dict[str, Any], scenario: str, rng: np.random.Generator) -> None:
    hour = 3600
    speed_kms = problem["options"]["speedKmh"] / 3600
    origin = (problem["origin"]["lat"], problem["origin"]["lng"])
    couriers = problem["couriers"]
    if scenario == "tight":
        width, share = 30 * 60, 1.0
        for c in couriers:
            c["shift"] = {"start": 0, "end": 4 * hour}
    else:
        width, share = 2 * hour, 0.5
        for k, c in enumerate(couriers):
            start = 0 if k % 2 == 0 else 2 * hour
            c["shift"] = {"start": start, "end": start + 6 * hour}
            c["maxRouteSeconds"] = 5 * hour
    at_origin = min(
        c["shift"]["start"] + _km((c["lat"], c["lng"]), origin) / speed_kms for c in couriers
    )
    last_end = max(
        min(c["shift"]["end"], c["shift"]["start"] + c.get("maxRouteSeconds", 10**9))
        for c in couriers
    )
    back = problem["options"]["returnToOrigin"]
    for s in problem["stops"]:
        if rng.random() >= share:
            continue
        leg = _km(origin, (s["lat"], s["lng"])) / speed_kms
        earliest = math.ceil(at_origin + leg)
        latest = math.floor(last_end - s["serviceSeconds"] - (leg if back else 0))
        start = earliest + int(rng.integers(0, max(1, latest - width - earliest + 1)))
        s["timeWindows"] = [{"start": start, "end": max(start, min(latest, start + width))}]
