"""The OpenAPI documents: the checked-in copies are current, the service serves the same one, and
every error the handler really answers is documented with the documented body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from logistica_workers.api import openapi
from logistica_workers.routing.service import RouteService, RouteSettings, build_app

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi"


def test_checked_in_documents_equal_the_generated_ones() -> None:
    for name, build in openapi.DOCUMENTS.items():
        path = DOCS / f"{name}.json"
        assert path.read_text() == openapi.render(build()), (
            f"{path} is stale: python -m logistica_workers.api.openapi docs/openapi"
        )
    assert openapi.main(["--check", str(DOCS)]) == 0


def test_check_reports_a_stale_file(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "route.json").write_text("{}\n")
    assert openapi.main(["--check", str(tmp_path)]) == 1
    assert "route.json" in capsys.readouterr().out
    assert openapi.main([str(tmp_path)]) == 0
    assert openapi.main(["--check", str(tmp_path)]) == 0


def test_every_ref_resolves_and_the_problem_schema_comes_from_the_model() -> None:
    doc = openapi.route_document()
    assert doc["openapi"] == "3.1.0"
    text = json.dumps(doc)
    schemas = doc["components"]["schemas"]
    for ref in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert ref in schemas, ref
    assert {"stops", "couriers"} <= set(schemas["Problem"]["properties"])
    assert "routes" in schemas["Solution"]["properties"]


async def test_route_service_answers_match_its_document() -> None:
    doc = openapi.route_document()
    documented = doc["paths"]["/route"]["post"]["responses"]
    error = doc["components"]["schemas"]["Error"]
    service = RouteService(RouteSettings(max_stops=2, max_concurrent=1))
    stop = {"id": "s", "location": {"lat": 52.5, "lon": 13.4}}
    cases: list[tuple[dict[str, str], bytes, int]] = [
        ({"Content-Type": "text/plain"}, b"{}", 415),
        ({"Content-Type": "application/json"}, b"{not json", 400),
        ({"Content-Type": "application/json"}, b'{"stops": 3}', 422),
        (
            {"Content-Type": "application/json"},
            json.dumps({"stops": [stop, stop, stop], "couriers": []}).encode(),
            413,
        ),
    ]
    async with TestClient(TestServer(build_app(service))) as client:
        served = await client.get("/openapi.json")
        assert served.status == 200 and await served.json() == doc
        for headers, body, status in cases:
            resp = await client.post("/route", data=body, headers=headers)
            assert resp.status == status, await resp.text()
            assert str(status) in documented
            answer = await resp.json()
            assert set(error["required"]) <= set(answer), answer
            assert set(answer) <= set(error["properties"]), answer
            assert answer["error"] in documented[str(status)]["description"], answer
        service.accepting = False
        resp = await client.post("/route", json={}, headers={})
        assert resp.status == 503 and "Retry-After" in resp.headers
        assert "Retry-After" in documented["503"]["headers"]
        assert (await resp.json())["error"] in documented["503"]["description"]
