"""Time windows, shifts, route limits, ETAs and unassigned reasons on every engine path.

Every answer goes through the independent checker (tests/support/feasibility.py), which
recomputes the ETAs from haversine / speed and the service times, never reading them back.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from logistica_workers.api import Problem
from logistica_workers.routing import exact
from logistica_workers.routing.engines import ENGINES, EngineConfig
from logistica_workers.routing.evaluate import Routes, score, to_solution
from logistica_workers.routing.instance import UNREACHABLE, from_problem
from logistica_workers.routing.portfolio import Portfolio, default_configs
from logistica_workers.routing.reasons import unassigned_reasons
from logistica_workers.routing.repair import repair_drops
from tests.support.feasibility import check, check_committed
from tests.support.problems import city_problem, timed_problem
from tests.unit.routing.test_routing import brute_force

LISBON = {"lat": 38.72, "lng": -9.14}


def answer(doc: dict[str, Any], limit: float = 1.0) -> dict[str, Any]:
    inst = from_problem(Problem.model_validate(doc), limit)
    return Portfolio(inst).run().model_dump(mode="json", by_alias=True)


def routes_of(doc: dict[str, Any], sol: dict[str, Any]) -> dict[str, list[str]]:
    return {r["courierId"]: r["stops"] for r in sol["routes"]}


@pytest.mark.parametrize(
    ("engine", "two_windows"),
    [("pyvrp", False), ("hybrid", False), ("ortools", False), ("ortools", True)],
)
def test_every_engine_path_keeps_windows_and_shifts(engine: str, two_windows: bool) -> None:
    doc = timed_problem(30, 3, seed=21, capacity=25, two_windows=two_windows)
    inst = from_problem(Problem.model_validate(doc), 0.6)
    found: list[Routes] = []
    status = ENGINES[engine](inst, EngineConfig(engine), found.append, 0.6)
    assert status in ("SUCCESS", "OPTIMAL")
    assert found
    for routes in (found[0], found[-1]):
        assert score(inst, routes).feasible
        sol = to_solution(
            inst,
            repair_drops(inst, routes),
            engine=engine,
            status=status,
            wall=0.0,
            solutions=1,
            partial=False,
        )
        out = sol.model_dump(mode="json", by_alias=True)
        assert check(doc, out) == []
        assert all(r["visits"] for r in out["routes"])


@pytest.mark.parametrize("options", [{"twoWindows": True}, {"softTimeWindows": True}])
def test_pyvrp_solves_a_restriction_whose_plans_are_ours(options: dict[str, Any]) -> None:
    """Several windows: PyVRP gets each stop's longest; soft windows: PyVRP gets them hard.
    Its plans are feasible for the full model, and hybrid's OR-Tools phase uses all of it."""
    two = options.pop("twoWindows", False)
    doc = timed_problem(30, 3, seed=12, capacity=25, two_windows=two, **options)
    inst = from_problem(Problem.model_validate(doc), 0.6)
    assert any(c.engine == "hybrid" for c in default_configs(inst, 2))
    for engine in ("pyvrp", "hybrid"):
        found: list[Routes] = []
        ENGINES[engine](inst, EngineConfig(engine), found.append, 0.6)
        assert found and all(score(inst, r).feasible for r in found)
        sol = to_solution(
            inst,
            repair_drops(inst, found[-1]),
            engine=engine,
            status="SUCCESS",
            wall=0.0,
            solutions=1,
            partial=False,
        )
        assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []


@pytest.mark.parametrize("seed", range(4))
def test_exact_honours_windows_and_is_the_brute_force_optimum(seed: int) -> None:
    doc = timed_problem(5, 2, seed=seed, capacity=6)
    for stop in doc["stops"]:  # tight windows: order and assignment both matter
        for w in stop.get("timeWindows", []):
            w["start"], w["end"] = w["start"] // 8, w["start"] // 8 + 900
    inst = from_problem(Problem.model_validate(doc))
    assert exact.small_enough(inst)
    routes = exact.solve(inst)
    assert score(inst, routes).cost == pytest.approx(brute_force(inst), rel=1e-12)
    sol = Portfolio(inst).run()
    assert sol.solver.engine == "exact"
    assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []


