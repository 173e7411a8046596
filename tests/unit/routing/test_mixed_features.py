"""Problems mixing every model feature at random (windows, several windows, soft windows,
shifts, breaks, route limits, returnToOrigin, road matrices with missing roads, committed
stops, availableAt, short capacity), solved and checked by the independent checker: a plan
that breaks any rule, or an ETA the checker cannot recompute, fails."""

from __future__ import annotations

import random
from typing import Any

import pytest

from logistica_workers.api import Problem
from logistica_workers.routing import replan
from logistica_workers.routing.portfolio import Portfolio
from tests.support.feasibility import check, haversine_m
from tests.support.problems import city_problem, timed_problem


def mixed_problem(seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    n, m = rnd.choice([5, 9, 16, 30, 60]), rnd.choice([1, 2, 4])
    capacity = rnd.choice([2, 6, 12, 40])
    timed = rnd.random() < 0.75
    if timed:
        doc = timed_problem(n, m, seed, capacity=capacity, two_windows=rnd.random() < 0.4)
        doc["options"]["softTimeWindows"] = rnd.random() < 0.3
    else:
        doc = city_problem(n, m, seed, capacity=capacity)
    doc["options"]["returnToOrigin"] = rnd.random() < 0.3
    for c in doc["couriers"]:
        if timed and rnd.random() < 0.5:
            s = c["shift"]["start"]
            length = rnd.choice([600, 1800])
            c["breaks"] = [{"start": s + 3600, "end": s + 3 * 3600, "durationSeconds": length}]
        if timed and rnd.random() < 0.3:
            c["maxRouteSeconds"] = rnd.choice([2 * 3600, 4 * 3600])
    if rnd.random() < 0.3:  # roads 1.3x the crow's flight, a few missing
        points = [doc["origin"], *doc["stops"], *doc["couriers"]]
        dist: list[list[float | None]] = [
            [round(haversine_m(a, b) * 1.3) for b in points] for a in points
        ]
        dur: list[list[float | None]] = [
            [None if d is None else round(d / 8) for d in row] for row in dist
        ]
        for _ in range(3):
            i, j = rnd.randrange(len(points)), rnd.randrange(len(points))
            if i != j:
                dist[i][j] = dur[i][j] = None
        doc["matrix"] = {"durations": dur, "distances": dist}
    c0 = doc["couriers"][0]
    if n >= 9 and rnd.random() < 0.5:
        # keepable promises: committed stops without windows, within the courier's room
        k = rnd.randint(1, 3)
        committed = doc["stops"][:k]
        if sum(s["demand"] for s in committed) <= c0["capacity"]:
            for s in committed:
                s.pop("timeWindows", None)
            c0["committed"] = [s["id"] for s in committed]
            if timed:
                c0["availableAt"] = c0["shift"]["start"] + rnd.randint(0, 1800)
    return doc


def solve(doc: dict[str, Any]) -> dict[str, Any]:
    problem = Problem.model_validate(doc)
    inst, rp = replan.prepare(problem, 0.5)
    solution = Portfolio(inst).run()
    if rp is not None:
        solution = rp.finish(solution)
    return solution.model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize("seed", range(16))
def test_a_plan_for_a_random_mix_of_features_passes_the_checker(seed: int) -> None:
    doc = mixed_problem(seed)
    answer = solve(doc)
    assert check(doc, answer) == []
