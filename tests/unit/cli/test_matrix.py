"""``logistica matrix`` against a small server speaking OSRM's table protocol (no external
calls): blocks within the server's table limit, null cells, OSRM error codes."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from logistica_workers.api import Matrix, Problem
from logistica_workers.routing.instance import from_problem
from logistica_workers.routing.portfolio import Portfolio
from tests.support.cli import logistica
from tests.support.feasibility import check, haversine_m
from tests.support.problems import city_problem

MAX_TABLE = 6  # like osrm-routed --max-table-size 6
ISLAND_LAT = 50.0  # no road reaches a point north of this (its cells are null)


def road_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The test server's road distance: 1.3 x the crow's, east-west legs 1.6 x."""
    crow = haversine_m({"lat": a[1], "lng": a[0]}, {"lat": b[1], "lng": b[0]})
    return crow * (1.6 if abs(a[0] - b[0]) > abs(a[1] - b[1]) else 1.3)


@dataclass
class FakeOsrm:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: tuple[int, str] | None = None  # (HTTP status, OSRM code) for every request


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def app_for(state: FakeOsrm) -> web.Application:
    async def table(request: web.Request) -> web.Response:
        if state.fail_with:
            status, code = state.fail_with
            return _error(status, code, "the server says no")
        try:
            coords = [
                (float(x), float(y))
                for x, y in (p.split(",") for p in request.match_info["coords"].split(";"))
            ]
        except ValueError:
            return _error(400, "InvalidUrl", "URL string malformed close to position 1")
        q = request.query
        sources = [int(i) for i in q["sources"].split(";")] if "sources" in q else None
        dests = [int(i) for i in q["destinations"].split(";")] if "destinations" in q else None
        sources = sources if sources is not None else list(range(len(coords)))
        dests = dests if dests is not None else list(range(len(coords)))
        state.requests.append({"coords": len(coords), "profile": request.match_info["profile"]})
        if len(coords) > MAX_TABLE:
            return _error(400, "TooBig", "Too many table coordinates")
        if set(q.get("annotations", "duration").split(",")) != {"duration", "distance"}:
            return _error(400, "InvalidOptions", "annotations must be duration,distance here")
        if any(not 0 <= i < len(coords) for i in sources + dests):
            return _error(400, "InvalidOptions", "source or destination out of range")

        def cell(i: int, j: int, per: float) -> float | None:
            a, b = coords[i], coords[j]
            if i != j and (a[1] > ISLAND_LAT) != (b[1] > ISLAND_LAT):
                return None
            return road_m(a, b) / per

        return web.json_response(
            {
                "code": "Ok",
                "durations": [[cell(i, j, 10.0) for j in dests] for i in sources],
                "distances": [[cell(i, j, 1.0) for j in dests] for i in sources],
                "sources": [{"location": list(coords[i])} for i in sources],
                "destinations": [{"location": list(coords[j])} for j in dests],
            }
        )

    app = web.Application()
    app.router.add_get("/table/v1/{profile}/{coords}", table)
    return app


@pytest.fixture
def osrm() -> Iterator[FakeOsrm]:
    state = FakeOsrm()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(app_for(state))

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)  # any free port
        await site.start()
        host, port = runner.addresses[0][:2]
        state.url = f"http://{host}:{port}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    assert ready.wait(10)
    yield state
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def problem_file(tmp_path: Path, island: bool = True) -> tuple[Path, dict[str, Any]]:
    doc = city_problem(6, 2, seed=8, capacity=20, time_limit=1)
    if island:
        doc["stops"][2].update(lat=51.0, lng=-9.0)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(doc))
    return path, doc


