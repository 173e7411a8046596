"""PyVRP engines on threads of the solving process: no engine process, two cores, stoppable."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

from logistica_workers.api import Problem, Solution
from logistica_workers.routing.engines import EngineConfig
from logistica_workers.routing.instance import from_problem
from logistica_workers.routing.portfolio import (
    LEAN_ORTOOLS_MAX_STOPS,
    LEAN_PYVRP_SHARE,
    Portfolio,
    Progress,
    default_configs,
)
from logistica_workers.routing.pyvrp_model import solve_params
from tests.support.feasibility import check
from tests.support.problems import city_problem, timed_problem
from tests.support.wait import wait_for

SEEDS = [EngineConfig("pyvrp", seed=1), EngineConfig("pyvrp", seed=2)]


def engine_threads() -> list[str]:
    labels = {c.label for c in SEEDS}
    return [t.name for t in threading.enumerate() if t.name in labels]


def test_pyvrp_engines_run_on_threads_and_give_feasible_plans() -> None:
    doc = city_problem(200, 12, seed=3, capacity=25, time_limit=2)
    inst = from_problem(Problem.model_validate(doc))
    seen: list[tuple[list[str], list[mp.process.BaseProcess]]] = []

    def progress(_p: Progress) -> None:
        seen.append((engine_threads(), mp.active_children()))

    sol = Portfolio(inst, SEEDS, on_progress=progress).run()
    assert seen, "no progress reported"
    # both engines searched on threads at once (the last report may come from an engine's
    # last step, its polish, when the other has ended)
    assert any(sorted(threads) == sorted(c.label for c in SEEDS) for threads, _ in seen)
    assert all(children == [] for _, children in seen)  # no engine process was started
    assert sol.solver.engine in {c.label for c in SEEDS}
    assert not sol.partial
    assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []
    wait_for(lambda: not engine_threads(), 5, "the engine threads to end")


def test_stopping_returns_the_best_so_far_and_ends_the_threads() -> None:
    doc = city_problem(300, 15, seed=4, capacity=30, time_limit=60)
    inst = from_problem(Problem.model_validate(doc))
    portfolio = Portfolio(inst, SEEDS)
    out: list[Solution] = []
    runner = threading.Thread(target=lambda: out.append(portfolio.run()))
    runner.start()
    wait_for(lambda: portfolio.best is not None, 20, "a first plan")
    stop_and_check(portfolio, runner, out, doc)
    wait_for(lambda: not engine_threads(), 5, "the engine threads to end")


def stop_and_check(
    portfolio: Portfolio, runner: threading.Thread, out: list[Solution], doc: dict[str, Any]
) -> None:
    """Stop a running 60 s portfolio: it answers at once with a feasible partial plan."""
    asked = time.monotonic()
    portfolio.stop()
    runner.join(5)
    assert not runner.is_alive() and out
    assert time.monotonic() - asked < 2  # not the 60 s limit
    assert out[0].partial and out[0].solver.status == "INTERRUPTED"
    assert check(doc, out[0].model_dump(mode="json", by_alias=True)) == []


def test_the_default_portfolio_keeps_ortools_in_a_process() -> None:
    # timed: untimed problems of this size run two polished PyVRP seeds (no OR-Tools at all)
    doc = timed_problem(200, 12, seed=5, capacity=25, time_limit=2)
    inst = from_problem(Problem.model_validate(doc))
    configs = default_configs(inst, workers=2)
    seen: list[tuple[list[str], int]] = []

    def progress(_p: Progress) -> None:
        seen.append((engine_threads(), len(mp.active_children())))

    sol = Portfolio(inst, configs, on_progress=progress).run()
    # one engine process (hybrid: PyVRP then OR-Tools, which holds the GIL) beside a thread
    engines = {c.engine for c in configs}
    expected_processes = sum(c.engine != "pyvrp" for c in configs)
    assert expected_processes >= 1  # hybrid (and plain OR-Tools up to 150 stops)
    assert any(n == expected_processes for _, n in seen)
    if "pyvrp" in engines:
        assert any(threads for threads, _ in seen)
    assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []


def test_a_lean_portfolio_is_one_process_and_gives_feasible_plans() -> None:
    """``solve``'s layout: hybrid (PyVRP, then OR-Tools) and a second PyVRP seed on threads
    (timed problems: untimed ones of this size run two PyVRP seeds and no OR-Tools)."""
    doc = timed_problem(200, 12, seed=5, capacity=25, time_limit=2)
    inst = from_problem(Problem.model_validate(doc))
    labels = {c.label for c in default_configs(inst, workers=2)}
    children: list[int] = []

    def progress(_p: Progress) -> None:
        children.append(len(mp.active_children()))

    portfolio = Portfolio(inst, on_progress=progress, lean=True)
    assert not portfolio.needs_processes()
    shares = [c.pyvrp_share for c in portfolio.configs if c.engine == "hybrid"]
    assert shares and min(shares) >= LEAN_PYVRP_SHARE
    sol = portfolio.run()
    assert children and set(children) == {0}  # no engine process at any report
    assert sol.solver.engine in labels
    assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []


def test_the_ortools_phase_on_a_thread_stops_the_pyvrp_thread_and_can_be_interrupted() -> None:
    doc = city_problem(300, 15, seed=4, capacity=30, time_limit=60)
    inst = from_problem(Problem.model_validate(doc))
    hybrid = EngineConfig("hybrid", seed=1, pyvrp_share=0.04)  # OR-Tools after ~2.4 s
    configs = [hybrid, EngineConfig("pyvrp", seed=2)]
    portfolio = Portfolio(inst, configs, lean=True)
    out: list[Solution] = []
    runner = threading.Thread(target=lambda: out.append(portfolio.run()))
    runner.start()
    wait_for(lambda: portfolio.phases, 30, "the OR-Tools phase")
    assert portfolio.phases == [(hybrid.label, "ortools")]
    # the PyVRP thread stops for it (OR-Tools holds the GIL) ...
    wait_for(lambda: "pyvrp(seed=2)" not in engine_threads(), 5, "the PyVRP thread to end")
    assert runner.is_alive()  # ... while OR-Tools searches on
    stop_and_check(portfolio, runner, out, doc)


def test_a_lean_portfolio_leaves_out_the_ortools_phase_above_its_size_limit() -> None:
    doc = timed_problem(LEAN_ORTOOLS_MAX_STOPS + 1, 40, seed=6, capacity=60, time_limit=2)
    inst = from_problem(Problem.model_validate(doc))
    configs = default_configs(inst, workers=2)
    assert "hybrid" in {c.engine for c in configs}
    lean = Portfolio(inst, configs, lean=True)
    assert [c.engine for c in lean.configs] == ["pyvrp"] * len(configs)
    assert [c.seed for c in lean.configs] == [c.seed for c in configs]
    assert not lean.needs_processes()
    assert Portfolio(inst, configs).configs == configs  # the service's layout keeps it


def test_pyvrp_engines_get_search_parameters_of_their_own() -> None:
    """PyVRP's default search parameters are one shared object: callbacks set on it by one
    engine thread would report every other thread's plans as its own."""
    inst = from_problem(Problem.model_validate(city_problem(20, 3, seed=1, capacity=20)))
    assert solve_params(inst).ils is not solve_params(inst).ils
