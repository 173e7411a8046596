"""``logistica solve``: one problem file (JSON or CVRPLIB .vrp), with terminal progress."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from logistica_workers.api import Problem, describe_errors
from logistica_workers.commands import EXIT_USAGE, fail
from logistica_workers.routing import cvrplib, replan
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.portfolio import Portfolio, Progress, has_room, warm_up

SHUTDOWN_RESERVE_SECONDS = 0.35  # stopping engines and writing the answer


def seconds_since_process_start() -> float:
    """How long ago this process started (Linux /proc; 0 elsewhere): `solve` counts its own
    start-up against the time limit."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def budget(limit: float) -> float:
    """The engines' share of ``limit`` once start-up and shutdown are paid for."""
    return max(0.05, limit - seconds_since_process_start() - SHUTDOWN_RESERVE_SECONDS)


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    return fail("solve", message, code)


def load_problem(path: Path) -> Problem:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    try:
        return Problem.model_validate(doc)
    except ValidationError as exc:
        raise ValueError(f"{path}: {describe_errors(exc)}") from None


class TerminalProgress:
    """A live status line on a terminal; elsewhere (logs, pods) one JSON line per improvement."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()

    def __call__(self, p: Progress) -> None:
        if self.live:
            line = (
                f"\r  best {p.best_objective:,.1f}  solutions {p.solutions}"
                f"  {p.elapsed:5.1f}s  [{p.engine}]\x1b[K"
            )
        else:
            line = (
                json.dumps(
                    {
                        "event": "progress",
                        "bestObjective": round(p.best_objective, 3),
                        "solutions": p.solutions,
                        "elapsedSeconds": round(p.elapsed, 3),
                        "engine": p.engine,
                    }
                )
                + "\n"
            )
        sys.stderr.write(line)
        sys.stderr.flush()

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    if args.routingjob:
        from logistica_workers.routing.routingjob import RoutingJobError, solve_routingjob
        from logistica_workers.runtime import tracing

        # the operator hands the RoutingJob's trace context over in TRACEPARENT
        try:
            with tracing.span(
                tracing.tracer("logistica.solve"),
                "solve RoutingJob",
                context=tracing.parent_from_traceparent(os.environ.get("TRACEPARENT")),
                attributes={"logistica.routingjob": args.routingjob},
            ):
                solution = solve_routingjob(args.routingjob, args.time_limit)
        except RoutingJobError as exc:
            return _fail(str(exc))
        finally:
            tracing.shutdown(2.0)
        print(
            f"logistica solve: {args.routingjob}: {len(solution.routes)} routes, "
            f"{len(solution.unassigned)} unassigned" + (" (partial)" if solution.partial else ""),
            file=sys.stderr,
        )
        return 0
    if args.file is None:
        return _fail("give a problem FILE (JSON or .vrp)")
    if not args.file.exists():
        return _fail(f"{args.file}: no such file")
    if args.time_limit is not None and not 0 < args.time_limit <= 3600:
        return _fail("--time-limit must be in (0, 3600] seconds")
    if args.plot and args.plot.suffix.lower() not in (".svg", ".png", ".html"):
        return _fail(f"--plot must end in .svg, .png or .html, got {args.plot.name!r}")
    stopping: list[Portfolio | None] = [None]  # SIGTERM before the search starts counts too
    requested = threading.Event()

    def interrupt(_sig: int, _frame: object) -> None:
        requested.set()
        if stopping[0] is not None:
            stopping[0].stop()

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    warm_up()  # the engines' fork server starts while the problem is read
    extra: dict[str, Any] = {}
    problem: Problem | None = None
    inst: Instance
    rp: replan.Replan | None = None
    try:
        if args.file.suffix.lower() == ".vrp":
            if args.plot:
                return _fail("--plot needs a problem JSON (CVRPLIB files have no map)")
            name, inst = cvrplib.read_vrp(args.file, args.time_limit or 10.0)
            extra["instance"] = name
        else:
            problem = load_problem(args.file)
            inst, rp = replan.prepare(problem, args.time_limit)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))

    progress = TerminalProgress()
    inst = dataclasses.replace(inst, time_limit=budget(inst.time_limit))
    warm = rp.warm_start(inst) if rp is not None else None
    portfolio = Portfolio(inst, on_progress=progress, initial=warm)
    stopping[0] = portfolio
    if requested.is_set():
        portfolio.stop()
    try:
        solution = portfolio.run()
    except RuntimeError as exc:
        progress.done()
        return _fail(f"solver failed: {exc}", 1)
    progress.done()
    if rp is not None:
        solution = rp.finish(solution)
    out = solution.model_dump(mode="json", by_alias=True)
    if inst.kind == "cvrp":
        index = {sid: i for i, sid in enumerate(inst.stop_ids)}
        routes = [[index[s] for s in r.stops] for r in solution.routes]
        extra["cost"] = cvrplib.cost(inst, routes)
    out.update(extra)
    text = json.dumps(out, indent=2)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        print(text)
    if args.plot and problem is not None:
        from logistica_workers.routing.plot import plot_solution

        plot_solution(problem, solution, args.plot)
    summary = (
        f"{len(solution.routes)} routes, {solution.total_distance_meters:,.0f} m, "
        f"{len(solution.unassigned)} unassigned, objective {solution.objective:,.1f}"
        + (" (partial)" if solution.partial else "")
    )
    print(f"logistica solve: {summary}", file=sys.stderr)
    if not solution.routes and has_room(inst):
        return _fail(
            f"no solution: every stop unassigned (status {solution.solver.status}) although "
            "couriers have room; give it more time (--time-limit)",
            1,
        )
    return 0
