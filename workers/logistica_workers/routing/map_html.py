"""A self-contained HTML route map: Leaflet and OpenStreetMap tiles, loaded by the viewer's
browser from their CDNs (we ship no third-party code), with the plan embedded as JSON.

One coloured polyline per route (origin, then its stops; straight segments), numbered stop
markers with id, courier and ETA in their tooltips, the origin, each courier's start and its
drive to the origin (dashed; a re-planned courier drives its committed stops first, solid),
unassigned stops in grey. Every text reaches the page as data:
the JSON is escaped so no id can close its ``<script>`` element, and the page's script puts
ids in tooltips as text nodes, never as HTML.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from logistica_workers.api import Problem, Solution
from logistica_workers.routing.instance import from_problem

LEAFLET = "https://unpkg.com/leaflet@1.9.4/dist"
LEAFLET_CSS_SRI = "sha256-p4NxAoJBhIIN+hmNHrzRCf9tD/miZyoHS5obTRR9BMY="
LEAFLET_JS_SRI = "sha256-20nQCchB9co0qIjJZRGuk2/Z9VM+kNiyxNV1lvTlZBo="
COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
]  # fmt: skip

SCRIPT = """
"use strict";
const data = JSON.parse(document.getElementById("plan").textContent);
const map = L.map("map");
L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
  maxZoom: 19,
  attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
}).addTo(map);
function tip(lines) {
  const box = document.createElement("div");
  for (const line of lines) {
    const row = document.createElement("div");
    row.textContent = line;
    box.appendChild(row);
  }
  return box;
}
function badge(text, colour) {
  const el = document.createElement("div");
  el.className = "badge";
  el.style.background = colour;
  el.textContent = text;
  return el;
}
const bounds = [[data.origin.lat, data.origin.lng]];
L.marker([data.origin.lat, data.origin.lng])
  .bindTooltip(tip(["origin: every courier loads here"]))
  .addTo(map);
