"""The engine for our model: PyVRP core, OR-Tools warm start, statuses, limits, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ortools.constraint_solver import routing_enums_pb2

from logistica_workers.api import Problem
from logistica_workers.routing import pyvrp_model
from logistica_workers.routing.engines import ENGINES, EngineConfig, Hooks, pyvrp_sees_all
from logistica_workers.routing.evaluate import Routes, to_solution
from logistica_workers.routing.instance import cvrp_instance, from_problem
from logistica_workers.routing.ortools_model import (
    SHARED_INTS_MIN_CELLS,
    STATUS_NAMES,
    matrix_rows,
    status_name,
)
from logistica_workers.routing.portfolio import PYVRP_NEIGHBOURS, default_configs
from logistica_workers.routing.repair import repair_drops
from tests.support.feasibility import check
from tests.support.problems import city_problem
from tests.support.wait import wait_for


def cli(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "solve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc, time.monotonic() - t0


def test_status_names_follow_the_ortools_enum() -> None:
    values = routing_enums_pb2.RoutingSearchStatus.DESCRIPTOR.enum_types[0].values
    names = {v.number: v.name for v in values}
    assert set(names) == set(STATUS_NAMES)
    for code, ours in STATUS_NAMES.items():
        assert names[code].endswith(ours) or code == 2
    assert names[2] == "ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED"
    assert status_name(2, True) == "SUCCESS"  # a normal time-limited stop with a solution
    assert status_name(1, True) == "SUCCESS"
    assert status_name(7, True) == "OPTIMAL"
    assert status_name(3, False) == "FAIL"
    assert status_name(4, False) == "FAIL_TIMEOUT"
    assert status_name(6, False) == "INFEASIBLE"
    assert status_name(2, False) == "SUCCESS_TIME_LIMITED"  # no solution: never "SUCCESS"


@pytest.mark.parametrize("engine", ["hybrid", "pyvrp", "ortools"])
def test_every_engine_path_gives_feasible_plans(engine: str) -> None:
    doc = city_problem(40, 3, seed=11, capacity=20, time_limit=1)  # ~80 demand, 60 capacity
    inst = from_problem(Problem.model_validate(doc), 0.6)
    found: list[Routes] = []
    status = ENGINES[engine](inst, EngineConfig(engine), found.append, 0.6)
    assert status in ("SUCCESS", "OPTIMAL")
    assert found
    for routes in (found[0], found[-1]):  # the first (construction) and the last
        sol = to_solution(
            inst,
            repair_drops(inst, routes),
            engine=engine,
            status=status,
            wall=0.0,
            solutions=1,
            partial=False,
        )
        assert check(doc, sol.model_dump(mode="json", by_alias=True)) == []


def test_hybrid_runs_pyvrp_alone_when_pyvrp_sees_the_whole_objective(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without an arrival term (every priority 0) the OR-Tools phase has nothing to add:
    PyVRP keeps the whole budget; with priorities the OR-Tools phase runs."""
    phases: list[str] = []
    monkeypatch.setattr(Hooks, "phase", phases.append)
    doc = city_problem(30, 3, seed=3, capacity=30)
    weighted = from_problem(Problem.model_validate(doc), 0.6)
    for stop in doc["stops"]:
        stop["priority"] = 0
    flat = from_problem(Problem.model_validate(doc), 0.6)
    assert pyvrp_sees_all(flat) and not pyvrp_sees_all(weighted)
    assert ENGINES["hybrid"](flat, EngineConfig("hybrid"), lambda _r: None, 0.6) == "SUCCESS"
    assert phases == []
    assert ENGINES["hybrid"](weighted, EngineConfig("hybrid"), lambda _r: None, 0.6) == "SUCCESS"
    assert phases == ["ortools"]


def big_problem(n: int, couriers: int, seed: int) -> dict[str, Any]:
    return city_problem(n, couriers, seed=seed, capacity=30)


