"""Draw a solution: the origin, the stops (sized by priority) and each courier's route."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from logistica_workers.api import Problem, Solution

PLOT_SUFFIXES = (".svg", ".png", ".html")


def plot_solution(problem: Problem, solution: Solution, out: Path) -> None:
    """SVG or PNG (matplotlib, coordinates only) or HTML (a Leaflet map on OSM tiles)."""
    suffix = out.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise ValueError(f"--plot must end in .svg, .png or .html, got {out.name!r}")
    if suffix == ".html":
        from logistica_workers.routing.map_html import write_html

        write_html(problem, solution, out)
        return
    stops = {s.id or str(i): s for i, s in enumerate(problem.stops)}
    couriers = {c.id: c for c in problem.couriers}
    fig, ax = plt.subplots(figsize=(8, 8))
    cmap = plt.get_cmap("tab10")
    unassigned = set(solution.unassigned)
    ax.scatter(
        [s.lng for k, s in stops.items() if k not in unassigned],
        [s.lat for k, s in stops.items() if k not in unassigned],
        s=[20 + 2 * s.priority for k, s in stops.items() if k not in unassigned],
        c="#444",
        zorder=3,
        label="stop (size = priority)",
    )
    if unassigned:
        ax.scatter(
            [stops[k].lng for k in unassigned],
            [stops[k].lat for k in unassigned],
            s=[20 + 2 * stops[k].priority for k in unassigned],
            facecolors="none",
            edgecolors="red",
            zorder=3,
            label="unassigned",
        )
    o = problem.origin
    ax.scatter([o.lng], [o.lat], marker="s", s=120, c="black", zorder=4, label="origin")
    for i, route in enumerate(solution.routes):
        color = cmap(i % 10)
        c = couriers[route.courier_id]
        xs = [c.lng, o.lng] + [stops[k].lng for k in route.stops]
        ys = [c.lat, o.lat] + [stops[k].lat for k in route.stops]
        if problem.options.return_to_origin:
            xs.append(o.lng)
            ys.append(o.lat)
        ax.plot(xs[:2], ys[:2], linestyle=":", color=color)
        ax.plot(
            xs[1:],
            ys[1:],
            color=color,
            linewidth=2,
            label=f"{route.courier_id} ({route.distance_meters / 1000:.1f} km)",
        )
        ax.scatter([c.lng], [c.lat], marker="^", s=80, color=color, zorder=4)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(
        f"{len(solution.routes)} routes, {solution.total_distance_meters / 1000:.1f} km"
        + (" (partial)" if solution.partial else "")
    )
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
