"""The routing benchmarks' independent judges: time windows, shifts and the VRPTW scoring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "routing"
sys.path.insert(0, str(BENCH))

import city  # noqa: E402
import evaluator  # noqa: E402
import vrptw  # noqa: E402

# 0.01 degree of latitude is 1,111.95 m; at 3.6 km/h (1 m/s) that many seconds.
LEG = 1111.95


def line_problem(**courier: Any) -> dict[str, Any]:
    """Origin and the courier at lat 0; stop a at 0.01, stop b at 0.02 (north, 1 m/s)."""
    return {
        "origin": {"lat": 0.0, "lng": 0.0},
        "stops": [
            {"id": "a", "lat": 0.01, "lng": 0.0, "priority": 100, "serviceSeconds": 100},
            {"id": "b", "lat": 0.02, "lng": 0.0, "priority": 0, "serviceSeconds": 0},
        ],
        "couriers": [{"id": "c", "lat": 0.0, "lng": 0.0, "capacity": 5, **courier}],
        "options": {"speedKmh": 3.6},
    }


def test_waiting_for_a_window_moves_the_service_start() -> None:
    p = line_problem()
    p["stops"][0]["timeWindows"] = [{"start": 2000, "end": 2500}]
    v = evaluator.evaluate(p, [{"courierId": "c", "stops": ["a", "b"]}])
    assert v.feasible, v.reason
    assert v.arrival == pytest.approx(2000.0)  # priority 100 x the service start, not 1,112 s
    assert v.distance == pytest.approx(2 * LEG, rel=1e-3)


def test_a_late_arrival_is_infeasible_and_names_the_stop() -> None:
    p = line_problem()
    p["stops"][1]["timeWindows"] = [{"start": 0, "end": 1500}]  # b is reached at ~2,324 s
    v = evaluator.evaluate(p, [{"courierId": "c", "stops": ["a", "b"]}])
    assert not v.feasible
    assert "'b'" in v.reason and "window" in v.reason
    # b first is reached at ~2,224 s (no service at a before it): on time for a 2,300 end
    p["stops"][1]["timeWindows"] = [{"start": 0, "end": 2300}]
    assert evaluator.evaluate(p, [{"courierId": "c", "stops": ["b", "a"]}]).feasible


def test_the_second_window_serves_a_stop_that_missed_the_first() -> None:
    p = line_problem()
    p["stops"][0]["timeWindows"] = [{"start": 0, "end": 500}, {"start": 3000, "end": 3100}]
    v = evaluator.evaluate(p, [{"courierId": "c", "stops": ["a"]}])
    assert v.feasible, v.reason
    assert v.arrival == pytest.approx(3000.0)


def test_shift_start_end_and_max_route_seconds_are_checked() -> None:
    ok = line_problem(shift={"start": 1000, "end": 3500})
    v = evaluator.evaluate(ok, [{"courierId": "c", "stops": ["a", "b"]}])
    assert v.feasible, v.reason
    assert v.arrival == pytest.approx(1000 + LEG, rel=1e-3)  # the clock starts at the shift
    short = line_problem(shift={"start": 1000, "end": 3000})  # ends at ~3,324 s
    v = evaluator.evaluate(short, [{"courierId": "c", "stops": ["a", "b"]}])
    assert not v.feasible and "shift end" in v.reason
    capped = line_problem(shift={"start": 1000, "end": 9000}, maxRouteSeconds=2000)
    v = evaluator.evaluate(capped, [{"courierId": "c", "stops": ["a", "b"]}])
    assert not v.feasible and "maxRouteSeconds" in v.reason
    assert evaluator.evaluate(capped, [{"courierId": "c", "stops": ["a"]}]).feasible


def test_max_route_seconds_leaves_later_when_waiting_absorbs_it() -> None:
    """a opens at 5,000: leaving at 1,000 waits 2,888 s there; the route (1,000 to ~6,224) fits
    3,000 s by leaving up to 2,888 s later, so a still starts at 5,000; not 2,000 s."""
    p = line_problem(shift={"start": 1000, "end": 9000}, maxRouteSeconds=3000)
    p["stops"][0]["timeWindows"] = [{"start": 5000, "end": 5100}]
    v = evaluator.evaluate(p, [{"courierId": "c", "stops": ["a", "b"]}])
    assert v.feasible, v.reason
    assert v.arrival == pytest.approx(5000.0)
    p["couriers"][0]["maxRouteSeconds"] = 2000
    v = evaluator.evaluate(p, [{"courierId": "c", "stops": ["a", "b"]}])
    assert not v.feasible and "maxRouteSeconds" in v.reason


def test_a_later_departure_delays_the_stops_before_the_wait() -> None:
    """b (priority 100 here) before a long wait at a: leaving later moves b's service too."""
    p = line_problem(shift={"start": 0, "end": 20000}, maxRouteSeconds=4000)
    p["stops"][1]["priority"] = 100
    p["stops"][0]["priority"] = 0
    p["stops"][0]["timeWindows"] = [{"start": 6000, "end": 6100}]
    # b at 2,224 (leaving at 0), a reached at 3,336, waits to 6,000, ends 6,100: 6,100 s long;
    # leaving 2,100 s later fits 4,000 s, so b is served at ~4,324
    v = evaluator.evaluate(p, [{"courierId": "c", "stops": ["b", "a"]}])
    assert v.feasible, v.reason
    assert v.arrival == pytest.approx(2 * LEG + 2100, abs=1.0)


