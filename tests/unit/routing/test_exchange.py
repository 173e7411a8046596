"""Drop exchanges (exchange.py): served and dropped stops traded while the objective falls."""

from __future__ import annotations

import random
from typing import Any

import pytest

from logistica_workers.api import Problem
from logistica_workers.routing.drops import finish_drops
from logistica_workers.routing.evaluate import Routes, score, to_solution
from logistica_workers.routing.exchange import exchange_drops, route_cost
from logistica_workers.routing.instance import Instance, from_problem
from logistica_workers.routing.repair import repair_drops
from tests.support.feasibility import check
from tests.support.plans import first_fit
from tests.support.problems import city_problem, timed_problem


def _instance(doc: dict[str, Any]) -> Instance:
    return from_problem(Problem.model_validate(doc), 1.0)


def _line(stops: list[tuple[float, int, int]], capacity: int) -> dict[str, Any]:
    """Stops east of the origin at (km, demand, priority); one courier at the origin."""
    return {
        "origin": {"lat": 38.72, "lng": -9.14},
        "stops": [
            {"id": f"s{i}", "lat": 38.72, "lng": -9.14 + km / 87.0, "demand": d, "priority": p}
            for i, (km, d, p) in enumerate(stops)
        ],
        "couriers": [{"id": "c0", "lat": 38.72, "lng": -9.14, "capacity": capacity}],
        "options": {"timeLimitSeconds": 1},
    }


def _solution(doc: dict[str, Any], inst: Instance, routes: Routes) -> dict[str, Any]:
    sol = to_solution(
        inst, routes, engine="test", status="SUCCESS", wall=0.0, solutions=1, partial=False
    )
    return sol.model_dump(mode="json", by_alias=True)


def test_two_small_stops_take_the_place_of_one_large_of_the_same_priority() -> None:
    # a full route serving one demand-2 stop; two demand-1 stops of the same priority dropped:
    # no single insertion or swap serves more, one out and two in does
    doc = _line([(1.0, 2, 5), (1.2, 1, 5), (1.4, 1, 5)], capacity=2)
    inst = _instance(doc)
    routes = exchange_drops(inst, [[0]])
    assert sorted(routes[0]) == [1, 2]
    assert score(inst, routes).cost < score(inst, [[0]]).cost
    assert check(doc, _solution(doc, inst, routes)) == []


def test_a_nearer_dropped_stop_of_the_same_priority_replaces_a_farther_one() -> None:
    doc = _line([(5.0, 1, 0), (0.5, 1, 0)], capacity=1)
    inst = _instance(doc)
    routes = exchange_drops(inst, [[0]])
    assert routes == [[1]]
    assert score(inst, routes).dropped == 1
    assert score(inst, routes).objective < score(inst, [[0]]).objective


def test_a_higher_priority_is_never_given_up_for_lower_ones_worth_less() -> None:
    # out: priority 20 (weight 21); in: two priority-5 stops (weight 12): the drop costs more
    doc = _line([(3.0, 2, 20), (0.2, 1, 5), (0.3, 1, 5)], capacity=2)
    inst = _instance(doc)
    assert exchange_drops(inst, [[0]]) == [[0]]


def test_plans_with_times_are_left_alone() -> None:
    doc = timed_problem(20, 2, seed=3, capacity=5)
    inst = _instance(doc)
    assert inst.timed
    routes: Routes = [[0, 1], [2]]
    assert exchange_drops(inst, routes) == routes


@pytest.mark.parametrize("seed", range(8))
def test_never_worse_and_always_feasible_on_short_capacity(seed: int) -> None:
    rnd = random.Random(seed)
    doc = city_problem(30, 3, seed=seed, capacity=rnd.randint(8, 14))  # ~60 demand, 24-42 room
    inst = _instance(doc)
    routes = first_fit(inst, rnd)
    start = repair_drops(inst, routes)
    out = exchange_drops(inst, start, seconds=5.0)
    before, after = score(inst, start), score(inst, out)
    assert after.cost <= before.cost
    served = [s for r in out for s in r]
    assert len(served) == len(set(served))
    for v, r in enumerate(out):
        assert sum(int(inst.demand[s]) for s in r) <= inst.capacity[v]
    assert check(doc, _solution(doc, inst, out)) == []
    # the pass ends where no move of its kind gains: a second pass changes nothing
    assert exchange_drops(inst, out, seconds=5.0) == out
    # what a solve returns: repaired, exchanged (0.1 s at most), repaired again
    finished = finish_drops(inst, routes)
    assert score(inst, finished).cost <= score(inst, repair_drops(inst, routes)).cost
    assert check(doc, _solution(doc, inst, finished)) == []


def test_route_cost_is_the_scored_objective_of_a_route() -> None:
    doc = city_problem(12, 2, seed=5, capacity=30)
    inst = _instance(doc)
    routes: Routes = [[3, 1, 7, 0, 5], [2, 4, 6, 8, 9, 10, 11]]
    total = sum(route_cost(inst, v, r) for v, r in enumerate(routes))
    assert total == pytest.approx(score(inst, routes).objective)
