"""Re-planning: committed stops keep courier and order (the independent checker verifies it),
new stops are inserted, the previous plan warm-starts the search, ``changes`` lists exactly
the stops whose courier changed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logistica_workers.api import Problem, describe_errors
from logistica_workers.routing import replan
from logistica_workers.routing.instance import from_problem
from logistica_workers.routing.portfolio import Portfolio
from tests.support.feasibility import check, haversine_m
from tests.support.problems import city_problem


def solve(doc: dict[str, Any]) -> dict[str, Any]:
    problem = Problem.model_validate(doc)
    inst, rp = replan.prepare(problem, None)
    solution = Portfolio(inst, initial=rp.warm_start(inst) if rp else None).run()
    if rp is not None:
        solution = rp.finish(solution)
    return solution.model_dump(mode="json", by_alias=True)


def courier_of(answer: dict[str, Any]) -> dict[str, str]:
    return {sid: r["courierId"] for r in answer["routes"] for sid in r["stops"]}


def replanned(seed: int, n: int, new: int, keep: int, **opts: Any) -> dict[str, Any]:
    """A plan for ``n`` stops, then ``new`` more stops with the first ``keep`` stops of each
    route committed and the plan as previousPlan."""
    doc = city_problem(n + new, 3, seed=seed, capacity=(n + new) * 3 // 4, time_limit=2)
    doc["options"].update(opts)
    first = copy.deepcopy(doc)
    first["stops"] = doc["stops"][:n]
    before = solve(first)
    assert check(first, before) == []
    for r in before["routes"]:
        courier = next(c for c in doc["couriers"] if c["id"] == r["courierId"])
        courier["committed"] = r["stops"][:keep]
    doc["previousPlan"] = before
    return doc


@pytest.mark.parametrize("back", [False, True])
def test_a_replan_keeps_committed_stops_and_lists_exactly_what_moved(back: bool) -> None:
    doc = replanned(seed=31, n=30, new=6, keep=3, returnToOrigin=back)
    after = solve(doc)
    assert check(doc, after) == []  # committed stops first, in order, on their courier
    assert all(c.get("committed") for c in doc["couriers"])  # each courier had a route
    for c in doc["couriers"]:
        route = next(r for r in after["routes"] if r["courierId"] == c["id"])
        assert route["stops"][:3] == c["committed"]
    was, now = courier_of(doc["previousPlan"]), courier_of(after)
    expected = [
        {"stopId": s["id"], "from": was.get(s["id"]), "to": now.get(s["id"])}
        for s in doc["stops"]
        if was.get(s["id"]) != now.get(s["id"])
    ]
    assert after["changes"] == expected
    new_ids = {s["id"] for s in doc["stops"][30:]}
    assert {c["stopId"] for c in after["changes"] if c["from"] is None} >= new_ids - set(
        after["unassigned"]
    )
    assert after["totalDistanceMeters"] == pytest.approx(
        sum(r["distanceMeters"] for r in after["routes"])
    )


def test_committed_prefix_is_driven_from_the_courier_position() -> None:
    """Distances are recomputed by the checker along position -> committed -> origin -> new."""
    doc = city_problem(6, 1, seed=4, capacity=20, time_limit=1)
    doc["couriers"][0]["committed"] = ["s4", "s1"]
    after = solve(doc)
    assert check(doc, after) == []
    (route,) = after["routes"]
    assert route["stops"][:2] == ["s4", "s1"]
    c, s4, s1 = doc["couriers"][0], doc["stops"][4], doc["stops"][1]
    prefix = haversine_m(c, s4) + haversine_m(s4, s1)
    assert route["distanceMeters"] > prefix
    assert after["changes"] == []  # no previous plan: nothing to compare with


def test_every_stop_committed_needs_no_search() -> None:
    doc = city_problem(4, 2, seed=6, capacity=10, time_limit=1)
    doc["couriers"][0]["committed"] = ["s2", "s0"]
    doc["couriers"][1]["committed"] = ["s3", "s1"]
    doc["options"]["returnToOrigin"] = True
    after = solve(doc)
    assert check(doc, after) == []
    assert [r["stops"] for r in after["routes"]] == [["s2", "s0"], ["s3", "s1"]]
    assert after["unassigned"] == []


def test_load_on_board_takes_room() -> None:
    doc = city_problem(6, 2, seed=8, capacity=6, time_limit=1)
    for s in doc["stops"]:
        s["demand"] = 2
    doc["couriers"][0]["load"] = 4  # room for one stop of 2 on courier c0
    after = solve(doc)
    assert check(doc, after) == []
    route = next((r for r in after["routes"] if r["courierId"] == "c0"), None)
    assert route is None or route["load"] <= 2
    assert len(after["unassigned"]) == 6 - 3 - 1


def test_warm_start_from_the_previous_plan_is_kept_when_nothing_changed() -> None:
    """Re-solving with the previous plan and no new stops can only do as well or better."""
    doc = city_problem(40, 3, seed=12, capacity=20, time_limit=2)
    before = solve(doc)
    doc["previousPlan"] = {"routes": [{"courierId": r["courierId"], "stops": r["stops"]}
                                      for r in before["routes"]]}  # fmt: skip
    problem = Problem.model_validate(doc)
    inst, rp = replan.prepare(problem, 1)
    assert rp is not None
    warm = rp.warm_start(inst)
    assert warm is not None
    assert [[inst.stop_ids[i] for i in r] for r in warm if r] == [
        r["stops"] for r in before["routes"]
    ]
    after = solve(doc)
    assert after["objective"] <= before["objective"] + 1e-6
    assert check(doc, after) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["couriers"][0].update(committed=["s1", "zz"]), "couriers[0].committed[1]"),
        (
            lambda d: (
                d["couriers"][0].update(committed=["s1"]),
                d["couriers"][1].update(committed=["s1"]),
            ),
            "stop 's1' is already committed to courier 'c0'",
        ),
        (lambda d: d["couriers"][0].update(committed=["s1", "s1"]), "already committed"),
        (lambda d: d["couriers"][0].update(load=11), "load 11 + committed demand 0 exceed"),
        (lambda d: d["couriers"][0].update(load=-1), "couriers[0].load"),
        (lambda d: d["couriers"][0].update(availableAt="soon"), "couriers[0].availableAt"),
        (lambda d: d["couriers"][0].update(committed=["bad id!"]), "couriers[0].committed[0]"),
        (lambda d: d.update(previousPlan={"routes": [{"stops": []}]}), "previousPlan.routes[0]"),
    ],
)
def test_bad_replanning_fields_name_the_field(mutate: Any, message: str) -> None:
    doc = city_problem(4, 2, seed=1, capacity=10)
    mutate(doc)
    with pytest.raises(ValidationError) as info:
        Problem.model_validate(doc)
    assert message in str(describe_errors(info.value))


def test_a_committed_leg_the_matrix_says_is_unreachable_is_refused() -> None:
    doc = city_problem(3, 1, seed=1, capacity=10)
    size = 5
    doc["matrix"] = {"distances": [[0 if i == j else 100.0 for j in range(size)]
                                   for i in range(size)]}  # fmt: skip
    doc["matrix"]["distances"][4][2] = None  # the courier (4) cannot reach s1 (2) directly
    doc["couriers"][0]["committed"] = ["s1"]
    with pytest.raises(ValidationError) as info:
        Problem.model_validate(doc)
    assert "couriers[0].committed: matrix.distances[4][2] is null" in str(
        describe_errors(info.value)
    )


def test_previous_plan_accepts_a_whole_previous_answer() -> None:
    doc = city_problem(5, 1, seed=2, capacity=10, time_limit=1)
    answer = solve(doc)
    doc["previousPlan"] = answer  # totals, solver, changes... are ignored
    problem = Problem.model_validate(doc)
    assert problem.previous_plan is not None
    assert problem.previous_plan.routes[0].stops == answer["routes"][0]["stops"]


def test_solve_cli_replans(tmp_path: Path) -> None:
    doc = replanned(seed=5, n=12, new=3, keep=2)
    path = tmp_path / "replan.json"
    out = tmp_path / "after.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "solve", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    after = json.loads(out.read_text())
    assert check(doc, after) == []
    assert {c["stopId"] for c in after["changes"]} >= {
        s["id"] for s in doc["stops"][12:] if s["id"] not in after["unassigned"]
    }


def test_reduced_problem_moves_the_courier_to_its_last_committed_stop() -> None:
    doc = city_problem(5, 2, seed=3, capacity=10)
    doc["couriers"][1].update(committed=["s3", "s0"], load=2, availableAt=600)
    rp = replan.split(Problem.model_validate(doc))
    c = rp.reduced.couriers[1]
    assert (c.lat, c.lng) == (doc["stops"][0]["lat"], doc["stops"][0]["lng"])
    assert c.capacity == 10 - 2 - doc["stops"][3]["demand"] - doc["stops"][0]["demand"]
    assert c.committed == [] and c.load == 0
    assert isinstance(c.available_at, int) and c.available_at > 600
    assert [s.id for s in rp.reduced.stops] == ["s1", "s2", "s4"]
    inst = from_problem(rp.reduced)
    assert inst.n_stops == 3


@pytest.mark.parametrize("with_windows", [False, True])
def test_available_at_and_committed_prefix_set_the_etas(with_windows: bool) -> None:
    """The checker recomputes every ETA along position -> committed -> origin -> new stops,
    from the courier's availableAt."""
    doc = city_problem(8, 2, seed=14, capacity=30, time_limit=1)
    doc["couriers"][0].update(committed=["s5", "s2"], availableAt=3600)
    doc["couriers"][1].update(availableAt=600)
    if with_windows:
        doc["stops"][6]["timeWindows"] = [{"start": 7200, "end": 9000}]
    after = solve(doc)
    assert check(doc, after) == []
    route = next(r for r in after["routes"] if r["courierId"] == "c0")
    assert route["start"] == 3600
    assert route["visits"][0]["stopId"] == "s5" and route["visits"][0]["arrival"] > 3600
    other = next((r for r in after["routes"] if r["courierId"] == "c1"), None)
    assert other is None or other["start"] >= 600