def slot_problem() -> dict[str, Any]:
    """One courier at the origin; a stop 3 km away (6 min at 30 km/h)."""
    return {
        "origin": LISBON,
        "stops": [
            {"id": "near", "lat": 38.72, "lng": -9.105, "priority": 50, "serviceSeconds": 120},
            {"id": "slot", "lat": 38.747, "lng": -9.14, "priority": 50},
        ],
        "couriers": [{"id": "c", **LISBON, "capacity": 5}],
        "options": {"timeLimitSeconds": 1},
    }


def test_a_window_that_nobody_can_reach_is_unassigned_with_reason_time_window() -> None:
    doc = slot_problem()
    doc["stops"][1]["timeWindows"] = [{"start": 0, "end": 60}]  # 6 min away, closes at 1 min
    sol = answer(doc)
    assert sol["unassigned"] == ["slot"]
    assert sol["unassignedReasons"] == [{"stopId": "slot", "reason": "timeWindow"}]
    assert check(doc, sol) == []


def test_a_stop_in_a_window_but_outside_every_shift_has_reason_shift() -> None:
    doc = slot_problem()
    doc["stops"][1]["timeWindows"] = [{"start": 0, "end": 7200}]
    doc["couriers"][0]["shift"] = {"start": 0, "end": 200}  # the trip alone takes ~330 s
    sol = answer(doc)
    assert "slot" in sol["unassigned"]
    reasons = {r["stopId"]: r["reason"] for r in sol["unassignedReasons"]}
    assert reasons["slot"] == "shift"
    assert check(doc, sol) == []


def test_early_arrival_waits_and_the_etas_say_so() -> None:
    doc = slot_problem()
    doc["stops"] = doc["stops"][1:]
    doc["stops"][0]["timeWindows"] = [{"start": 1800, "end": 2400}]
    sol = answer(doc)
    visit = sol["routes"][0]["visits"][0]
    assert visit["stopId"] == "slot"
    assert 250 < visit["arrival"] < 450  # ~3 km at 30 km/h
    assert visit["waitSeconds"] == 1800 - visit["arrival"]
    assert visit["departure"] == 1800
    assert check(doc, sol) == []


def test_the_second_window_is_used_when_the_first_has_passed() -> None:
    doc = slot_problem()
    doc["stops"][1]["timeWindows"] = [{"start": 0, "end": 60}, {"start": 3600, "end": 4000}]
    sol = answer(doc)
    assert sol["unassigned"] == []
    slot = next(v for r in sol["routes"] for v in r["visits"] if v["stopId"] == "slot")
    assert slot["departure"] >= 3600 and slot["arrival"] + slot["waitSeconds"] <= 4000
    assert check(doc, sol) == []


def test_max_route_seconds_delays_the_start_instead_of_waiting() -> None:
    doc = slot_problem()
    doc["stops"] = doc["stops"][1:]
    doc["stops"][0]["timeWindows"] = [{"start": 3600, "end": 3700}]
    doc["couriers"][0]["maxRouteSeconds"] = 900
    sol = answer(doc)
    route = sol["routes"][0]
    assert route["start"] == 3600 - 900  # left as late as the limit needs, not at 0
    assert route["end"] - route["start"] <= 900
    assert check(doc, sol) == []
    doc["couriers"][0]["maxRouteSeconds"] = 60  # shorter than the trip itself
    sol = answer(doc)
    assert sol["unassignedReasons"] == [{"stopId": "slot", "reason": "shift"}]


def test_soft_windows_serve_late_at_a_price() -> None:
    doc = slot_problem()
    doc["stops"][1]["timeWindows"] = [{"start": 0, "end": 60}]
    doc["options"] |= {"softTimeWindows": True, "latenessCostPerSecond": 10}
    sol = answer(doc)
    assert sol["unassigned"] == []
    assert check(doc, sol) == []
    cheap = copy.deepcopy(doc)
    cheap["options"]["latenessCostPerSecond"] = 0
    # the objective prices the lateness: ~300 s late at 10 m/s
    assert sol["objective"] - answer(cheap)["objective"] > 2000


