"""``logistica solve``: one problem file (JSON or CVRPLIB .vrp) with terminal progress, or one
RoutingJob (what a solver Job runs)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import start_tracing, temp_dir_problem

if TYPE_CHECKING:  # the engines load when `solve` runs, not for `logistica --help`
    from logistica_workers.api import Problem, Solution
    from logistica_workers.cli.options import Subparsers
    from logistica_workers.routing.instance import Instance
    from logistica_workers.routing.portfolio import Portfolio, Progress
    from logistica_workers.routing.replan import Replan

SHUTDOWN_RESERVE_SECONDS = 0.35  # stopping engines and writing the answer


class BadInput(ValueError):
    """The problem file or an option cannot be used (exit 2)."""


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "solve",
        help="solve one problem (JSON or CVRPLIB .vrp file) or one RoutingJob",
        description="Solve one routing problem and print or write the solution.",
    )
    p.add_argument("file", nargs="?", type=Path, help="problem JSON, or a CVRPLIB .vrp file")
    p.add_argument("--routingjob", metavar="NAMESPACE/NAME", help="solve this RoutingJob")
    p.add_argument("--time-limit", type=float, help="seconds (overrides the problem's options)")
    p.add_argument("-o", "--output", type=Path, help="write the solution JSON here")
    p.add_argument(
        "--plot", type=Path, help="draw the routes: .svg/.png, or .html (a map on OSM tiles)"
    )
    p.set_defaults(handler=main)


ENGINE_EXIT_WAIT_SECONDS = 3.0  # after answering, for engine threads to reach a stop check


def main(args: argparse.Namespace) -> int:
    return leave_after_engines(run(args))


def leave_after_engines(code: int) -> int:
    """``code``, once every engine thread has ended; if one is still inside its C++ search
    after ``ENGINE_EXIT_WAIT_SECONDS``, exit at once with ``code`` (everything is written and
    flushed by now): the interpreter's own shutdown would abort the process (threads.py)."""
    threads = sys.modules.get("logistica_workers.routing.threads")
    if threads is None or threads.engine_threads_ended(ENGINE_EXIT_WAIT_SECONDS):
        return code
    print("logistica solve: an engine thread did not stop in time; exiting", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(args: argparse.Namespace) -> int:
    if problem := temp_dir_problem():
        return fail("solve", problem, EXIT_FAILURE)
    if problem := start_tracing("solve"):
        return fail("solve", problem)
    if args.routingjob:
        return solve_routingjob(args.routingjob, args.time_limit)
    try:
        return solve_file(args)
    except BadInput as exc:
        return fail("solve", str(exc))


def solve_routingjob(name: str, time_limit: float | None) -> int:
    from logistica_workers.api import SOLVER_EXIT_INTERRUPTED
    from logistica_workers.routing.routingjob import Interrupted, RoutingJobError
    from logistica_workers.routing.routingjob import solve_routingjob as solve_job
    from logistica_workers.runtime import tracing

    # the operator hands the RoutingJob's trace context over in TRACEPARENT
    try:
        with tracing.span(
            tracing.tracer("logistica.solve"),
            "solve RoutingJob",
            context=tracing.parent_from_traceparent(os.environ.get("TRACEPARENT")),
            attributes={"logistica.routingjob": name},
        ):
            solution = solve_job(name, time_limit)
    except RoutingJobError as exc:
        return fail("solve", str(exc))
    except Interrupted as exc:  # the partial plan is written; the Job runs the solve again
        return fail(
            "solve", f"{name}: {exc}; not suspended: to be run again", SOLVER_EXIT_INTERRUPTED
        )
    finally:
        tracing.shutdown(2.0)
    print(
        f"logistica solve: {name}: {len(solution.routes)} routes, "
        f"{len(solution.unassigned)} unassigned" + (" (partial)" if solution.partial else ""),
        file=sys.stderr,
    )
    return 0


def solve_file(args: argparse.Namespace) -> int:
    """Read, solve within the time limit (SIGTERM/SIGINT stop early with the best so far),
    write; exit 1 when nothing was planned although couriers have room."""
    from logistica_workers.routing import heap
    from logistica_workers.routing.portfolio import Portfolio, has_room, warm_up

    heap.tune()  # the instance's build transients go back to the system once freed
    check_options(args)
    stopping = StopOnSignal()
    problem, inst, rp, extra = read_instance(args.file, args.time_limit, args.plot)
    if not args.plot:
        problem = None  # only the plot needs it (1,000 stops: 4 MB while the engines search)
    heap.trim()  # the parse's and the build's small objects, freed: their pages back
    progress = TerminalProgress()
    inst = dataclasses.replace(inst, time_limit=budget(inst.time_limit))
    warm = rp.warm_start(inst) if rp is not None else None
    # one process where the engines allow it (hybrid and PyVRP on threads): see portfolio.py
    portfolio = Portfolio(inst, on_progress=progress, initial=warm, lean=True)
    if portfolio.needs_processes():  # e.g. plain OR-Tools beside hybrid up to 150 stops
        warm_up()
    stopping.attach(portfolio)
    try:
        solution = portfolio.run()
    except RuntimeError as exc:
        progress.done()
        return fail("solve", f"solver failed: {exc}", EXIT_FAILURE)
    progress.done()
    if rp is not None:
        solution = rp.finish(solution)
    write_solution(args, inst, solution, extra)
    if args.plot and problem is not None:
        from logistica_workers.routing.plot import plot_solution

        plot_solution(problem, solution, args.plot)
    print(f"logistica solve: {summary(solution)}", file=sys.stderr)
    if not solution.routes and has_room(inst):
        return fail(
            "solve",
            f"no solution: every stop unassigned (status {solution.solver.status}) although "
            "couriers have room; give it more time (--time-limit)",
            EXIT_FAILURE,
        )
    return 0


def check_options(args: argparse.Namespace) -> None:
    if args.file is None:
        raise BadInput("give a problem FILE (JSON or .vrp)")
    if not args.file.exists():
        raise BadInput(f"{args.file}: no such file")
    if args.time_limit is not None and not 0 < args.time_limit <= 3600:
        raise BadInput("--time-limit must be in (0, 3600] seconds")
    if args.plot and args.plot.suffix.lower() not in (".svg", ".png", ".html"):
        raise BadInput(f"--plot must end in .svg, .png or .html, got {args.plot.name!r}")


class StopOnSignal:
    """SIGTERM/SIGINT stop the search with the best plan so far; a signal that arrives before
    the search starts stops it as soon as it is attached."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.portfolio: Portfolio | None = None
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGINT, self._interrupt)

    def _interrupt(self, _sig: int, _frame: object) -> None:
        self.requested.set()
        if self.portfolio is not None:
            self.portfolio.stop()

    def attach(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        if self.requested.is_set():
            portfolio.stop()


def read_instance(
    path: Path, time_limit: float | None, plot: Path | None
) -> tuple[Problem | None, Instance, Replan | None, dict[str, Any]]:
    """The problem (None for CVRPLIB), its solver instance, the re-planning around it (a
    problem with committed stops), and extra output fields."""
    from logistica_workers.routing import cvrplib, replan

    try:
        if path.suffix.lower() == ".vrp":
            if plot:
                raise BadInput("--plot needs a problem JSON (CVRPLIB files have no map)")
            name, inst = cvrplib.read_vrp(path, time_limit or 10.0)
            return None, inst, None, {"instance": name}
        problem = load_problem(path)
        inst, rp = replan.prepare(problem, time_limit)
        return problem, inst, rp, {}
    except BadInput:
        raise
    except (ValueError, OSError) as exc:
        raise BadInput(str(exc)) from None


def load_problem(path: Path) -> Problem:
    from pydantic import ValidationError

    from logistica_workers.api import Problem, describe_errors

    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path} is not valid JSON: {exc}") from None
    try:
        return Problem.model_validate(doc)
    except ValidationError as exc:
        raise BadInput(f"{path}: {describe_errors(exc)}") from None


def write_solution(
    args: argparse.Namespace, inst: Instance, solution: Solution, extra: dict[str, Any]
) -> None:
    """The solution JSON to ``-o`` or stdout (CVRPLIB: plus its classic ``cost``)."""
    from logistica_workers.routing import cvrplib

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


def summary(solution: Solution) -> str:
    return (
        f"{len(solution.routes)} routes, {solution.total_distance_meters:,.0f} m, "
        f"{len(solution.unassigned)} unassigned, objective {solution.objective:,.1f}"
        + (" (partial)" if solution.partial else "")
    )


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
            fields = {
                "event": "progress",
                "bestObjective": round(p.best_objective, 3),
                "solutions": p.solutions,
                "elapsedSeconds": round(p.elapsed, 3),
                "engine": p.engine,
            }
            line = json.dumps(fields) + "\n"
        sys.stderr.write(line)
        sys.stderr.flush()

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\n")