def test_a_committed_stop_is_served_in_its_window_and_breaks_are_taken_on_the_way() -> None:
    """The committed prefix follows the timing rule too: the courier waits for a committed
    stop's window, takes a break owed while it drives its prefix, and the route's other
    breaks stay in the answer (the checker recomputes every ETA and owed break)."""
    doc = city_problem(10, 2, seed=21, capacity=30, time_limit=1)
    c0 = doc["couriers"][0]
    c0.update(
        committed=["s0", "s1"],
        shift={"start": 0, "end": 8 * 3600},
        breaks=[
            {"start": 600, "end": 900, "durationSeconds": 300},  # owed during the prefix
            {"start": 4 * 3600, "end": 5 * 3600, "durationSeconds": 1800},  # after it
        ],
    )
    doc["stops"][1]["timeWindows"] = [{"start": 2 * 3600, "end": 3 * 3600}]  # opens late
    for s in doc["stops"][2:]:
        s["timeWindows"] = [{"start": 4 * 3600, "end": 6 * 3600}]  # the rest runs past 4 h
    after = solve(doc)
    assert check(doc, after) == []
    route = next(r for r in after["routes"] if r["courierId"] == "c0")
    assert route["stops"][:2] == ["s0", "s1"]
    s1 = route["visits"][1]
    assert s1["arrival"] + s1["waitSeconds"] == 2 * 3600  # waited for the window to open
    assert route["breaks"][0]["start"] <= 900
    if route["end"] > 5 * 3600:  # still running at its latest start: the 4-5 h break is owed
        assert len(route["breaks"]) == 2