def test_rfc3339_times_answer_in_rfc3339_with_the_start_times_offset() -> None:
    doc = slot_problem()
    doc["startTime"] = "2026-05-04T08:00:00+01:00"
    doc["stops"][1]["timeWindows"] = [
        {"start": "2026-05-04T08:30:00+01:00", "end": "2026-05-04T07:45:00Z"}
    ]
    doc["couriers"][0]["shift"] = {"start": 600, "end": "2026-05-04T10:00:00+01:00"}
    sol = answer(doc)
    route = sol["routes"][0]
    assert route["start"] == "2026-05-04T08:10:00+01:00"
    slot = next(v for v in route["visits"] if v["stopId"] == "slot")
    assert slot["departure"] >= "2026-05-04T08:30:00+01:00"
    assert check(doc, sol) == []


def test_the_checker_catches_a_wrong_eta_and_a_missed_window() -> None:
    doc = slot_problem()
    doc["stops"][1]["timeWindows"] = [{"start": 1800, "end": 2400}]
    sol = answer(doc)
    assert check(doc, sol) == []
    wrong = copy.deepcopy(sol)
    wrong["routes"][0]["visits"][0]["arrival"] += 30
    assert any("arrival" in e for e in check(doc, wrong))
    late = copy.deepcopy(doc)
    late["stops"][1]["timeWindows"] = [{"start": 0, "end": 100}]
    assert any("after its windows" in e for e in check(late, sol))
    bad_reason = {**sol, "unassigned": ["slot"], "unassignedReasons": []}
    assert check(doc, bad_reason)


def test_untimed_answers_have_etas_too() -> None:
    doc = city_problem(8, 2, seed=3, capacity=10)
    sol = answer(doc)
    assert all(len(r["visits"]) == len(r["stops"]) for r in sol["routes"])
    assert all(r["start"] == 0 for r in sol["routes"])
    assert check(doc, sol) == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        (
            {
                "stops": [
                    {"id": "a", **LISBON, "priority": 1, "timeWindows": [{"start": 9, "end": 3}]}
                ]
            },
            "stops[0].timeWindows[0]",
        ),
        (
            {
                "stops": [
                    {
                        "id": "a",
                        **LISBON,
                        "priority": 1,
                        "timeWindows": [{"start": "2026-05-04T09:00:00Z", "end": 600}],
                    }
                ]
            },
            "stops[0].timeWindows[0].start",
        ),
        (
            {"couriers": [{"id": "c", **LISBON, "capacity": 1, "shift": {"start": 50, "end": 10}}]},
            "couriers[0].shift",
        ),
    ],
)
def test_solve_exits_2_naming_the_time_field(
    tmp_path: Path, patch: dict[str, Any], field: str
) -> None:
    doc = slot_problem() | patch
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "solve", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert field in proc.stderr


def test_solve_prints_etas_and_reasons(tmp_path: Path) -> None:
    doc = timed_problem(25, 2, seed=8, capacity=12)
    doc["stops"][0]["timeWindows"] = [{"start": 0, "end": 1}]  # nobody gets there in 1 s
    path, out = tmp_path / "p.json", tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "logistica_workers",
            "solve",
            str(path),
            "--time-limit",
            "2",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    sol = json.loads(out.read_text())
    assert check(doc, sol) == []
    assert {"stopId": "s0", "reason": "timeWindow"} in sol["unassignedReasons"]


def test_the_checker_holds_committed_stops_to_their_courier_and_order() -> None:
    doc = city_problem(4, 2, seed=1, capacity=10)
    sol = {
        "routes": [
            {"courierId": "c0", "stops": ["s1", "s0"]},
            {"courierId": "c1", "stops": ["s2"]},
        ]
    }

    doc["couriers"][0]["committed"] = ["s1", "s0"]
    assert check_committed(doc, sol) == []
    doc["couriers"][0]["committed"] = ["s0", "s1"]
    assert check_committed(doc, sol)  # wrong order
    doc["couriers"][0]["committed"] = ["s2"]
    assert check_committed(doc, sol)  # on the other courier