@pytest.mark.parametrize("scenario", city.TW_SCENARIOS)
def test_generated_windows_are_reachable_on_their_own(scenario: str) -> None:
    """Every windowed stop, served alone by the best courier, is on time."""
    p = city.generate(30, scenario, 1)
    windowed = [s for s in p["stops"] if s.get("timeWindows")]
    assert windowed and all(c.get("shift") for c in p["couriers"])
    for s in windowed:
        ok = [
            evaluator.evaluate(p, [{"courierId": c["id"], "stops": [s["id"]]}]).feasible
            for c in p["couriers"]
        ]
        assert any(ok), s


GH_SMALL = """NAME : tiny
TYPE : CVRPTW
DIMENSION : 3
VEHICLES : 2
CAPACITY : 10
SERVICE_TIME : 1
EDGE_WEIGHT_TYPE : EUC_2D
NODE_COORD_SECTION
1 0 0
2 3 4
3 0 1.55
DEMAND_SECTION
1 0
2 6
3 5
TIME_WINDOW_SECTION
1 0 100
2 0 20
3 0 3
DEPOT_SECTION
1
-1
EOF
"""


def test_vrptw_judge_uses_dimacs_distances_windows_and_capacity(tmp_path: Path) -> None:
    path = tmp_path / "tiny.vrp"
    path.write_text(GH_SMALL)
    g = vrptw.read(path)
    assert g.dist[0, 1] == 50 and g.dist[0, 2] == 15  # x 10, truncated (15.5 -> 15)
    ok, reason, cost, used = vrptw.judge(g, [[1], [2]])
    assert ok, reason
    assert (cost, used) == (2 * 5.0 + 2 * 1.5, 2)
    ok, reason, _, _ = vrptw.judge(g, [[1, 2]])
    assert not ok and "customer 2" in reason  # late and over capacity; the window is first
    ok, reason, _, _ = vrptw.judge(g, [[1]])
    assert not ok and "not served" in reason
    assert vrptw.problem_json(g)["matrix"]["distances"][0][1] == 50


def test_half_a_second_per_arc_of_rounding_counts_as_on_time() -> None:
    p = line_problem()  # a is reached at 1,111.95 s
    p["stops"][0]["timeWindows"] = [{"start": 0, "end": 1111.5}]
    assert evaluator.evaluate(p, [{"courierId": "c", "stops": ["a"]}]).feasible
    p["stops"][0]["timeWindows"] = [{"start": 0, "end": 1111.4}]
    assert not evaluator.evaluate(p, [{"courierId": "c", "stops": ["a"]}]).feasible


def test_vrptw_builds_an_instance_the_product_solves(tmp_path: Path) -> None:
    """The logistica column's instance (the product's internal layout) is solved feasibly."""
    path = tmp_path / "tiny.vrp"
    path.write_text(GH_SMALL)
    routes = vrptw.solve_logistica(path, 2.0)
    ok, reason, cost, used = vrptw.judge(vrptw.read(path), routes)
    assert ok, reason
    assert (cost, used) == (13.0, 2)  # capacity and windows force one customer per vehicle