def test_max_route_seconds_counts_the_committed_prefix() -> None:
    """The limit is from the start of the whole route: new stops behind a long prefix must end
    by start + maxRouteSeconds (the courier waiting at its last committed stop would not help)."""
    doc = city_problem(12, 1, seed=22, capacity=40, time_limit=1)
    doc["couriers"][0].update(committed=["s0", "s1", "s2"], maxRouteSeconds=2400)
    after = solve(doc)
    assert check(doc, after) == []
    route = after["routes"][0]
    assert route["durationSeconds"] <= 2400
    assert after["unassigned"]  # not everything fits in 40 minutes


def test_a_courier_available_only_after_its_shift_gets_no_stops() -> None:
    doc = city_problem(6, 2, seed=23, capacity=30, time_limit=1)
    doc["couriers"][0].update(shift={"start": 0, "end": 3600}, availableAt=7200)
    after = solve(doc)
    assert check(doc, after) == []
    assert all(r["courierId"] != "c0" for r in after["routes"])


def test_a_committed_prefix_waiting_for_its_window_leaves_later_to_keep_its_limit() -> None:
    """A committed stop whose window opens 3 h into the shift, a 2 h route limit: the courier
    leaves later instead of waiting there (the schedule rule), so the route keeps its limit."""
    doc = city_problem(8, 1, seed=24, capacity=40, time_limit=1)
    doc["couriers"][0].update(committed=["s0"], maxRouteSeconds=7200)
    doc["stops"][0]["timeWindows"] = [{"start": 3 * 3600, "end": 4 * 3600}]
    after = solve(doc)
    assert check(doc, after) == []
    route = after["routes"][0]
    assert route["start"] >= 3600  # left an hour later at least, instead of waiting 3 h
    assert route["durationSeconds"] <= 7200


