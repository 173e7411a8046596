"""Run engines in parallel; the best solution wins; anytime and interruptible.

Engines that run OR-Tools get processes of their own (forked from a fork server that has
imported the engines); PyVRP-only engines run on threads of this process, which already
holds the instance (PyVRP's search releases the GIL: ``threads.py``). The supervising thread
waits on the engines' pipes, scores each reported solution with ``evaluate.score`` and keeps
the best. Interrupting (SIGTERM, suspend, a client going away) asks every engine to stop
(SIGTERM to a process), waits briefly for a last report, then kills the processes: the best
solution so far is returned with ``partial: true``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from logistica_workers.api import Solution
from logistica_workers.routing import exact, pyvrp_model
from logistica_workers.routing.engines import (
    ENGINES,
    EngineConfig,
    Hooks,
    StopFlag,
    converged,
    patience,
    polish_reserve,
)
from logistica_workers.routing.evaluate import Routes, Score, drop_blocked, score, to_solution
from logistica_workers.routing.exchange import finish_drops
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.polish import untimed
from logistica_workers.routing.repair import repair_drops
from logistica_workers.routing.threads import THREAD_ENGINES, ThreadEngine

log = logging.getLogger("logistica.routing")
STOP_GRACE_SECONDS = 0.3  # after SIGTERM an engine may send one last solution
ORTOOLS_PEER_MAX_STOPS = 150  # measured: plain OR-Tools wins at 100 stops, loses at 300
PYVRP_NEIGHBOURS = 50  # PyVRP's default granular neighbourhood (NeighbourhoodParams)
DEADLINE_SLACK_SECONDS = 0.2  # engines stop themselves at the limit; SIGTERM after this
FIRST_SOLUTION_GRACE_SECONDS = 5.0  # without any solution at the limit, wait this much more

Runner = mp.process.BaseProcess | ThreadEngine  # an engine process or thread


class NoSolutionError(RuntimeError):
    """No stop could be served although some courier has room for one."""


def capacity_short(inst: Instance) -> bool:
    """Whether the stops' demand exceeds the fleet's capacity (some stop must be dropped)."""
    return int(inst.demand[: inst.n_stops].sum()) > sum(inst.capacity)


def has_room(inst: Instance) -> bool:
    """Whether some stop fits some courier (then a plan serving nothing is a failure)."""
    return inst.n_stops > 0 and int(inst.demand[: inst.n_stops].min()) <= max(inst.capacity)


@dataclass(frozen=True)
class Progress:
    best_objective: float
    solutions: int
    elapsed: float
    engine: str


def default_configs(inst: Instance, workers: int | None = None) -> list[EngineConfig]:
    """The portfolio (benchmarks/routing, see the README). CVRP: two PyVRP seeds. Our model:
    PyVRP then OR-Tools with the arrival term; beside it, on small problems plain OR-Tools
    (its own construction already weighs arrival times), on larger ones PyVRP's second seed.
    Small problems whose capacity is short: the second engine is the first again with every
    other stop in PyVRP's neighbourhood (measured: plain OR-Tools drops more priority weight
    there, and PyVRP with its default neighbourhood sometimes settles 5-6 % longer).
    Larger ones without windows, shifts or route limits: two PyVRP seeds, each polishing its
    routes for the arrival term (``polish.py``; measured better than any OR-Tools phase)."""
    workers = workers or min(2, os.cpu_count() or 1)
    if any(v >= 0 for v in inst.pinned):  # stops kept on their couriers: PyVRP cannot pin
        return [
            EngineConfig("ortools", "PATH_CHEAPEST_ARC", "GUIDED_LOCAL_SEARCH"),
            EngineConfig("ortools", "PARALLEL_CHEAPEST_INSERTION", "GUIDED_LOCAL_SEARCH"),
        ][: max(1, workers)]
    if pyvrp_model.break_kinds(inst):
        return break_configs(inst)[: max(1, workers)]
    if inst.kind == "cvrp":
        configs = [EngineConfig("pyvrp", seed=1), EngineConfig("pyvrp", seed=2)]
    elif PYVRP_NEIGHBOURS + 1 < inst.n_stops <= ORTOOLS_PEER_MAX_STOPS and capacity_short(inst):
        configs = [
            EngineConfig("hybrid", seed=1),
            EngineConfig("hybrid", seed=1, neighbours=inst.n_stops - 1),
        ]
    elif inst.n_stops <= ORTOOLS_PEER_MAX_STOPS:
        configs = [
            EngineConfig("hybrid", seed=1),
            EngineConfig("ortools", "PATH_CHEAPEST_ARC", "GUIDED_LOCAL_SEARCH"),
        ]
    elif untimed(inst):  # polished PyVRP beats any OR-Tools phase here (see the README)
        configs = [EngineConfig("pyvrp", seed=1), EngineConfig("pyvrp", seed=2)]
    else:
        configs = [EngineConfig("hybrid", seed=1), EngineConfig("pyvrp", seed=2)]
    return configs[: max(1, workers)]


def break_configs(inst: Instance) -> list[EngineConfig]:
    """Couriers with breaks (benchmarks/routing/breaks.txt): PyVRP with break copies of the
    stops (a restriction: its routes keep their stops once their breaks are placed) beside
    PyVRP planning without breaks (a relaxation whose routes are cut down until their breaks
    fit, then repaired: shorter where the couriers' time is slack). The first is followed by
    OR-Tools (which models breaks exactly), the second too up to 150 stops; plain OR-Tools is
    not run (it drops stops from 300 stops up). One worker: the first alone."""
    second = "hybrid" if inst.n_stops <= ORTOOLS_PEER_MAX_STOPS else "pyvrp"
    return [EngineConfig("hybrid", seed=1), EngineConfig(second, seed=2, pyvrp_breaks=False)]


def _engine_main(conn: Connection, inst: Instance, cfg: EngineConfig, time_limit: float) -> None:
    StopFlag.install()
    Hooks.phase = lambda name: conn.send(("phase", name))
    try:
        status = ENGINES[cfg.engine](
            inst, cfg, lambda routes: conn.send(("solution", routes)), time_limit
        )
        conn.send(("done", status))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone (killed, or it stopped listening): nobody to report to
    except Exception as exc:  # reported to the parent, which decides
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


@functools.cache
def _context() -> mp.context.ForkServerContext:
    """forkserver: engine processes start fast with OR-Tools already imported, and never
    inherit the parent's threads or event loop."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["logistica_workers.routing.heap", "logistica_workers.routing.engines", "ortools", "pyvrp"]
    )
    return ctx


