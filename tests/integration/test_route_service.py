"""POST /route over HTTP: answers, errors naming fields, limits, sharing, draining."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from logistica_workers.routing.service import RouteSettings, run_route
from tests.support.feasibility import check
from tests.support.ingest import wait_ready
from tests.support.problems import city_problem, timed_problem


class Server:
    def __init__(self, url: str, stop: asyncio.Event, task: asyncio.Task[int]) -> None:
        self.url, self.stop, self.task = url, stop, task


async def start(settings: RouteSettings) -> Server:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(run_route("127.0.0.1", 0, settings, port.set_result, stop))
    server = Server(f"http://127.0.0.1:{await asyncio.wait_for(port, 10)}", stop, task)
    await wait_ready(server.url, 10)
    return server


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = await start(
        RouteSettings(max_concurrent=2, default_time_limit=1, max_time_limit=2, max_stops=50)
    )
    yield s
    s.stop.set()
    assert await asyncio.wait_for(s.task, 30) == 0


async def post(
    url: str, doc: Any, content_type: str = "application/json", raw: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/route",
            data=raw if raw is not None else json.dumps(doc).encode(),
            headers={"Content-Type": content_type},
        ) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.json()


async def test_solves_a_problem(server: Server) -> None:
    doc = city_problem(12, 2, seed=5)
    status, headers, sol = await post(server.url, doc)
    assert status == 200
    assert check(doc, sol) == []
    assert set(sol) >= {
        "routes",
        "unassigned",
        "totalDistanceMeters",
        "totalDurationSeconds",
        "objective",
        "partial",
        "solver",
    }
    assert headers["X-Time-Limit-Seconds"] == "1"  # the problem asked for 1 s


async def test_windows_shifts_and_breaks_answer_with_etas_and_reasons(server: Server) -> None:
    doc = timed_problem(14, 2, seed=6, capacity=20)  # the warm pool's size
    doc["stops"][3]["timeWindows"] = [{"start": 0, "end": 5}]  # nobody is there within 5 s
    start = doc["couriers"][0]["shift"]["start"]
    doc["couriers"][0]["breaks"] = [
        {"start": start + 1800, "end": start + 3600, "durationSeconds": 900}
    ]
    status, _, sol = await post(server.url, doc)
    assert status == 200, sol
    assert check(doc, sol) == []
    assert {"stopId": "s3", "reason": "timeWindow"} in sol["unassignedReasons"]
    assert all(len(r["visits"]) == len(r["stops"]) for r in sol["routes"])


async def test_an_rfc3339_time_without_start_time_is_422(server: Server) -> None:
    doc = city_problem(3, 1, seed=2)
    doc["stops"][2]["timeWindows"] = [{"start": "2026-05-04T09:00:00Z", "end": 3600}]
    status, _, reply = await post(server.url, doc)
    assert status == 422
    assert "stops[2].timeWindows[0].start" in reply["message"]
    assert "startTime" in reply["message"]


async def test_time_limit_is_capped(server: Server) -> None:
    doc = city_problem(5, 1, seed=1, time_limit=600)
    status, headers, sol = await post(server.url, doc)
    assert status == 200
    assert headers["X-Time-Limit-Seconds"] == "2"
    assert sol["solver"]["wallSeconds"] < 10


@pytest.mark.parametrize(
    ("mutate", "status", "field"),
    [
        (lambda d: d.pop("couriers"), 422, "couriers"),
        (lambda d: d.update(couriers=[]), 422, "couriers"),
        (lambda d: d["stops"][2].update(lat=-91), 422, "stops[2].lat"),
        (lambda d: d["origin"].update(lng=200), 422, "origin.lng"),
        (lambda d: d["stops"][0].pop("priority"), 422, "stops[0].priority"),
        (lambda d: d["couriers"][0].update(capacity=0), 422, "couriers[0].capacity"),
        (lambda d: d.update(stops=d["stops"] * 20), 413, "stops"),
        (
            lambda d: d["stops"][1].update(timeWindows=[{"start": 600, "end": 60}]),
            422,
            "stops[1].timeWindows[0]",
        ),
        (
            lambda d: d["stops"][0].update(timeWindows=[{"start": "09:00", "end": 600}]),
            422,
            "stops[0].timeWindows[0].start",
        ),
        (
            lambda d: d["couriers"][0].update(shift={"start": 0, "end": 3600}, maxRouteSeconds=0),
            422,
            "couriers[0].maxRouteSeconds",
        ),
        (lambda d: d.update(startTime="2026-05-04 08:00"), 422, "startTime"),
        (lambda d: d.update(matrix={"durations": [[0, -1], [0, 0]]}), 422, "matrix.durations"),
        (
            lambda d: d.update(matrix={"distances": [[0] * 5] * 4 + [[0, 0, "x", 0, 0]]}),
            422,
            "matrix.distances[4][2]",
        ),
    ],
)
async def test_invalid_problems_name_the_field(
    server: Server, mutate: Any, status: int, field: str
) -> None:
    doc = city_problem(3, 1, seed=2)
    mutate(doc)
    got, _, reply = await post(server.url, doc)
    assert got == status
    assert field in reply["message"]
    if status == 422:
        assert any(e["field"] == field for e in reply["errors"])


async def test_a_matrix_of_the_wrong_size_is_refused(server: Server) -> None:
    doc = city_problem(3, 1, seed=2)
    doc["matrix"] = {"distances": [[0.0] * 4 for _ in range(4)]}
    got, _, reply = await post(server.url, doc)
    assert got == 422
    assert "matrix is 4 x 4; it must be 5 x 5" in reply["message"]


async def test_a_road_matrix_is_what_the_service_routes_on(server: Server) -> None:
    doc = city_problem(4, 1, seed=2)
    size = 6
    doc["matrix"] = {
        "distances": [[0 if i == j else 1000.0 for j in range(size)] for i in range(size)]
    }
    status, _, sol = await post(server.url, doc)
    assert status == 200, sol
    assert check(doc, sol) == []  # distances summed from the matrix
    # courier -> origin, then 4 stops at 1000 m each
    assert sol["totalDistanceMeters"] == 5000


async def test_a_replan_keeps_committed_stops_and_reports_changes(server: Server) -> None:
    doc = city_problem(14, 2, seed=7, capacity=20)
    status, _, before = await post(server.url, doc)
    assert status == 200
    doc["stops"] += city_problem(3, 1, seed=70)["stops"]
    for i, s in enumerate(doc["stops"][14:]):
        s["id"] = f"new{i}"
    committed = {r["courierId"]: r["stops"][:2] for r in before["routes"]}
    for c in doc["couriers"]:
        c["committed"] = committed.get(c["id"], [])
    doc["previousPlan"] = before
    status, _, after = await post(server.url, doc)
    assert status == 200, after
    assert check(doc, after) == []  # committed first, in order; distances from the position
    was = {sid: r["courierId"] for r in before["routes"] for sid in r["stops"]}
    now = {sid: r["courierId"] for r in after["routes"] for sid in r["stops"]}
    assert after["changes"] == [
        {"stopId": s["id"], "from": was.get(s["id"]), "to": now.get(s["id"])}
        for s in doc["stops"]
        if was.get(s["id"]) != now.get(s["id"])
    ]
    doc["couriers"][0]["committed"] = ["s0", "nope"]
    status, _, reply = await post(server.url, doc)
    assert status == 422 and "couriers[0].committed[1]" in reply["message"]


async def test_a_problem_whose_every_stop_is_committed_answers_with_those_routes(
    server: Server,
) -> None:
    # found by schemathesis: nothing left to plan reached the warm pool's PyVRP (500)
    doc = city_problem(3, 1, seed=3, capacity=10)
    doc["couriers"][0]["committed"] = [s["id"] for s in doc["stops"]]
    status, _, reply = await post(server.url, doc)
    assert status == 200, reply
    assert [r["stops"] for r in reply["routes"]] == [[s["id"] for s in doc["stops"]]]
    assert check(doc, reply) == []


async def test_bad_json_and_media_type(server: Server) -> None:
    assert (await post(server.url, None, raw=b"{oops"))[0] == 400
    assert (await post(server.url, {}, content_type="text/plain"))[0] == 415
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/route") as resp:
        assert resp.status == 405


async def test_busy_beyond_the_concurrency_limit_and_identical_requests_share() -> None:
    s = await start(RouteSettings(max_concurrent=1, default_time_limit=2, max_time_limit=2))
    try:
        same = city_problem(60, 3, seed=8, capacity=30, time_limit=2)
        other = city_problem(60, 3, seed=9, capacity=30, time_limit=2)
        first = asyncio.create_task(post(s.url, same))
        await asyncio.sleep(0)  # let it be the one solve running
        async with aiohttp.ClientSession() as http:

            async def active() -> int:
                async with http.get(f"{s.url}/readyz") as r:
                    return int((await r.json())["activeSolves"])

            while await active() < 1:
                await asyncio.sleep(0.01)
        # while it runs: an identical request joins it, a different one is turned away
        second, busy = await asyncio.gather(post(s.url, same), post(s.url, other))
        one = await first
        assert busy[0] == 503
        assert busy[1]["Retry-After"]
        assert one[0] == second[0] == 200
        assert one[2] == second[2]
        async with aiohttp.ClientSession() as http, http.get(f"{s.url}/metrics") as r:
            assert "logistica_route_shared_solves_total 1.0" in await r.text()
    finally:
        s.stop.set()
        assert await s.task == 0


async def test_sigterm_returns_the_best_so_far_to_running_requests() -> None:
    s = await start(RouteSettings(max_concurrent=1, default_time_limit=10, max_time_limit=10))
    doc = city_problem(60, 3, seed=4, capacity=30, time_limit=10)
    request = asyncio.create_task(post(s.url, doc))
    async with aiohttp.ClientSession() as http:
        while True:  # until the running solve has a solution to give back
            async with http.get(f"{s.url}/readyz") as r:
                if (await r.json())["solutionsFound"] >= 1:
                    break
            await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    s.stop.set()
    status, _, sol = await request
    assert status == 200
    assert sol["partial"] is True
    assert check(doc, sol) == []
    assert loop.time() - t0 < 3
    assert await s.task == 0


async def test_a_tiny_problem_answers_long_before_its_limit() -> None:
    s = await start(RouteSettings(max_concurrent=1, default_time_limit=10, max_time_limit=10))
    try:
        doc = city_problem(5, 2, seed=3, capacity=10, time_limit=10)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        status, headers, sol = await post(s.url, doc)
        elapsed = loop.time() - t0
        assert status == 200, sol
        assert headers["X-Time-Limit-Seconds"] == "10"
        assert elapsed < 3, f"{elapsed:.2f} s: the 5-stop solve waited for its 10 s limit"
        assert sol["partial"] is False and sol["unassigned"] == []
        assert check(doc, sol) == []
    finally:
        s.stop.set()
        assert await asyncio.wait_for(s.task, 30) == 0