@pytest.mark.parametrize("keep", [0, 3])
def test_keep_previous_couriers_moves_nothing_between_couriers(keep: int) -> None:
    """keepPreviousCouriers: the previous plan's stops stay with their couriers (the checker
    verifies it), so ``changes`` lists only the new stops placed (or a stop left out); the
    free re-plan of the same problem moves stops between couriers."""
    doc = replanned(seed=32, n=40, new=8, keep=keep)
    free = solve(doc)
    doc["options"]["keepPreviousCouriers"] = True
    kept = solve(doc)
    assert check(doc, kept) == []
    new_ids = {s["id"] for s in doc["stops"][40:]}
    assert all(c["from"] is None or c["to"] is None for c in kept["changes"])
    assert {c["stopId"] for c in kept["changes"] if c["from"] is None} <= new_ids
    served_new = new_ids - set(kept["unassigned"])
    assert {c["stopId"] for c in kept["changes"] if c["from"] is None} == served_new
    assert any(c["from"] is not None and c["to"] is not None for c in free["changes"])


def test_ortools_searches_with_kept_couriers_and_keeps_them() -> None:
    """The engines themselves honour keepPreviousCouriers (not only the portfolio's filter):
    OR-Tools solves the pinned model and every plan it reports keeps each kept stop on its
    courier."""
    from logistica_workers.routing.engines import EngineConfig, run_ortools

    doc = replanned(seed=33, n=30, new=5, keep=1)
    doc["options"]["keepPreviousCouriers"] = True
    inst, _ = replan.prepare(Problem.model_validate(doc), 1.0)
    assert sum(v >= 0 for v in inst.pinned) >= 20
    plans: list[list[list[int]]] = []
    cfg = EngineConfig("ortools", "PATH_CHEAPEST_ARC", "GUIDED_LOCAL_SEARCH")
    status = run_ortools(inst, cfg, plans.append, 1.0)
    assert status == "SUCCESS" and plans
    assert all(inst.keeps_pins(p) for p in plans)