def test_2000_stops_get_a_complete_feasible_plan_within_the_limit(tmp_path: Path) -> None:
    doc = big_problem(2000, 160, seed=5)  # 4,000 demand, 4,800 capacity: everything fits
    path, out = tmp_path / "p.json", tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    limit = 8
    proc, wall = cli(str(path), "--time-limit", str(limit), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert wall <= limit + 1, f"{wall:.2f} s for a {limit} s limit"
    sol = json.loads(out.read_text())
    assert sol["unassigned"] == []
    assert sol["solver"]["status"] == "SUCCESS"
    assert check(doc, sol) == []


def test_tiny_problem_answers_long_before_its_limit(tmp_path: Path) -> None:
    doc = city_problem(5, 2, seed=2, capacity=10)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    proc, wall = cli(str(path), "--time-limit", "20")
    assert proc.returncode == 0, proc.stderr
    assert wall < 5, f"{wall:.2f} s: a 5-stop problem waited for its 20 s limit"
    sol = json.loads(proc.stdout)
    assert sol["unassigned"] == [] and sol["partial"] is False
    assert check(doc, sol) == []


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_no_solution_while_capacity_exists_exits_1(tmp_path: Path) -> None:
    """SIGTERM before any engine has a plan: every stop unassigned is a failure."""
    doc = big_problem(2000, 160, seed=6)
    path, out = tmp_path / "p.json", tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "logistica_workers", "solve", str(path), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # its signal handlers come before the problem is read; building the instance's
        # matrices takes it past 150 MB (imports alone: ~60 MB), well before any plan
        wait_for(lambda: rss_mb(proc.pid) > 150, 20, "the instance's build", interval=0.01)
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "no solution" in err and "NO_SOLUTION" in err
    sol = json.loads(out.read_text())
    assert sol["solver"]["status"] == "NO_SOLUTION" and sol["partial"] is True
    assert len(sol["unassigned"]) == 2000


def test_nothing_fits_is_not_a_failure(tmp_path: Path) -> None:
    doc = city_problem(3, 1, seed=1, capacity=1)
    for s in doc["stops"]:
        s["demand"] = 5
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    proc, _ = cli(str(path), "--time-limit", "1")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["unassigned"]) == 3


def test_small_short_capacity_problems_search_two_pyvrp_neighbourhoods() -> None:
    """Capacity short, 52-150 stops: PyVRP then OR-Tools twice, the second with every other
    stop in PyVRP's neighbourhood; capacity enough (or too few stops for the neighbourhood to
    differ): the hybrid beside plain OR-Tools, as before."""
    short = from_problem(Problem.model_validate(city_problem(100, 5, seed=2, capacity=20)))
    plenty = from_problem(Problem.model_validate(city_problem(100, 5, seed=2, capacity=60)))
    tiny = from_problem(Problem.model_validate(city_problem(40, 2, seed=2, capacity=20)))
    assert short.capacity_short and not plenty.capacity_short and tiny.capacity_short
    configs = default_configs(short, 2)
    assert [(c.engine, c.neighbours) for c in configs] == [("hybrid", None), ("hybrid", 99)]
    assert "neighbours=99" in configs[1].label
    for inst in (plenty, tiny):
        assert [c.engine for c in default_configs(inst, 2)] == ["hybrid", "ortools"]
    params = pyvrp_model.solve_params(short, neighbours=99)
    assert params.neighbourhood.num_neighbours == 99
    assert pyvrp_model.solve_params(short).neighbourhood.num_neighbours == PYVRP_NEIGHBOURS


def test_pyvrp_remembers_fewer_solutions_on_larger_problems() -> None:
    """PyVRP's late-acceptance history holds whole solutions: its default length up to
    ``HISTORY_VISITS`` / 300 stops, shorter above (memory), never below one; capacity short,
    times and classic CVRP keep PyVRP's default."""
    small = from_problem(Problem.model_validate(city_problem(300, 5, seed=1, capacity=200)))
    large_doc = city_problem(500, 10, seed=1, capacity=200)
    large = from_problem(Problem.model_validate(large_doc))
    short = from_problem(Problem.model_validate(city_problem(500, 10, seed=1, capacity=20)))
    large_doc["couriers"][0]["maxRouteSeconds"] = 3600
    timed = from_problem(Problem.model_validate(large_doc))
    assert pyvrp_model.solve_params(small).ils.history_length == pyvrp_model.HISTORY_LENGTH
    assert pyvrp_model.solve_params(large).ils.history_length == 200
    assert pyvrp_model.history_length(1000) == 100
    for unbounded in (short, timed):
        params = pyvrp_model.solve_params(unbounded)
        assert params.ils.history_length == pyvrp_model.HISTORY_LENGTH
    assert pyvrp_model.history_length(2000) == 50
    assert pyvrp_model.history_length(10**6) == 1
    xy = np.random.default_rng(1).uniform(0, 1000, (501, 2))
    cvrp = cvrp_instance(xy, [1] * 500, 50, 1.0, [f"c{i}" for i in range(500)])
    assert pyvrp_model.solve_params(cvrp).ils.history_length == pyvrp_model.HISTORY_LENGTH


def test_matrix_rows_are_the_matrix_with_one_int_per_distinct_value() -> None:
    rng = np.random.default_rng(1)
    side = 400  # above SHARED_INTS_MIN_CELLS cells
    assert side * side > SHARED_INTS_MIN_CELLS
    matrix = rng.integers(0, 5000, (side, side)).astype(np.int64) * 100
    rows = matrix_rows(matrix)
    assert rows == matrix.tolist()
    assert matrix_rows(matrix, 7) == (matrix * 7).tolist()
    assert matrix_rows(matrix[:9, :9], 7) == (matrix[:9, :9] * 7).tolist()  # small: direct
    assert all(type(v) is int for v in rows[7])
    objects = {id(v) for row in rows for v in row}
    assert len(objects) == len(np.unique(matrix))  # each value one shared object