@pytest.mark.parametrize("engine", ["pyvrp", "ortools"])
def test_windows_and_shifts_before_start_time_are_cut_off(engine: str) -> None:
    doc = timed_problem(12, 3, seed=9, capacity=30)
    doc["startTime"] = "2026-05-04T08:00:00Z"
    doc["stops"][0]["timeWindows"] = [
        {"start": "2026-05-04T06:00:00Z", "end": "2026-05-04T07:00:00Z"}
    ]
    doc["couriers"][1]["shift"] = {"start": "2026-05-04T05:00:00Z", "end": "2026-05-04T06:00:00Z"}
    inst = from_problem(Problem.model_validate(doc), 0.5)
    found: list[Routes] = []
    ENGINES[engine](inst, EngineConfig(engine), found.append, 0.5)
    sol = to_solution(
        inst,
        repair_drops(inst, found[-1]),
        engine=engine,
        status="SUCCESS",
        wall=0.0,
        solutions=1,
        partial=False,
    ).model_dump(mode="json", by_alias=True)
    assert check(doc, sol) == []
    assert {"stopId": "s0", "reason": "timeWindow"} in sol["unassignedReasons"]
    assert "c1" not in {r["courierId"] for r in sol["routes"]}  # its shift ended before 08:00


def test_a_stop_no_courier_has_a_path_to_is_unreachable() -> None:
    inst = from_problem(Problem.model_validate(slot_problem()))
    cut = inst.travel_time.copy()
    cut[inst.start(0), 1] = UNREACHABLE  # e.g. a matrix null from the courier's side
    inst = dataclasses.replace(inst, travel_time=cut)
    assert unassigned_reasons(inst, [[0]]) == {1: "unreachable"}


def break_problem() -> dict[str, Any]:
    """Two stops with late windows: the courier's route runs through its break's window."""
    doc = slot_problem()
    doc["stops"][0]["timeWindows"] = [{"start": 0, "end": 900}]
    doc["stops"][1]["timeWindows"] = [{"start": 2400, "end": 3000}]
    doc["couriers"][0]["breaks"] = [{"start": 1200, "end": 1500, "durationSeconds": 1800}]
    return doc


def test_a_break_owed_during_the_route_is_taken_and_delays_what_follows() -> None:
    doc = break_problem()
    sol = answer(doc)
    assert sol["unassigned"] == []
    (route,) = sol["routes"]
    (taken,) = route["breaks"]
    assert 1200 <= taken["start"] <= 1500 and taken["end"] - taken["start"] == 1800
    slot = next(v for v in route["visits"] if v["stopId"] == "slot")
    assert slot["arrival"] >= taken["end"]  # the break came first: the slot waits for it
    assert check(doc, sol) == []
    missing = copy.deepcopy(sol)
    missing["routes"][0]["breaks"] = []
    assert any("owes a break" in e for e in check(doc, missing))


def test_a_break_that_no_plan_can_fit_leaves_the_stop_unassigned_with_reason_shift() -> None:
    doc = break_problem()
    doc["couriers"][0]["breaks"][0]["durationSeconds"] = 3000  # ends after the slot closes
    sol = answer(doc)
    assert sol["unassignedReasons"] == [{"stopId": "slot", "reason": "shift"}]
    assert check(doc, sol) == []


@pytest.mark.parametrize("engine", ["pyvrp", "hybrid", "ortools"])
def test_every_engine_path_keeps_breaks(engine: str) -> None:
    """OR-Tools models breaks; PyVRP sees them through break copies of the stops (here: every
    courier's break a different kind), and a route that still cannot fit one loses stops
    (repair.make_feasible)."""
    doc = timed_problem(30, 3, seed=5, capacity=30)
    for c in doc["couriers"]:
        start = c["shift"]["start"]
        c["breaks"] = [{"start": start + 5400, "end": start + 9000, "durationSeconds": 1800}]
    inst = from_problem(Problem.model_validate(doc), 0.8)
    found: list[Routes] = []
    ENGINES[engine](inst, EngineConfig(engine), found.append, 0.8)
    assert found and all(score(inst, r).feasible for r in found)  # every engine's and ours agree
    sol = to_solution(
        inst,
        repair_drops(inst, found[-1]),
        engine=engine,
        status="SUCCESS",
        wall=0.0,
        solutions=1,
        partial=False,
    ).model_dump(mode="json", by_alias=True)
    assert check(doc, sol) == []
    assert any(r["breaks"] for r in sol["routes"])


