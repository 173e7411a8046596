"""The routing model and search: matrices, brute-force optimality on tiny instances,
feasibility, drops by priority (``logistica solve`` itself: tests/unit/cli/test_solve.py)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from logistica_workers.api import Problem
from logistica_workers.routing import exact
from logistica_workers.routing.evaluate import Routes, score
from logistica_workers.routing.geo import haversine_matrix
from logistica_workers.routing.instance import Instance, from_problem
from logistica_workers.routing.portfolio import Portfolio
from tests.support.feasibility import check, haversine_m
from tests.support.problems import city_problem

REPO = Path(__file__).resolve().parents[3]


def solve(doc: dict[str, Any]) -> dict[str, Any]:
    problem = Problem.model_validate(doc)
    return Portfolio(from_problem(problem)).run().model_dump(mode="json", by_alias=True)


def test_haversine_matrix_matches_the_formula() -> None:
    rnd = np.random.default_rng(7)
    lat, lng = rnd.uniform(-80, 80, 40), rnd.uniform(-179, 179, 40)
    m = haversine_matrix(lat, lng)
    for i, j in [(0, 1), (5, 30), (12, 39), (3, 3)]:
        expect = haversine_m({"lat": lat[i], "lng": lng[i]}, {"lat": lat[j], "lng": lng[j]})
        assert m[i, j] == pytest.approx(expect, rel=1e-9, abs=1e-6)
    assert np.allclose(m, m.T)
    one_degree = haversine_matrix(np.array([0.0, 0.0]), np.array([0.0, 1.0]))[0, 1]
    assert one_degree == pytest.approx(2 * math.pi * 6_371_008.8 / 360)


def test_courier_start_arc_goes_through_the_origin() -> None:
    doc = city_problem(3, 2, seed=1)
    inst = from_problem(Problem.model_validate(doc))
    c0, s1, o = doc["couriers"][0], doc["stops"][1], doc["origin"]
    expect = haversine_m(c0, o) + haversine_m(o, s1)
    assert inst.distance[inst.start(0), 1] == pytest.approx(expect, abs=1)
    assert inst.distance[1, inst.end] == 0  # open route
    closed = from_problem(Problem.model_validate({**doc, "options": {"returnToOrigin": True}}))
    assert closed.distance[1, closed.end] == pytest.approx(haversine_m(s1, o), abs=1)


def brute_force(inst: Instance) -> float:
    """The model's optimum by enumeration: every assignment (or drop) and every order."""
    n, m = inst.n_stops, inst.n_vehicles
    best = math.inf
    for assign in itertools.product(range(m + 1), repeat=n):  # m == dropped
        groups = [[i for i in range(n) if assign[i] == v] for v in range(m)]
        if any(
            sum(int(inst.demand[i]) for i in g) > inst.capacity[v] for v, g in enumerate(groups)
        ):
            continue
        orders = [list(itertools.permutations(g)) for g in groups]
        for combo in itertools.product(*orders):
            routes: Routes = [list(r) for r in combo]
            best = min(best, score(inst, routes).cost)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_tiny_instances_reach_the_brute_force_optimum(seed: int) -> None:
    doc = city_problem(4, 2, seed=seed, capacity=4)
    inst = from_problem(Problem.model_validate(doc))
    solution = Portfolio(inst).run()
    index = {sid: i for i, sid in enumerate(inst.stop_ids)}
    courier = {cid: v for v, cid in enumerate(inst.courier_ids)}
    routes: Routes = [[] for _ in range(inst.n_vehicles)]
    for r in solution.routes:
        routes[courier[r.courier_id]] = [index[s] for s in r.stops]
    assert score(inst, routes).cost == pytest.approx(brute_force(inst), rel=1e-9)
    assert check(doc, solution.model_dump(mode="json", by_alias=True)) == []


def test_capacity_short_drops_lowest_priority_first() -> None:
    doc = {
        "origin": {"lat": 38.72, "lng": -9.14},
        "stops": [
            {"id": "low", "lat": 38.721, "lng": -9.141, "priority": 10},
            {"id": "top", "lat": 38.76, "lng": -9.10, "priority": 90},
            {"id": "mid", "lat": 38.70, "lng": -9.18, "priority": 50},
            {"id": "lowest", "lat": 38.722, "lng": -9.139, "priority": 5},
        ],
        "couriers": [{"id": "c", "lat": 38.73, "lng": -9.15, "capacity": 2}],
        "options": {"timeLimitSeconds": 1},
    }
    sol = solve(doc)
    assert sorted(sol["unassigned"]) == ["low", "lowest"]  # although they are the closest
    assert check(doc, sol) == []


def test_higher_priority_is_served_earlier() -> None:
    # two stops at the same distance from the origin, opposite sides
    doc = {
        "origin": {"lat": 0.0, "lng": 0.0},
        "stops": [
            {"id": "west", "lat": 0.0, "lng": -0.01, "priority": 0},
            {"id": "east", "lat": 0.0, "lng": 0.01, "priority": 100},
        ],
        "couriers": [{"id": "c", "lat": 0.0, "lng": 0.0, "capacity": 5}],
        "options": {"timeLimitSeconds": 1},
    }
    assert solve(doc)["routes"][0]["stops"] == ["east", "west"]
    doc["stops"][0]["priority"], doc["stops"][1]["priority"] = 100, 0
    assert solve(doc)["routes"][0]["stops"] == ["west", "east"]


def test_larger_instance_is_feasible() -> None:
    doc = city_problem(60, 4, seed=11, capacity=25, time_limit=2)
    sol = solve(doc)
    assert check(doc, sol) == []
    assert sol["partial"] is False
    assert sol["solver"]["solutions"] >= 1


@pytest.mark.parametrize(
    ("stops", "couriers", "seed"), [(4, 2, 7), (5, 2, 8), (3, 3, 9), (6, 1, 10)]
)
def test_exact_enumeration_is_the_brute_force_optimum(stops: int, couriers: int, seed: int) -> None:
    doc = city_problem(stops, couriers, seed=seed, capacity=3)
    inst = from_problem(Problem.model_validate(doc))
    assert exact.small_enough(inst)
    assert score(inst, exact.solve(inst)).cost == pytest.approx(brute_force(inst), rel=1e-12)


def test_plan_count_matches_enumeration() -> None:
    def by_hand(n: int, m: int) -> int:
        count = 0
        for assign in itertools.product(range(m + 1), repeat=n):
            sizes = [assign.count(v) for v in range(m)]
            count += math.prod(math.factorial(k) for k in sizes)
        return count

    for n, m in [(1, 1), (3, 2), (4, 3), (5, 2)]:
        assert exact.plan_count(n, m) == by_hand(n, m)
