"""Reassignment when capacity is short (reassign.py, drops.py): which stops to serve, and on
which courier, as integer programs over neighbourhoods of routes."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import pytest

from logistica_workers.api import Problem
from logistica_workers.routing import drops, reassign
from logistica_workers.routing.evaluate import Routes, score, to_solution
from logistica_workers.routing.exchange import exchange_drops
from logistica_workers.routing.instance import Instance, IntArray, from_problem
from logistica_workers.routing.portfolio import Portfolio
from logistica_workers.routing.repair import repair_drops
from tests.support.feasibility import check
from tests.support.plans import first_fit
from tests.support.problems import city_problem, timed_problem


def _instance(doc: dict[str, Any], time_limit: float = 1.0) -> Instance:
    return from_problem(Problem.model_validate(doc), time_limit)


def _problem(stops: list[tuple[float, float, int, int]], capacities: list[int]) -> dict[str, Any]:
    """Stops at (km east, km north, demand, priority) of the origin; couriers at the origin."""
    return {
        "origin": {"lat": 38.72, "lng": -9.14},
        "stops": [
            {
                "id": f"s{i}",
                "lat": 38.72 + north / 111.0,
                "lng": -9.14 + east / 87.0,
                "demand": d,
                "priority": p,
            }
            for i, (east, north, d, p) in enumerate(stops)
        ],
        "couriers": [
            {"id": f"c{v}", "lat": 38.72, "lng": -9.14, "capacity": c}
            for v, c in enumerate(capacities)
        ],
        "options": {"timeLimitSeconds": 1},
    }


def _dropped_weight(inst: Instance, routes: Routes) -> int:
    served = {s for r in routes for s in r}
    return sum(1 + int(inst.priority[s]) for s in range(inst.n_stops) if s not in served)


def _feasible(doc: dict[str, Any], inst: Instance, routes: Routes) -> None:
    sol = to_solution(
        inst, routes, engine="test", status="SUCCESS", wall=0.0, solutions=1, partial=False
    )
    assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []
    served = [s for r in routes for s in r]
    assert len(served) == len(set(served))
    for v, r in enumerate(routes):
        assert sum(int(inst.demand[s]) for s in r) <= inst.capacity[v]


def test_two_stops_out_for_one_that_needs_their_room() -> None:
    # a full route of two priority-0 stops (demand 2 + 1); a dropped priority-5 stop of demand 3
    # beside them: serving it takes both out, a move no exchange (one out at most) makes
    doc = _problem([(1.0, 0.0, 2, 0), (1.2, 0.0, 1, 0), (1.1, 0.0, 3, 5)], [3])
    inst = _instance(doc)
    start: Routes = [[0, 1]]
    assert exchange_drops(inst, start, seconds=1.0) == start
    out = reassign.reassign(inst, start, seconds=5.0)
    assert out == [[2]]
    assert _dropped_weight(inst, out) == 2 < _dropped_weight(inst, start) == 6
    _feasible(doc, inst, out)


def test_a_stop_request_ends_the_pass_before_the_next_region() -> None:
    doc = _problem([(1.0, 0.0, 2, 0), (1.2, 0.0, 1, 0), (1.1, 0.0, 3, 5)], [3])
    inst = _instance(doc)
    start: Routes = [[0, 1]]
    assert reassign.reassign(inst, start, seconds=5.0, stop=lambda: True) is start
    assert reassign.reassign(inst, start, seconds=5.0, stop=lambda: False) == [[2]]


def test_stops_move_to_another_route_to_make_room() -> None:
    # route 1 is full with two high-priority stops; the dropped stop 3 may only go on courier
    # 1 (pinned) and needs room 2: the two move to route 0, whose priority-0 stop is dropped
    doc = _problem(
        [(1.0, 0.2, 2, 0), (1.0, -0.2, 1, 9), (1.1, -0.2, 1, 9), (1.05, -0.3, 2, 5)], [2, 2]
    )
    inst = dataclasses.replace(_instance(doc), pinned=(-1, -1, -1, 1))
    start: Routes = [[0], [1, 2]]
    assert exchange_drops(inst, start, seconds=1.0) == start
    out = reassign.reassign(inst, start, seconds=5.0)
    assert sorted(out[0]) == [1, 2] and out[1] == [3]
    assert inst.keeps_pins(out)
    assert score(inst, out).cost < score(inst, start).cost


def test_a_small_fleet_is_last_one_region_where_a_dropped_stop_may_join_any_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two neighbourhoods 20 km apart; with 2 nearest stops, the regions around the dropped
    # stop 3 never reach route 0, whose priority-0 stop is all that could make room for it
    monkeypatch.setattr(reassign, "NEAR_STOPS", 2)
    doc = _problem(
        [(1.0, 0.0, 2, 0), (0.0, 20.0, 1, 9), (0.2, 20.0, 2, 9), (0.1, 20.1, 2, 5)], [2, 3]
    )
    inst = _instance(doc)
    start: Routes = [[0], [1, 2]]
    monkeypatch.setattr(reassign, "WHOLE_FLEET_ROUTES", 0)
    assert reassign.reassign(inst, start, seconds=5.0) is start
    monkeypatch.setattr(reassign, "WHOLE_FLEET_ROUTES", 40)
    out = reassign.reassign(inst, start, seconds=5.0)
    assert out[0] == [3] and sorted(out[1]) == [1, 2]
    _feasible(doc, inst, out)


def test_a_denser_stop_may_give_way_when_that_packs_the_routes_better() -> None:
    # A = [s (demand 1, priority 1), a (3, 0)], B = [b (4, 0)], both full (4); two dropped
    # stops of demand 4 and priority 3: serving both means dropping s too, although it is
    # worth more per unit of demand than either of them
    doc = _problem(
        [(1.0, 0.0, 1, 1), (1.1, 0.0, 3, 0), (1.0, 0.5, 4, 0), (1.05, 0.1, 4, 3), (1.0, 0.4, 4, 3)],
        [4, 4],
    )
    inst = _instance(doc)
    start: Routes = [[0, 1], [2]]
    out = reassign.reassign(inst, start, seconds=5.0)
    assert sorted(s for r in out for s in r) == [3, 4]
    assert _dropped_weight(inst, out) == 4 < _dropped_weight(inst, start) == 8
    _feasible(doc, inst, out)


def test_a_courier_without_stops_takes_a_stop_to_make_room() -> None:
    # A (capacity 2) serves a (1, 0) and b (1, 100); c (2, 100) is dropped; courier 1 has no
    # stops and room for one: b moves there, c takes A, a is dropped
    doc = _problem([(1.0, 0.0, 1, 0), (1.1, 0.0, 1, 100), (1.05, 0.1, 2, 100)], [2, 1])
    inst = _instance(doc)
    start: Routes = [[0, 1], []]
    out = reassign.reassign(inst, start, seconds=5.0)
    assert out == [[2], [1]]
    _feasible(doc, inst, out)


def test_a_stop_worth_more_than_what_its_room_could_hold_is_never_dropped() -> None:
    # out: priority 20 (weight 21, demand 2); dropped: two priority-5 stops (weight 6 each)
    doc = _problem([(1.0, 0.0, 2, 20), (1.1, 0.0, 1, 5), (1.2, 0.0, 1, 5)], [2])
    inst = _instance(doc)
    assert reassign.reassign(inst, [[0]], seconds=5.0) == [[0]]


def test_plans_with_times_or_without_drops_are_left_alone() -> None:
    timed = _instance(timed_problem(20, 2, seed=3, capacity=5))
    assert timed.timed and not reassign.applies(timed)
    routes: Routes = [[0, 1], [2]]
    assert reassign.reassign(timed, routes, seconds=1.0) is routes
    doc = _problem([(1.0, 0.0, 1, 0), (2.0, 0.0, 1, 0)], [2])
    inst = _instance(doc)
    full: Routes = [[0, 1]]
    assert reassign.reassign(inst, full, seconds=1.0) is full


@pytest.mark.parametrize("seed", range(6))
def test_never_worse_always_feasible_and_pins_kept_on_short_capacity(seed: int) -> None:
    rnd = random.Random(seed)
    doc = city_problem(60, 5, seed=seed, capacity=rnd.randint(10, 18))  # ~120 demand, 50-90 room
    for stop in doc["stops"]:
        stop["priority"] = rnd.choice([0, 0, 1, 2, 5, 20])
    inst = _instance(doc)
    pinned = tuple(rnd.randrange(inst.n_vehicles) if rnd.random() < 0.1 else -1 for _ in range(60))
    inst = dataclasses.replace(inst, pinned=pinned)
    start = repair_drops(inst, first_fit(inst, rnd))
    out = reassign.reassign(inst, start, seconds=5.0)
    assert _dropped_weight(inst, out) <= _dropped_weight(inst, start)
    assert score(inst, out).cost <= score(inst, start).cost
    assert inst.keeps_pins(out)
    _feasible(doc, inst, out)


def test_the_knapsack_bound() -> None:
    # demands 3, 1, 1, 2 and weights 4, 2, 2, 3 into 4: 3 + 1 holds 6, 1 + 1 + 2 holds 7
    assert reassign.knapsack(_ints([3, 1, 1, 2]), _ints([4, 2, 2, 3]), 4) == 7
    assert reassign.knapsack(_ints([5]), _ints([9]), 4) == 0
    assert reassign.knapsack(_ints([0, 2]), _ints([1, 3]), 1) == 1  # demand 0 always fits
    # a capacity too large for the table: the fractional bound (greedy by weight per demand)
    big = reassign.KNAPSACK_CAPACITY * 10
    assert reassign.knapsack(_ints([big // 2, big]), _ints([3, 4]), big) == 5  # 3 + 4 / 2


def _ints(values: list[int]) -> IntArray:
    return np.array(values, dtype=np.int64)


def test_a_solve_short_of_capacity_keeps_time_for_the_reassignment() -> None:
    short = city_problem(200, 6, seed=4, capacity=25, time_limit=2)  # ~400 demand, 150 room
    plentiful = city_problem(200, 6, seed=4, capacity=100, time_limit=2)
    inst = _instance(short, 2.0)
    assert drops.short_of_capacity(inst)
    assert 0 < drops.reserve(inst) <= drops.RESERVE_SHARE * 2.0
    assert drops.reserve(_instance(plentiful, 2.0)) == 0.0
    portfolio = Portfolio(inst, lean=True)
    assert portfolio.search_limit == pytest.approx(2.0 - drops.reserve(inst))
    sol = portfolio.run()
    assert sol.solver.status == "SUCCESS"
    assert sol.solver.wall_seconds <= 2.0 + 0.25
    assert check(short, sol.model_dump(mode="json", by_alias=True)) == []