def test_exact_with_a_break_is_the_brute_force_optimum() -> None:
    doc = timed_problem(5, 2, seed=3, capacity=6)
    for c in doc["couriers"]:
        c["breaks"] = [{"start": 600, "end": 1800, "durationSeconds": 900}]
    inst = from_problem(Problem.model_validate(doc))
    assert exact.small_enough(inst)
    assert score(inst, exact.solve(inst)).cost == pytest.approx(brute_force(inst), rel=1e-12)


def test_a_break_before_the_shift_is_not_owed_and_does_not_block_ortools() -> None:
    doc = slot_problem()
    doc["couriers"][0]["shift"] = {"start": 7200, "end": 9000}
    doc["couriers"][0]["breaks"] = [{"start": 0, "end": 600, "durationSeconds": 10000}]
    inst = from_problem(Problem.model_validate(doc), 0.5)
    found: list[Routes] = []
    assert ENGINES["ortools"](inst, EngineConfig("ortools"), found.append, 0.5) == "SUCCESS"
    sol = to_solution(
        inst, found[-1], engine="ortools", status="SUCCESS", wall=0.0, solutions=1, partial=False
    ).model_dump(mode="json", by_alias=True)
    assert sol["unassigned"] == [] and sol["routes"][0]["breaks"] == []
    assert check(doc, sol) == []


def test_repair_puts_back_a_dropped_stop_only_where_its_window_holds() -> None:
    doc = timed_problem(20, 2, seed=7, capacity=40)
    inst = from_problem(Problem.model_validate(doc), 0.5)
    found: list[Routes] = []
    ENGINES["pyvrp"](inst, EngineConfig("pyvrp"), found.append, 0.5)
    full = found[-1]
    assert sum(map(len, full)) == 20
    v = max(range(len(full)), key=lambda k: len(full[k]))
    dropped = full[v][len(full[v]) // 2]
    holed = [[s for s in r if s != dropped] for r in full]
    repaired = repair_drops(inst, holed)
    assert dropped in {s for r in repaired for s in r}
    assert score(inst, repaired).feasible
    # a stop whose window closed before anyone could get there stays out
    late = copy.deepcopy(doc)
    late["stops"][dropped]["timeWindows"] = [{"start": 0, "end": 1}]
    inst = from_problem(Problem.model_validate(late), 0.5)
    assert dropped not in {s for r in repair_drops(inst, holed) for s in r}


def test_everything_at_once_through_the_portfolio() -> None:
    """150 stops, two windows on some, shifts, breaks on half the couriers, route limits."""
    doc = timed_problem(150, 10, seed=31, capacity=20, two_windows=True)
    for k, c in enumerate(doc["couriers"]):
        start = c["shift"]["start"]
        c["maxRouteSeconds"] = 5 * 3600
        if k % 2 == 0:
            c["breaks"] = [{"start": start + 7200, "end": start + 10800, "durationSeconds": 1800}]
    sol = answer(doc, 1.5)
    assert check(doc, sol) == []
    assert sum(len(r["stops"]) for r in sol["routes"]) > 100
    assert any(r["breaks"] for r in sol["routes"])


@pytest.mark.parametrize("engine", ["ortools", "hybrid"])
def test_a_stop_weeks_ahead_is_served_not_dropped(engine: str) -> None:
    """Arrival terms count from time zero: a window 20 days out must still be worth
    serving (the drop penalty covers the whole horizon)."""
    doc = slot_problem()
    doc["stops"][1]["timeWindows"] = [{"start": 20 * 86400, "end": 20 * 86400 + 3600}]
    doc["stops"][1]["priority"] = 100
    inst = from_problem(Problem.model_validate(doc), 0.5)
    found: list[Routes] = []
    ENGINES[engine](inst, EngineConfig(engine), found.append, 0.5)
    assert score(inst, found[-1]).dropped == 0
