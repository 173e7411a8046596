"""Warm engine processes for small ``POST /route`` problems: reuse, replacement, stopping."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from logistica_workers.api import Problem, Solution
from logistica_workers.routing.instance import from_problem
from logistica_workers.routing.pool import PooledSolve, WarmPool
from logistica_workers.routing.portfolio import Progress
from tests.support.feasibility import check
from tests.support.problems import city_problem, timed_problem
from tests.support.wait import wait_for


@pytest.fixture
def pool() -> Iterator[WarmPool]:
    p = WarmPool(1)
    p.start()
    yield p
    p.close()


def solve(pool: WarmPool, doc: dict[str, Any], stop_at_first: bool = False) -> Solution:
    inst = from_problem(Problem.model_validate(doc), float(doc["options"]["timeLimitSeconds"]))
    job = PooledSolve(pool, inst)
    if stop_at_first:

        def first(_: Progress) -> None:
            job.stop()

        job.on_progress = first
    answer = job.run()
    assert answer is not None, "no warm worker became free"
    return answer


def as_json(sol: Solution) -> dict[str, Any]:
    return sol.model_dump(mode="json", by_alias=True)


def test_a_small_problem_is_solved_by_the_same_warm_worker_long_before_its_limit(
    pool: WarmPool,
) -> None:
    (pid,) = pool.pids()
    for seed in (1, 2):
        doc = city_problem(5, 2, seed=seed, time_limit=10)
        t0 = time.monotonic()
        sol = solve(pool, doc)
        assert time.monotonic() - t0 < 2, "the 5-stop solve waited for its 10 s limit"
        assert check(doc, as_json(sol)) == []
        assert sol.partial is False and sol.unassigned == []
        wait_for(
            lambda: pool.pids() == [pid], 5, "the worker back in the pool", interval=0.01
        )  # back in the pool, not replaced
    assert pool.replaced == 0


def test_a_pooled_solve_keeps_windows_and_shifts(pool: WarmPool) -> None:
    doc = timed_problem(16, 2, seed=4, capacity=20, two_windows=True, time_limit=2)
    sol = as_json(solve(pool, doc))
    assert check(doc, sol) == []
    assert sum(len(r["visits"]) for r in sol["routes"]) + len(sol["unassigned"]) == 16


def test_a_killed_worker_is_replaced_and_the_next_request_succeeds(pool: WarmPool) -> None:
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pool._idle[0].alive(), 5, "the worker to die", interval=0.01)
    doc = city_problem(8, 2, seed=3, time_limit=5)
    sol = solve(pool, doc)
    assert check(doc, as_json(sol)) == []
    assert sol.partial is False
    assert pool.replaced == 1
    wait_for(lambda: len(pool.pids()) == 1, 5, "one worker in the pool", interval=0.01)
    (fresh,) = pool.pids()
    assert fresh != pid
    os.kill(fresh, 0)  # alive


def test_stopping_mid_solve_returns_the_best_so_far_and_frees_the_worker(
    pool: WarmPool,
) -> None:
    doc = city_problem(25, 3, seed=4, time_limit=10)
    t0 = time.monotonic()
    sol = solve(pool, doc, stop_at_first=True)
    assert time.monotonic() - t0 < 3
    assert sol.partial is True
    assert check(doc, as_json(sol)) == []
    wait_for(
        lambda: len(pool.pids()) == 1, 5, "one worker in the pool", interval=0.01
    )  # reused or replaced: the pool is whole
    again = solve(pool, city_problem(5, 1, seed=6, time_limit=5))
    assert again.partial is False
