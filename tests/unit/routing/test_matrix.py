"""User matrices (``Problem.matrix``): validation, the solver using them instead of haversine,
and unreachable (null) arcs never driven."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from logistica_workers.api import Problem, describe_errors
from logistica_workers.api.routing import MAX_MATRIX_LOCATIONS
from logistica_workers.routing.evaluate import unreachable_stops
from logistica_workers.routing.geo import haversine_matrix
from logistica_workers.routing.instance import ROUND_BLOCK, from_problem
from logistica_workers.routing.portfolio import Portfolio
from tests.support.feasibility import check
from tests.support.problems import city_problem


def solve(doc: dict[str, Any]) -> dict[str, Any]:
    problem = Problem.model_validate(doc)
    return Portfolio(from_problem(problem)).run().model_dump(mode="json", by_alias=True)


def haversine_of(doc: dict[str, Any]) -> list[list[float | None]]:
    pts = [doc["origin"], *doc["stops"], *doc["couriers"]]
    lat = np.array([p["lat"] for p in pts])
    lng = np.array([p["lng"] for p in pts])
    return [[round(float(x), 1) for x in row] for row in haversine_matrix(lat, lng)]


def errors_of(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        Problem.model_validate(doc)
    return str(describe_errors(info.value))


def small() -> dict[str, Any]:
    doc = city_problem(3, 1, seed=4)
    doc["matrix"] = {"distances": haversine_of(doc)}
    return doc


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda m: m.__setitem__("distances", [r[:4] for r in m["distances"][:4]]),
            "matrix is 4 x 4; it must be 5 x 5",
        ),
        (lambda m: m["distances"][2].pop(), "row [2] has 4 entries; the matrix is square (5)"),
        (lambda m: m["distances"][1].__setitem__(3, -1), "matrix.distances: [1][3] is -1"),
        (lambda m: m["distances"][4].__setitem__(0, float("inf")), "[4][0] is inf"),
        (lambda m: m["distances"][3].__setitem__(2, "12"), "matrix.distances[3][2]"),
        (lambda m: m["distances"][0].__setitem__(1, True), "matrix.distances[0][1]"),
        (lambda m: m.__setitem__("distances", 7), "matrix.distances"),
        (lambda m: m.pop("distances"), "give durations, distances or both"),
        (
            lambda m: m.__setitem__("durations", [[0.0] * 4 for _ in range(4)]),
            "durations is 4 wide but distances 5",
        ),
    ],
)
def test_bad_matrix_is_refused_naming_the_field_and_cell(mutate: Any, message: str) -> None:
    doc = small()
    mutate(doc["matrix"])
    assert message in errors_of(doc)


def test_null_cells_are_accepted_as_unreachable() -> None:
    doc = small()
    doc["matrix"]["distances"][1][2] = None
    problem = Problem.model_validate(doc)
    inst = from_problem(problem)
    assert inst.blocked is not None and inst.blocked[0, 1]  # stop 0 -> stop 1
    assert int(inst.blocked.sum()) == 1


def test_a_huge_matrix_is_refused_before_its_cells_are_parsed() -> None:
    doc = small()
    row: list[Any] = ["not a number"]
    doc["matrix"]["distances"] = [row] * (MAX_MATRIX_LOCATIONS + 1)  # one shared row: cheap
    started = time.perf_counter()
    message = errors_of(doc)
    assert time.perf_counter() - started < 0.5
    assert f"exceed the limit of {MAX_MATRIX_LOCATIONS} locations" in message
    assert message.count("matrix.distances") == 1  # one error, not one per cell


def test_matrix_distances_and_durations_are_what_the_solver_uses() -> None:
    doc = small()
    size = 5
    doc["matrix"] = {
        "distances": [[0 if i == j else 1000 * (i + j) for j in range(size)] for i in range(size)],
        "durations": [[0 if i == j else 60 * (i + j) for j in range(size)] for i in range(size)],
    }
    doc["stops"][0]["serviceSeconds"] = 30
    inst = from_problem(Problem.model_validate(doc))
    # stop 0 -> stop 1 is location 1 -> 2; courier 0 (location 4) -> stop 2 goes via the origin
    assert inst.distance[0, 1] == 3000
    assert inst.travel_time[0, 1] == 180 + 30
    assert inst.distance[inst.start(0), 2] == 4000 + 3000
    assert inst.travel_time[inst.start(0), 2] == 240 + 180
    sol = solve(doc)
    assert check(doc, sol) == []  # the checker sums the matrix's distances


def test_fractional_matrices_round_half_to_even_in_every_row_block() -> None:
    """The instance rounds a user matrix as ``np.rint`` (halves to even), in place and a block
    of rows at a time: more rows than one block, halves, nulls (unreachable arcs)."""
    doc = city_problem(ROUND_BLOCK + 10, 2, seed=5)
    size = 1 + len(doc["stops"]) + len(doc["couriers"])
    rng = np.random.default_rng(5)
    dist = np.round(rng.uniform(0, 9000, (size, size)) * 2) / 2  # many halves
    secs = np.round(rng.uniform(0, 900, (size, size)) * 4) / 4
    np.fill_diagonal(dist, 0)
    np.fill_diagonal(secs, 0)
    cells: list[list[float | None]] = [[float(v) for v in row] for row in dist]
    cells[3][7] = None
    doc["matrix"] = {"distances": cells, "durations": secs.tolist()}
    for stop in doc["stops"]:
        stop["serviceSeconds"] = 0
    inst = from_problem(Problem.model_validate(doc))
    n = inst.n_stops
    assert inst.blocked is not None and inst.blocked[2, 6] and int(inst.blocked.sum()) == 1
    open_arcs = ~inst.blocked[:n, :n]
    assert np.array_equal(
        inst.distance[:n, :n][open_arcs], np.rint(dist[1:, 1:][:n, :n])[open_arcs]
    )
    assert np.array_equal(
        inst.travel_time[:n, :n][open_arcs], np.rint(secs[1:, 1:][:n, :n])[open_arcs]
    )
    assert inst.distance.dtype == inst.travel_time.dtype == np.int64


def river(matrix: bool) -> dict[str, Any]:
    """The origin and stop "west" on the west bank, "east" across a river just east of the
    origin. As the crow flies east is nearer, so one courier goes east first; with a road
    matrix the only bridge is far away, each crossing costs a 20 km detour, and the courier
    serves the west bank first and crosses once."""
    doc: dict[str, Any] = {
        "origin": {"lat": 38.70, "lng": -9.14},
        "stops": [
            {"id": "east", "lat": 38.70, "lng": -9.128, "priority": 0},
            {"id": "west", "lat": 38.70, "lng": -9.158, "priority": 0},
        ],
        "couriers": [{"id": "c", "lat": 38.70, "lng": -9.14, "capacity": 5}],
        "options": {"timeLimitSeconds": 1},
    }
    if matrix:
        bank = [0, 1, 0, 0]  # origin west, east, west, courier (at the origin) west
        dist = haversine_of(doc)
        for i in range(4):
            for j in range(4):
                if bank[i] != bank[j]:
                    dist[i][j] = (dist[i][j] or 0) + 20_000.0
        doc["matrix"] = {"distances": dist}
    return doc


def test_a_river_matrix_changes_the_order() -> None:
    crow = solve(river(matrix=False))
    assert crow["routes"][0]["stops"] == ["east", "west"]
    doc = river(matrix=True)
    road = solve(doc)
    assert road["routes"][0]["stops"] == ["west", "east"]
    assert road["totalDistanceMeters"] > 20_000  # it pays for one crossing, not two
    assert road["totalDistanceMeters"] < 40_000
    assert check(doc, road) == []


def test_a_river_matrix_changes_which_courier_serves() -> None:
    """Every courier drives to the origin to load, so the plan uses the courier with the
    cheapest way there: "across" is nearer as the crow flies but on the far bank; "along" is
    farther but on the origin's bank. One courier can take both stops."""
    doc: dict[str, Any] = {
        "origin": {"lat": 38.70, "lng": -9.14},
        "stops": [
            {"id": "a", "lat": 38.71, "lng": -9.15, "priority": 0},
            {"id": "b", "lat": 38.69, "lng": -9.15, "priority": 0},
        ],
        "couriers": [
            {"id": "across", "lat": 38.70, "lng": -9.13, "capacity": 2},
            {"id": "along", "lat": 38.70, "lng": -9.165, "capacity": 2},
        ],
        "options": {"timeLimitSeconds": 1},
    }
    crow = solve(doc)
    assert [r["courierId"] for r in crow["routes"]] == ["across"]
    bank = [0, 0, 0, 1, 0]  # origin, a, b, across, along: only "across" is east of the river
    dist = haversine_of(doc)
    for i in range(5):
        for j in range(5):
            if bank[i] != bank[j]:
                dist[i][j] = (dist[i][j] or 0) + 20_000.0
    doc["matrix"] = {"distances": dist}
    road = solve(doc)
    assert [r["courierId"] for r in road["routes"]] == ["along"]
    assert check(doc, road) == []