def warm_up() -> None:
    """Start the engine fork server now (it imports OR-Tools and PyVRP once), so the first
    solve does not pay for it inside its time limit."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


class Portfolio:
    def __init__(
        self,
        inst: Instance,
        configs: list[EngineConfig] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        initial: Routes | None = None,
    ) -> None:
        """``initial``: a warm start (e.g. a previous plan's routes); it is the first
        candidate, with dropped stops inserted where they cost least; with two or more engines,
        an OR-Tools engine searching from it takes the place of the last of ``configs`` (with
        one, the engine searches afresh: measured better than the warm OR-Tools alone; but with
        stops kept on their couriers the previous plan is nearly the answer, so even a single
        engine starts from it: benchmarks/routing/replan.txt)."""
        self.inst = inst
        self.initial = repair_drops(inst, drop_blocked(inst, initial)) if initial else None
        configs = configs or default_configs(inst)
        kept = any(v >= 0 for v in inst.pinned)
        if self.initial is not None and (len(configs) > 1 or kept):
            warm = EngineConfig("ortools", initial=tuple(tuple(r) for r in self.initial))
            configs = [warm, *configs[:-1]]
        self.configs = configs
        self.on_progress = on_progress
        self.stop_event = threading.Event()
        self.best: tuple[Score, Routes, str] | None = None
        self.solutions = 0
        self.last_gain = 0.0  # monotonic time of the last improvement

    def stop(self) -> None:
        """Ask for the best solution so far (thread-safe)."""
        self.stop_event.set()

    def _consider(self, routes: Routes, engine: str, started: float) -> None:
        if self.initial is not None and self.solutions == 1:
            # an engine's first plan: the search has begun, so patience counts from here (it
            # may take longer to beat a warm start than to make a first plan)
            self.last_gain = max(self.last_gain, time.monotonic())
        self.solutions += 1
        routes = drop_blocked(self.inst, routes)
        if not self.inst.keeps_pins(routes):
            return  # a stop moved off the courier it is kept on (keepPreviousCouriers)
        sc = score(self.inst, routes)
        if not sc.feasible:
            return  # an engine's plan that breaks a window or shift is never the answer
        if self.best is None or sc.cost < self.best[0].cost:
            self.best = (sc, routes, engine)
            self.last_gain = time.monotonic()
            if self.on_progress:
                self.on_progress(
                    Progress(sc.objective, self.solutions, time.monotonic() - started, engine)
                )

    def _run_exact(self, started: float) -> Solution:
        """Tiny instances: the proven optimum in milliseconds, no engine processes."""
        self._consider(exact.solve(self.inst), "exact", started)
        assert self.best is not None
        return to_solution(
            self.inst,
            self.best[1],
            engine="exact",
            status="OPTIMAL",
            wall=time.monotonic() - started,
            solutions=1,
            partial=False,
        )

    # the supervision loop: start engines, watch them, stop them, answer; its stop rules share
    # the loop's state (deadline, last gain, interruption)
    def run(self) -> Solution:
        started = time.monotonic()
        if self.inst.n_stops == 0:  # e.g. a re-plan whose stops are all committed
            return to_solution(
                self.inst,
                [[] for _ in range(self.inst.n_vehicles)],
                engine="none",
                status="OPTIMAL",
                wall=time.monotonic() - started,
                solutions=1,
                partial=False,
            )
        if self.initial is not None:
            self._consider(self.initial, "warm start", started)
        if exact.small_enough(self.inst) and not any(v >= 0 for v in self.inst.pinned):
            return self._run_exact(started)
        procs = self._start_engines()
        statuses: list[str] = []
        errors: list[str] = []
        finished: set[Connection] = set()
        deadline = started + self.inst.time_limit + DEADLINE_SLACK_SECONDS
        wait_for_gain = patience(self.inst.time_limit, self.inst.n_stops)
        self.last_gain = started
        interrupted_at: float | None = None
        done = False
        polish_grace = polish_reserve(self.inst, self.inst.time_limit)
        open_conns = list(procs)
        while open_conns:
            now = time.monotonic()
            if (
                interrupted_at is None
                and self.best is not None
                and self.solutions > (self.initial is not None)  # an engine has reported
                and converged(now, started, self.last_gain, wait_for_gain)
            ):
                done = True  # no engine improved on the best for a while: done
            overdue = now > deadline and (
                self.best is not None or now > deadline + FIRST_SOLUTION_GRACE_SECONDS
            )
            if interrupted_at is None and (self.stop_event.is_set() or overdue or done):
                interrupted_at = now
                _ask_to_stop(procs)
            # a grace for the engines' last report; converged, also for their last step
            # (PyVRP's polish) as long as the limit allows
            grace = polish_grace if done and not self.stop_event.is_set() else 0.0
            if interrupted_at is not None and now - interrupted_at > STOP_GRACE_SECONDS + grace:
                break
            for conn in wait(open_conns, timeout=0.05):
                assert isinstance(conn, Connection)
                label = procs[conn][1].label
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    open_conns.remove(conn)
                    if interrupted_at is None and conn not in finished:
                        errors.append(f"{label}: engine process died")
                    continue
                if self._take(kind, payload, label, started, statuses, errors):
                    finished.add(conn)
        _reap(procs)
        partial = interrupted_at is not None and self.stop_event.is_set()
        return self._answer(statuses, errors, partial, time.monotonic() - started)

    def _take(
        self,
        kind: str,
        payload: Any,  # what the engine process sent: routes, a status or an error
        label: str,
        started: float,
        statuses: list[str],
        errors: list[str],
    ) -> bool:
        """Take one message of engine ``label``; True when it says the engine is done."""
        if kind == "solution":
            self._consider(payload, label, started)
        elif kind == "phase":  # an engine starts a new search: give it time
            self.last_gain = max(self.last_gain, time.monotonic())
        elif kind == "done":
            statuses.append(str(payload))
            return True
        else:
            errors.append(f"{label}: {payload}")
        return False

    def _start_engines(self) -> dict[Connection, tuple[Runner, EngineConfig]]:
        """One process or thread per engine configuration, each streaming its plans down a
        pipe."""
        ctx = _context()
        procs: dict[Connection, tuple[Runner, EngineConfig]] = {}
        for cfg in self.configs:
            parent, child = ctx.Pipe(duplex=False)
            limit = self.inst.time_limit
            if cfg.engine in THREAD_ENGINES:  # its end of the pipe is its own: closed by it
                runner: Runner = ThreadEngine(child, self.inst, cfg, limit)
                runner.start()
            else:
                args = (child, self.inst, cfg, limit)
                runner = ctx.Process(target=_engine_main, args=args, daemon=True)
                runner.start()
                child.close()
            procs[parent] = (runner, cfg)
        return procs

    def _answer(
        self, statuses: list[str], errors: list[str], partial: bool, wall: float
    ) -> Solution:
        """The best plan found (repaired), or every stop unassigned when there is none."""
        if self.best is not None and errors:  # answered by others; a failure is a bug to see
            log.warning("engine failed", extra={"errors": errors})
        if self.best is None:
            if errors:
                raise RuntimeError("; ".join(errors))
            # nothing found in time: every stop unassigned, honestly marked partial
            routes: Routes = [[] for _ in range(self.inst.n_vehicles)]
            return to_solution(
                self.inst,
                routes,
                engine="+".join(c.label for c in self.configs),
                status="NO_SOLUTION",
                wall=wall,
                solutions=0,
                partial=True,
            )
        _, routes, engine = self.best
        routes = finish_drops(self.inst, routes)
        if partial:
            status = "INTERRUPTED"
        elif "OPTIMAL" in statuses:
            status = "OPTIMAL"
        else:
            status = "SUCCESS"  # engines report only feasible plans
        return to_solution(
            self.inst,
            routes,
            engine=engine,
            status=status,
            wall=wall,
            solutions=self.solutions,
            partial=partial,
        )


def _ask_to_stop(procs: dict[Connection, tuple[Runner, EngineConfig]]) -> None:
    """Every engine still running asked to stop (SIGTERM to a process): each sends its best
    plan, then ends."""
    for running, _ in procs.values():
        if isinstance(running, ThreadEngine):
            running.terminate()
        elif running.is_alive() and running.pid:
            os.kill(running.pid, signal.SIGTERM)


def _reap(procs: dict[Connection, tuple[Runner, EngineConfig]]) -> None:
    """Every engine process ended (killed if it outlived its grace), every engine thread
    asked to stop, and their pipes closed (a thread still sending then ends at once)."""
    for conn, (engine, _) in procs.items():
        if engine.is_alive():
            engine.kill()
        conn.close()
        engine.join(1)
