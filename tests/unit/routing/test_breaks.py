"""Couriers' breaks on the PyVRP path: break copies of the stops (``pyvrp_model``) against the
old path (PyVRP planning without breaks, its routes cut down until their breaks fit), the
portfolio that runs both, and the README's statement of which engine answers which model.

Every answer goes through the independent checker (tests/support/feasibility.py).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from logistica_workers.api import Problem
from logistica_workers.routing import pyvrp_model
from logistica_workers.routing.engines import ENGINES, EngineConfig
from logistica_workers.routing.evaluate import Routes, score, to_solution
from logistica_workers.routing.instance import Instance, from_problem
from logistica_workers.routing.portfolio import Portfolio, default_configs
from logistica_workers.routing.repair import repair_drops
from tests.support.feasibility import check
from tests.support.problems import timed_problem

README = Path(__file__).resolve().parents[3] / "README.md"


def swap_problem() -> dict[str, Any]:
    """Two stops, two couriers, a road matrix (origin, s1, s2, c1, c2; seconds = metres).

    c1 starts at the origin and owes a 1,000 s break starting at 500-700 s; c2 starts 1,200 s
    away and has none. s2 (window 0-1,700 s) only c1 reaches in time; s1 (0-1,850 s) both do.
    Without breaks c1 serving both is cheapest, but with its break c1 has time for one stop
    only: the one plan serving both is c1 -> break -> s2, c2 -> s1. Cutting c1's route down
    drops the lower-priority s2, which no insertion puts back (c2 is too late for it)."""
    d = [
        [0, 600, 600, 0, 1200],
        [600, 0, 300, 600, 1800],
        [600, 300, 0, 600, 1800],
        [0, 600, 600, 0, 1200],
        [1200, 1800, 1800, 1200, 0],
    ]
    lisbon = {"lat": 38.72, "lng": -9.14}
    return {
        "origin": lisbon,
        "stops": [
            {"id": "s1", **lisbon, "priority": 50, "timeWindows": [{"start": 0, "end": 1850}]},
            {"id": "s2", **lisbon, "priority": 0, "timeWindows": [{"start": 0, "end": 1700}]},
        ],
        "couriers": [
            {
                "id": "c1",
                **lisbon,
                "capacity": 5,
                "shift": {"start": 0, "end": 10000},
                "breaks": [{"start": 500, "end": 700, "durationSeconds": 1000}],
            },
            {"id": "c2", **lisbon, "capacity": 5, "shift": {"start": 0, "end": 10000}},
        ],
        "matrix": {"durations": d, "distances": d},
    }


def pyvrp_answer(doc: dict[str, Any], model_breaks: bool, seed: int = 1) -> dict[str, Any]:
    """The PyVRP engine's last plan, with the portfolio's last repair, as the API answers."""
    inst = from_problem(Problem.model_validate(doc), 1.0)
    found: list[Routes] = []
    cfg = EngineConfig("pyvrp", seed=seed, pyvrp_breaks=model_breaks)
    assert ENGINES["pyvrp"](inst, cfg, found.append, 1.0) == "SUCCESS"
    assert all(score(inst, r).feasible for r in found)
    return to_solution(
        inst,
        repair_drops(inst, found[-1]),
        engine="pyvrp",
        status="SUCCESS",
        wall=0.0,
        solutions=len(found),
        partial=False,
    ).model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_break_copies_keep_the_stop_the_old_pyvrp_path_dropped(seed: int) -> None:
    doc = swap_problem()
    old = pyvrp_answer(doc, model_breaks=False, seed=seed)
    assert old["unassigned"] == ["s2"]  # planned without the break, cut down, not put back
    new = pyvrp_answer(doc, model_breaks=True, seed=seed)
    assert new["unassigned"] == []
    assert {r["courierId"]: r["stops"] for r in new["routes"]} == {"c1": ["s2"], "c2": ["s1"]}
    assert check(doc, new) == []


def test_break_copies_are_restricted_to_the_couriers_owing_that_break() -> None:
    doc = swap_problem()
    inst = from_problem(Problem.model_validate(doc), 1.0)
    kinds = pyvrp_model.break_kinds(inst)
    assert kinds == [(500, 700, 1000)]
    data = pyvrp_model.build(inst)
    # s1 and s2, then one copy each: break at 500-700 s, ending before the stop's window ends
    assert data.num_clients == 4
    copies = [data.clients()[c] for c in (2, 3)]
    # break start 500-700 s, and the stop's service (break end) still inside its window
    assert [(c.tw_early, c.tw_late, c.service_duration) for c in copies] == [(500, 700, 1000)] * 2
    assert [c.delivery[1] for c in data.clients()] == [0, 0, 1, 1]
    assert [v.capacity[1] for v in data.vehicle_types()] == [1, 0]  # only c1 takes a copy
    assert pyvrp_model.stop_of_clients(inst) == [0, 1, 0, 1]
    assert [g.clients for g in data.groups()] == [[0, 2], [1, 3]]  # each stop served once
    assert pyvrp_model.build(inst, model_breaks=False).num_clients == 2


def test_too_many_kinds_of_break_fall_back_to_planning_without_them() -> None:
    doc = timed_problem(12, 5, seed=2, capacity=30)
    for k, c in enumerate(doc["couriers"]):
        start = c["shift"]["start"]
        c["breaks"] = [{"start": start + 60 * k, "end": start + 3600, "durationSeconds": 600}]
    inst = from_problem(Problem.model_validate(doc), 0.5)
    assert pyvrp_model.break_kinds(inst) is None  # 5 kinds > MAX_BREAK_KINDS
    assert pyvrp_model.build(inst).num_clients == inst.n_stops
    labels = [(c.engine, c.pyvrp_breaks) for c in default_configs(inst)]
    assert ("hybrid", True) in labels  # the usual portfolio: PyVRP then repairs its routes


def breaks_inst(n: int, limit: float) -> tuple[dict[str, Any], Instance]:
    doc = timed_problem(n, 4, seed=5, capacity=30)
    for c in doc["couriers"]:  # one kind of break: the same lunch slot for everybody
        c["breaks"] = [{"start": 7200, "end": 9000, "durationSeconds": 1800}]
    return doc, from_problem(Problem.model_validate(doc), limit)


@pytest.mark.parametrize("back", [False, True])
def test_pyvrp_plans_with_break_copies_pass_the_checker(back: bool) -> None:
    """Open and closed routes, route limits, two breaks per courier (two kinds): every plan
    PyVRP reports keeps its breaks once the timing rule places them."""
    doc, _ = breaks_inst(40, 1.0)
    doc["options"] = {**doc.get("options", {}), "returnToOrigin": back}
    for c in doc["couriers"]:
        c["maxRouteSeconds"] = 5 * 3600
        c["breaks"] = [
            {"start": 3600, "end": 5400, "durationSeconds": 900},
            *c["breaks"],
        ]
    inst = from_problem(Problem.model_validate(doc), 1.0)
    assert pyvrp_model.break_kinds(inst) == [(3600, 5400, 900), (7200, 9000, 1800)]
    found: list[Routes] = []
    assert ENGINES["pyvrp"](inst, EngineConfig("pyvrp"), found.append, 1.0) == "SUCCESS"
    assert found and all(score(inst, r).feasible for r in found)
    sol = to_solution(
        inst, found[-1], engine="pyvrp", status="SUCCESS", wall=0.0, solutions=1, partial=False
    ).model_dump(mode="json", by_alias=True)
    assert check(doc, sol) == []
    assert any(len(r["breaks"]) == 2 for r in sol["routes"])


def test_the_portfolio_runs_pyvrp_with_and_without_break_copies() -> None:
    doc, inst = breaks_inst(40, 1.0)
    configs = default_configs(inst)
    assert [(c.engine, c.pyvrp_breaks) for c in configs] == [("hybrid", True), ("hybrid", False)]
    sol = Portfolio(inst, configs).run().model_dump(mode="json", by_alias=True)
    assert check(doc, sol) == []
    assert any(r["breaks"] for r in sol["routes"])
    big = dataclasses.replace(inst, stop_ids=[*inst.stop_ids, *("x" * 200)])
    assert [c.engine for c in default_configs(big)] == ["hybrid", "pyvrp"]


def test_readme_says_which_engine_answers_breaks() -> None:
    text = README.read_text()
    table = text[text.index("**Which engine answers which model**") :]
    row = next(line for line in table.splitlines() if line.startswith("| breaks |"))
    assert "break cop" in row and "SetBreakIntervalsOfVehicle" in row
    assert re.search(r"`break_configs`", text)