def test_matrix_is_filled_in_blocks_the_server_accepts(osrm: FakeOsrm, tmp_path: Path) -> None:
    path, doc = problem_file(tmp_path)
    out = tmp_path / "with-matrix.json"
    proc = logistica("matrix", str(path), "--osrm", osrm.url, "--chunk", "6", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "9 locations" in proc.stderr and "unreachable" in proc.stderr
    # 9 locations in blocks of 3: 3 x 3 requests, each within the server's limit
    assert len(osrm.requests) == 9
    assert all(r["coords"] <= MAX_TABLE and r["profile"] == "driving" for r in osrm.requests)
    result = json.loads(out.read_text())
    problem = Problem.model_validate(result)
    assert problem.matrix is not None
    durations, distances = problem.matrix.durations, problem.matrix.distances
    assert durations is not None and distances is not None
    pts = [doc["origin"], *doc["stops"], *doc["couriers"]]
    for i, a in enumerate(pts):
        for j, b in enumerate(pts):
            if i == j:
                assert durations[i][j] == distances[i][j] == 0
            elif (i == 3) != (j == 3):  # stop 2 (location 3) is on the island
                assert durations[i][j] is None and distances[i][j] is None
            else:
                want = road_m((a["lng"], a["lat"]), (b["lng"], b["lat"]))
                assert distances[i][j] == pytest.approx(want, abs=0.1), (i, j)
                assert durations[i][j] == pytest.approx(want / 10, abs=0.1), (i, j)
    # and the solver drives the server's roads: the island stop is not served
    solution = Portfolio(from_problem(problem)).run().model_dump(mode="json", by_alias=True)
    assert solution["unassigned"] == ["s2"]
    assert check(result, solution) == []


def test_matrix_only_output_is_a_matrix_from_value(osrm: FakeOsrm, tmp_path: Path) -> None:
    path, doc = problem_file(tmp_path, island=False)
    out = tmp_path / "matrix.json"
    proc = logistica(
        "matrix", str(path), "--osrm", osrm.url + "/", "--profile", "bike", "--matrix-only",
        "--chunk", "6", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert {r["profile"] for r in osrm.requests} == {"bike"}
    matrix = Matrix.model_validate(json.loads(out.read_text()))
    problem = Problem.model_validate(doc).with_matrix(matrix)
    assert problem.matrix is not None and problem.matrix.size() == 9


@pytest.mark.parametrize(
    ("fail_with", "message"),
    [
        ((400, "InvalidQuery"), "HTTP 400 InvalidQuery: the server says no"),
        ((400, "NoTable"), "NoTable"),
        ((500, "InternalError"), "HTTP 500 InternalError"),
    ],
)
def test_osrm_error_codes_fail_naming_them(
    osrm: FakeOsrm, tmp_path: Path, fail_with: tuple[int, str], message: str
) -> None:
    osrm.fail_with = fail_with
    path, _ = problem_file(tmp_path)
    proc = logistica("matrix", str(path), "--osrm", osrm.url)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert proc.stdout == ""


def test_a_table_over_the_servers_limit_is_reported(osrm: FakeOsrm, tmp_path: Path) -> None:
    path, _ = problem_file(tmp_path)
    proc = logistica("matrix", str(path), "--osrm", osrm.url, "--chunk", "20")
    assert proc.returncode == 1
    assert "TooBig: Too many table coordinates" in proc.stderr


def test_unreachable_server_fails_naming_it(tmp_path: Path) -> None:
    from logistica_workers.db.embedded import free_port

    path, _ = problem_file(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    proc = logistica("matrix", str(path), "--osrm", url, "--timeout", "5")
    assert proc.returncode == 1
    assert url in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--osrm", "osrm:5000"], "--osrm must be an http(s) URL"),
        (["--osrm", "http://h/?x=1"], "without ?query"),
        (["--osrm", "http://h", "--profile", "a/b"], "--profile"),
        (["--osrm", "http://h", "--chunk", "1"], "--chunk"),
        (["--osrm", "http://h", "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    path, _ = problem_file(tmp_path)
    proc = logistica("matrix", str(path), *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_bad_problem_exits_2_naming_the_field(tmp_path: Path) -> None:
    path, doc = problem_file(tmp_path)
    doc["stops"][0]["lat"] = math.inf
    path.write_text(json.dumps(doc))
    proc = logistica("matrix", str(path), "--osrm", "http://127.0.0.1:9")
    assert proc.returncode == 2
    assert "stops[0].lat" in proc.stderr