@pytest.mark.parametrize("timed", [False, True])
def test_unreachable_stop_is_unassigned_and_no_null_arc_is_driven(timed: bool) -> None:
    doc = city_problem(14, 2, seed=21, capacity=20, time_limit=2)
    if timed:  # the timed engines and the timed repair
        for c in doc["couriers"]:
            c["shift"] = {"start": 0, "end": 6 * 3600}
        doc["stops"][6]["timeWindows"] = [{"start": 0, "end": 4 * 3600}]
    n = len(doc["stops"])
    dist = haversine_of(doc)
    for i in range(n + 3):  # nothing reaches s3
        if i != 4:
            dist[i][4] = None
    dist[0][5] = None  # s4 only from other stops, not straight from the origin
    dist[7][8] = None  # s6 -> s7 closed
    doc["matrix"] = {"distances": dist}
    inst = from_problem(Problem.model_validate(doc))
    assert unreachable_stops(inst) == {3}
    sol = solve(doc)
    assert sol["unassigned"] == ["s3"]
    assert sol["unassignedReasons"] == [{"stopId": "s3", "reason": "unreachable"}]
    assert check(doc, sol) == []  # the checker refuses any null arc on a route
    for route in sol["routes"]:
        stops = route["stops"]
        if stops and stops[0] == "s4":
            pytest.fail("s4 was reached straight from the origin")
        assert ("s6", "s7") not in itertools.pairwise(stops)


def test_solve_cli_names_the_bad_matrix_cell(tmp_path: Path) -> None:
    doc = small()
    doc["matrix"]["distances"][2][1] = -3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "solve", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "matrix.distances: [2][1] is -3" in proc.stderr