for (const route of data.routes) {
  route.stops.forEach((stop, k) => {
    bounds.push([stop.lat, stop.lng]);
    const icon = L.divIcon({className: "", html: badge(String(k + 1), route.colour),
                            iconSize: [22, 22]});
    L.marker([stop.lat, stop.lng], {icon: icon})
      .bindTooltip(tip([`#${k + 1} ${stop.id}`, `courier ${route.courierId}`,
                        `ETA ${stop.eta}`, `priority ${stop.priority}, demand ${stop.demand}`]))
      .addTo(map);
  });
  L.polyline(route.path, {color: route.colour, weight: 4, opacity: 0.85})
    .bindTooltip(tip([`courier ${route.courierId}`, route.summary]))
    .addTo(map);
  const start = [route.start.lat, route.start.lng];
  bounds.push(start);
  if (route.approach.length) {
    L.polyline(route.approach, {color: route.colour, weight: 2, dashArray: "4 6"}).addTo(map);
  }
  L.circleMarker(start, {radius: 7, color: route.colour, fillOpacity: 0.9})
    .bindTooltip(tip([`courier ${route.courierId} starts here`]))
    .addTo(map);
}
for (const stop of data.unassigned) {
  bounds.push([stop.lat, stop.lng]);
  L.marker([stop.lat, stop.lng], {icon: L.divIcon({className: "", html: badge("!", "#999"),
                                                   iconSize: [22, 22]})})
    .bindTooltip(tip([`${stop.id}: unassigned`, stop.reason]))
    .addTo(map);
}
map.fitBounds(bounds, {padding: [20, 20]});
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{leaflet}/leaflet.css" integrity="{css_sri}" crossorigin="">
<script src="{leaflet}/leaflet.js" integrity="{js_sri}" crossorigin=""></script>
<style>
html, body, #map {{ height: 100%; margin: 0; }}
.badge {{ width: 22px; height: 22px; border-radius: 11px; color: #fff; font: bold 12px/22px
  sans-serif; text-align: center; border: 1px solid #fff; box-shadow: 0 0 2px #000; }}
</style>
</head>
<body>
<div id="map"></div>
<script type="application/json" id="plan">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no ``<``, ``>`` or ``&`` appear literally, so no
    string in it can end the element or open a comment (JSON.parse reads the escapes back)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"+{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _etas(problem: Problem, solution: Solution) -> dict[str, str]:
    """Arrival per stop: the answer's ``visits`` where it has them, else the plan's travel
    times from the route's start (the courier drives to the origin first)."""
    out: dict[str, str] = {}
    missing = False
    for route in solution.routes:
        visits = getattr(route, "visits", None)
        if visits:
            for v in visits:
                arrival = v.arrival
                out[str(v.stop_id)] = _clock(arrival) if isinstance(arrival, int) else arrival
        else:
            missing = True
    if not missing:
        return out
    inst = from_problem(problem)
    stop_at = {sid: i for i, sid in enumerate(inst.stop_ids)}
    courier_at = {cid: k for k, cid in enumerate(inst.courier_ids)}
    for route in solution.routes:
        if route.stops and route.stops[0] in out:
            continue
        node, clock = inst.start(courier_at[route.courier_id]), 0
        for sid in route.stops:
            clock += int(inst.travel_time[node, stop_at[sid]])
            node = stop_at[sid]
            out[sid] = _clock(clock)
    return out


def plan_data(problem: Problem, solution: Solution) -> dict[str, Any]:
    stops = {s.id or str(i): s for i, s in enumerate(problem.stops)}
    couriers = {c.id: c for c in problem.couriers}
    etas = _etas(problem, solution)
    reasons: dict[str, str] = {
        str(r.stop_id): str(r.reason) for r in getattr(solution, "unassigned_reasons", None) or []
    }
    routes = []
    o = [problem.origin.lat, problem.origin.lng]
    for i, route in enumerate(solution.routes):
        c = couriers[route.courier_id]
        points = [[stops[sid].lat, stops[sid].lng] for sid in route.stops]
        first = len(c.committed) if route.stops[: len(c.committed)] == c.committed else 0
        # committed stops straight from the position (re-planning), then the origin to load
        path = [[c.lat, c.lng], *points[:first]] if first else []
        if len(points) > first or not first:
            path += [o, *points[first:]]
        if problem.options.return_to_origin:
            path.append(o)
        routes.append(
            {
                "courierId": route.courier_id,
                "colour": COLOURS[i % len(COLOURS)],
                "start": {"lat": c.lat, "lng": c.lng},
                "path": path,
                "approach": [] if first else [[c.lat, c.lng], o],
                "summary": f"{len(route.stops)} stops, {route.distance_meters / 1000:.1f} km, "
                f"{_clock(route.duration_seconds)[1:]} h, load {route.load}/{c.capacity}",
                "stops": [
                    {
                        "id": sid,
                        "lat": stops[sid].lat,
                        "lng": stops[sid].lng,
                        "eta": etas.get(sid, "?"),
                        "priority": stops[sid].priority,
                        "demand": stops[sid].demand,
                    }
                    for sid in route.stops
                ],
            }
        )
    return {
        "origin": {"lat": problem.origin.lat, "lng": problem.origin.lng},
        "routes": routes,
        "unassigned": [
            {
                "id": sid,
                "lat": stops[sid].lat,
                "lng": stops[sid].lng,
                "reason": reasons.get(sid, ""),
            }
            for sid in solution.unassigned
        ],
    }


def write_html(problem: Problem, solution: Solution, out: Path) -> None:
    title = (
        f"{len(solution.routes)} routes, {solution.total_distance_meters / 1000:.1f} km, "
        f"{len(solution.unassigned)} unassigned" + (" (partial)" if solution.partial else "")
    )
    out.write_text(
        PAGE.format(
            title=html.escape(title),
            leaflet=LEAFLET,
            css_sri=LEAFLET_CSS_SRI,
            js_sri=LEAFLET_JS_SRI,
            data=embed_json(plan_data(problem, solution)),
            script=SCRIPT,
        )
    )
