"""``solve --plot OUT.html``: a self-contained Leaflet page; its data embeds every route and
stop, ids cannot break out of the page's script, and the page's script draws what it says
(run in node against a recording stand-in for Leaflet and the DOM)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from logistica_workers.api import Problem, RouteResult, Solution, SolverInfo
from logistica_workers.routing.map_html import LEAFLET, embed_json, write_html
from tests.support.cli import logistica
from tests.support.problems import city_problem

EVIL = '</script><script>alert("x")</script><!--'


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.links: list[dict[str, str | None]] = []
        self._in: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._in, self._text = dict(attrs), []
        elif tag == "link":
            self.links.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in is not None:
            self.scripts.append((self._in, "".join(self._text)))
            self._in = None


def parse(path: Path) -> tuple[Page, dict[str, Any], str]:
    page = Page()
    page.feed(path.read_text())
    page.close()
    (plan,) = [text for attrs, text in page.scripts if attrs.get("id") == "plan"]
    (code,) = [text for attrs, text in page.scripts if not attrs and text.strip()]
    return page, json.loads(plan), code


def test_solve_writes_a_map_with_every_route_and_stop(tmp_path: Path) -> None:
    doc = city_problem(12, 3, seed=3, capacity=4, time_limit=1)  # 3 x 4 < total demand
    problem_path, out, sol_path = tmp_path / "p.json", tmp_path / "map.html", tmp_path / "s.json"
    problem_path.write_text(json.dumps(doc))
    proc = logistica("solve", str(problem_path), "--plot", str(out), "-o", str(sol_path))
    assert proc.returncode == 0, proc.stderr
    solution = json.loads(sol_path.read_text())
    page, plan, _ = parse(out)
    # Leaflet comes from its CDN with subresource integrity; no other code is loaded
    external = [a["src"] for a, _ in page.scripts if a.get("src")]
    assert external == [f"{LEAFLET}/leaflet.js"]
    assert all(
        a.get("integrity", "").startswith("sha256-") for a, _ in page.scripts if a.get("src")
    )
    assert [link["href"] for link in page.links] == [f"{LEAFLET}/leaflet.css"]
    assert [r["courierId"] for r in plan["routes"]] == [r["courierId"] for r in solution["routes"]]
    for drawn, route in zip(plan["routes"], solution["routes"], strict=True):
        assert [s["id"] for s in drawn["stops"]] == route["stops"]
        assert all(s["eta"].startswith("+") for s in drawn["stops"])
    assert [s["id"] for s in plan["unassigned"]] == solution["unassigned"]
    assert solution["unassigned"]  # capacity is short: the map shows the drops too
    stops = {s["id"]: s for s in doc["stops"]}
    for drawn in plan["routes"]:
        for s in drawn["stops"]:
            assert (s["lat"], s["lng"]) == (stops[s["id"]]["lat"], stops[s["id"]]["lng"])


def test_etas_grow_along_each_route(tmp_path: Path) -> None:
    doc = city_problem(8, 2, seed=9, capacity=10, time_limit=1)
    problem = Problem.model_validate(doc)
    from logistica_workers.routing.instance import from_problem
    from logistica_workers.routing.portfolio import Portfolio

    solution = Portfolio(from_problem(problem)).run()
    out = tmp_path / "m.html"
    write_html(problem, solution, out)
    _, plan, _ = parse(out)

    def seconds(eta: str) -> int:
        h, m, s = eta.lstrip("+").split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)

    for drawn in plan["routes"]:
        etas = [seconds(s["eta"]) for s in drawn["stops"]]
        assert etas == sorted(etas) and etas[0] > 0


def hostile_plan() -> tuple[Problem, Solution]:
    """Ids the API refuses (they must match an id pattern), built without validation: the
    page must stay safe even if an id with markup got through."""
    problem = Problem.model_validate(city_problem(2, 1, seed=2))
    stops = [
        problem.stops[0].model_copy(update={"id": EVIL}),
        problem.stops[1].model_copy(update={"id": "a&b<!--"}),
    ]
    courier = problem.couriers[0].model_copy(update={"id": "<img src=x onerror=alert(1)>"})
    problem = problem.model_copy(update={"stops": stops, "couriers": [courier]})
    solution = Solution(
        routes=[
            RouteResult(
                courier_id=courier.id,
                stops=[EVIL],
                distance_meters=1.0,
                duration_seconds=1.0,
                load=1,
            )
        ],
        unassigned=["a&b<!--"],
        total_distance_meters=1.0,
        total_duration_seconds=1.0,
        objective=1.0,
        partial=False,
        solver=SolverInfo(engine="test", status="SUCCESS", wall_seconds=0.0, solutions=1),
    )
    return problem, solution


def test_ids_cannot_break_out_of_the_script(tmp_path: Path) -> None:
    problem, solution = hostile_plan()
    out = tmp_path / "evil.html"
    write_html(problem, solution, out)
    text = out.read_text()
    assert "alert" in text  # the id is there, as data
    assert text.count("</script>") == 3  # Leaflet's, the plan's and the page's own
    assert "<!--" not in text and "<img" not in text
    page, plan, _ = parse(out)
    assert len(page.scripts) == 3
    assert plan["routes"][0]["stops"][0]["id"] == EVIL  # read back intact
    assert plan["routes"][0]["courierId"] == "<img src=x onerror=alert(1)>"
    assert plan["unassigned"][0]["id"] == "a&b<!--"
    assert json.loads(embed_json({"k": EVIL})) == {"k": EVIL}


NODE_HARNESS = """
const calls = [];
class Layer {
  constructor(kind, args) { this.kind = kind; this.args = args; this.tooltip = null;
                            calls.push(this); }
  bindTooltip(el) { this.tooltip = el; return this; }
  addTo() { return this; }
}
class Element {
  constructor(tag) { this.tag = tag; this.children = []; this.style = {}; this.text = ""; }
  appendChild(c) { this.children.push(c); }
  set textContent(t) { this.text = String(t); }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join("\\n"); }
  set innerHTML(_) { throw new Error("the page must not set innerHTML"); }
}
globalThis.document = {
  getElementById: (id) => ({textContent: PLAN}),
  createElement: (tag) => new Element(tag),
};
globalThis.L = {
  map: () => ({fitBounds: (b) => calls.push({kind: "fit", n: b.length})}),
  tileLayer: (url) => new Layer("tiles", [url]),
  marker: (at, opts) => new Layer("marker", [at, opts]),
  circleMarker: (at) => new Layer("circle", [at]),
  polyline: (pts, opts) => new Layer("polyline", [pts, opts]),
  divIcon: (opts) => ({html: opts.html}),
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_page_script_draws_one_line_per_route_and_text_only_tooltips(tmp_path: Path) -> None:
    problem, solution = hostile_plan()
    out = tmp_path / "evil.html"
    write_html(problem, solution, out)
    _, plan, code = parse(out)
    report = """
const lines = calls.filter((c) => c.kind === "polyline");
const markers = calls.filter((c) => c.kind === "marker");
console.log(JSON.stringify({
  tiles: calls.filter((c) => c.kind === "tiles").map((c) => c.args[0]),
  lines: lines.map((c) => ({n: c.args[0].length, colour: c.args[1].color,
                           dashed: Boolean(c.args[1].dashArray),
                           tip: c.tooltip && c.tooltip.textContent})),
  markers: markers.map((c) => c.tooltip.textContent),
  badges: markers.map((c) => c.args[1] && c.args[1].icon.html.textContent),
  fit: calls.filter((c) => c.kind === "fit").map((c) => c.n),
}));
"""
    js = f"const PLAN = {json.dumps(json.dumps(plan))};\n{NODE_HARNESS}\n{code}\n{report}"
    proc = subprocess.run(
        ["node", "-e", js], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    drawn = json.loads(proc.stdout)
    assert drawn["tiles"] == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    solid = [ln for ln in drawn["lines"] if not ln["dashed"]]
    dashed = [ln for ln in drawn["lines"] if ln["dashed"]]
    assert len(solid) == len(dashed) == 1  # one route, one drive to the origin
    assert solid[0]["n"] == 2  # the origin, then its one stop
    assert "<img src=x onerror=alert(1)>" in solid[0]["tip"]  # as text
    # the origin, the route's stop (numbered 1, its id as text) and the unassigned stop
    assert len(drawn["markers"]) == 3
    assert EVIL in drawn["markers"][1] and "#1" in drawn["markers"][1]
    assert drawn["badges"][1] == "1"
    assert "a&b<!--: unassigned" in drawn["markers"][2]
    assert drawn["fit"] == [4]  # origin, stop, courier start, unassigned stop


def test_bad_plot_suffix_exits_2_before_solving(tmp_path: Path) -> None:
    lisbon = Path(__file__).resolve().parents[3] / "examples" / "problems" / "lisbon.json"
    proc = logistica("solve", str(lisbon), "--plot", str(tmp_path / "m.pdf"))
    assert proc.returncode == 2
    assert "--plot must end in .svg, .png or .html" in proc.stderr


def test_a_replanned_route_is_drawn_through_its_committed_stops_first() -> None:
    from logistica_workers.routing.map_html import plan_data
    from tests.unit.routing.test_replan import solve as replan_solve

    doc = city_problem(6, 1, seed=4, capacity=20, time_limit=1)
    doc["couriers"][0]["committed"] = ["s4", "s1"]
    solution = Solution.model_validate(replan_solve(doc))
    (route,) = plan_data(Problem.model_validate(doc), solution)["routes"]
    c, s4, s1, o = doc["couriers"][0], doc["stops"][4], doc["stops"][1], doc["origin"]
    assert route["path"][:4] == [
        [c["lat"], c["lng"]],
        [s4["lat"], s4["lng"]],
        [s1["lat"], s1["lng"]],
        [o["lat"], o["lng"]],
    ]
    assert len(route["path"]) == 3 + 1 + 4  # position, 2 committed, origin, 4 others
    assert route["approach"] == []
