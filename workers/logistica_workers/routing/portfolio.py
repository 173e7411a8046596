"""Run engines in parallel; the best solution wins; anytime and interruptible.

Engines that run OR-Tools get processes of their own (forked from a fork server that has
imported the engines); PyVRP-only engines run on threads of this process, which already
holds the instance (PyVRP's search releases the GIL: ``threads.py``). ``lean`` (``solve``):
a ``hybrid`` engine that is the only one running OR-Tools runs on a thread too, so the usual
portfolio of ``hybrid`` and a second PyVRP seed is one process (no fork server, no resource
tracker, no engine process: benchmarks/routing/memory.txt). The supervising thread
waits on the engines' pipes, scores each reported solution with ``evaluate.score`` and keeps
the best. Interrupting (SIGTERM, suspend, a client going away) asks every engine to stop
(SIGTERM to a process), waits briefly for a last report, then kills the processes: the best
solution so far is returned with ``partial: true``.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from logistica_workers.routing import drops, exact, pyvrp_model
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
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.polish import untimed
from logistica_workers.routing.repair import repair_drops
from logistica_workers.routing.threads import THREAD_ENGINES, ThreadEngine

log = logging.getLogger("logistica.routing")
STOP_GRACE_SECONDS = 0.3  # after SIGTERM an engine may send one last solution
ORTOOLS_PEER_MAX_STOPS = 150  # measured: plain OR-Tools wins at 100 stops, loses at 300
PYVRP_NEIGHBOURS = 50  # PyVRP's default granular neighbourhood (NeighbourhoodParams)
DEADLINE_SLACK_SECONDS = 0.2  # engines stop themselves at the limit; SIGTERM after this
FINISH_MARGIN_SECONDS = drops.EXCHANGE_SECONDS  # reassignment ends this long before the limit
FIRST_SOLUTION_GRACE_SECONDS = 5.0  # without any solution at the limit, wait this much more

# lean: above this, hybrid's OR-Tools phase is left out (PyVRP alone, on a thread). On a thread
# OR-Tools cannot be killed, and from PyVRP's routes its first search runs without a limit
# check (so without stopping, or letting go of the GIL) for 0.8 s at 1,000 stops, 1.4 s at
# 1,250, 3.0 s at 1,500 and 5.9-6.3 s at 2,000 (measured; a 2,000-stop `solve` with an 8 s
# limit took 12.7 s); in an engine process it was killed there before it found anything
LEAN_ORTOOLS_MAX_STOPS = 1000
# lean: hybrid's PyVRP share at least this. The PyVRP seed beside it stops when its OR-Tools
# phase starts, so the PyVRP phase is the only time both cores search; measured against the
# layout with engine processes (benchmarks/routing/ab.py, 300 and 1,000 stops, 8 runs): +0.36 %
# mean objective at 0.5, +0.11 % at 0.75
LEAN_PYVRP_SHARE = 0.75

Runner = mp.process.BaseProcess | ThreadEngine  # an engine process or thread


class NoSolutionError(RuntimeError):
    """No stop could be served although some courier has room for one."""


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
    elif PYVRP_NEIGHBOURS + 1 < inst.n_stops <= ORTOOLS_PEER_MAX_STOPS and inst.capacity_short:
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
        lean: bool = False,
    ) -> None:
        """``lean``: one process where it can (``solve``): a ``hybrid`` engine runs on a
        thread too when no other engine runs OR-Tools (its OR-Tools phase holds the GIL, so
        the routing service, whose event loop shares this process, keeps it in a process).
        ``initial``: a warm start (e.g. a previous plan's routes); it is the first
        candidate, with dropped stops inserted where they cost least; with two or more engines,
        an OR-Tools engine searching from it takes the place of the last of ``configs`` (with
        one, the engine searches afresh: measured better than the warm OR-Tools alone; but with
        stops kept on their couriers the previous plan is nearly the answer, so even a single
        engine starts from it: benchmarks/routing/replan.txt)."""
        self.inst = inst
        # the engines' limit: short of capacity, the last part of the limit is for ``reassign``
        self.search_limit = inst.time_limit - drops.reserve(inst)
        self.initial = repair_drops(inst, drop_blocked(inst, initial)) if initial else None
        chosen = bool(configs)  # the caller's engines keep their split
        configs = configs or default_configs(inst)
        kept = any(v >= 0 for v in inst.pinned)
        if self.initial is not None and (len(configs) > 1 or kept):
            warm = EngineConfig("ortools", initial=tuple(tuple(r) for r in self.initial))
            configs = [warm, *configs[:-1]]
        if lean:
            configs = _lean_configs(inst, configs, default_split=not chosen)
        self.configs = configs
        self.lean = lean
        self.on_progress = on_progress
        self.stop_event = threading.Event()
        self.best: tuple[Score, Routes, str] | None = None
        self.solutions = 0
        self.last_gain = 0.0  # monotonic time of the last improvement
        self.runners: dict[Connection, tuple[Runner, EngineConfig]] = {}
        self.phases: list[tuple[str, str]] = []  # (engine, phase) as each phase started

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
        procs = self.runners = self._start_engines()
        statuses: list[str] = []
        errors: list[str] = []
        finished: set[Connection] = set()
        deadline = started + self.search_limit + DEADLINE_SLACK_SECONDS
        wait_for_gain = patience(self.search_limit, self.inst.n_stops)
        self.last_gain = started
        interrupted_at: float | None = None
        done = False
        polish_grace = polish_reserve(self.inst, self.search_limit)
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
        return self._answer(statuses, errors, partial, started)

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
            self.phases.append((label, str(payload)))
        elif kind == "done":
            statuses.append(str(payload))
            return True
        else:
            errors.append(f"{label}: {payload}")
        return False

    def on_thread(self, cfg: EngineConfig) -> bool:
        """Whether engine ``cfg`` runs on a thread of this process (else in a process)."""
        if cfg.engine in THREAD_ENGINES:
            return True
        return self.lean and cfg.engine == "hybrid" and _with_ortools(self.configs) == [cfg]

    def needs_processes(self) -> bool:
        """Whether some engine runs in a process (then the fork server is worth starting
        early: ``warm_up``)."""
        return not all(self.on_thread(c) for c in self.configs)

    def _start_engines(self) -> dict[Connection, tuple[Runner, EngineConfig]]:
        """One process or thread per engine configuration, each streaming its plans down a
        pipe."""
        procs: dict[Connection, tuple[Runner, EngineConfig]] = {}
        for cfg in self.configs:
            parent, child = mp.Pipe(duplex=False)
            limit = self.search_limit
            if self.on_thread(cfg):  # its end of the pipe is its own: closed by it
                handover = self._handover if cfg.engine == "hybrid" else None
                runner: Runner = ThreadEngine(child, self.inst, cfg, limit, handover)
                runner.start()
            else:
                args = (child, self.inst, cfg, limit)
                runner = _context().Process(target=_engine_main, args=args, daemon=True)
                runner.start()
                child.close()
            procs[parent] = (runner, cfg)
        return procs

    def _handover(self, own: Routes | None) -> Routes | None:
        """Called on the ``hybrid`` thread as its OR-Tools phase starts: the PyVRP threads
        beside it stop (OR-Tools holds the GIL: they would go on at a fifth of their speed,
        threads.py) and free their memory; OR-Tools starts from the best of their plans and
        its own PyVRP phase's (in full-objective cost)."""
        others = [r for r, _ in self.runners.values() if isinstance(r, ThreadEngine)]
        others = [r for r in others if r.cfg.engine in THREAD_ENGINES]
        for engine in others:
            engine.terminate()
        for engine in others:
            engine.join(STOP_GRACE_SECONDS)
        from logistica_workers.routing import heap

        heap.trim()  # the PyVRP searches' freed memory leaves RSS (measured: -36 MB at 1,000)
        best: tuple[float, Routes | None] = (float("inf"), own)
        for routes in [own, *(r.last for r in others)]:
            if routes is None:
                continue
            routes = drop_blocked(self.inst, routes)
            sc = score(self.inst, routes)
            if sc.feasible and self.inst.keeps_pins(routes) and sc.cost < best[0]:
                best = (sc.cost, routes)
        return best[1]

    def _answer(
        self, statuses: list[str], errors: list[str], partial: bool, started: float
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
                wall=time.monotonic() - started,
                solutions=0,
                partial=True,
            )
        _, routes, engine = self.best
        # the rest of the limit (not when interrupted) for reassigning stops if capacity is short
        routes = drops.finish_drops(
            self.inst,
            routes,
            None if partial else started + self.inst.time_limit - FINISH_MARGIN_SECONDS,
            stop=self.stop_event.is_set,  # SIGTERM: the answer goes out now
        )
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
            wall=time.monotonic() - started,
            solutions=self.solutions,
            partial=partial,
        )


def _lean_configs(
    inst: Instance, configs: list[EngineConfig], default_split: bool
) -> list[EngineConfig]:
    """The engines of a lean portfolio: no OR-Tools phase above ``LEAN_ORTOOLS_MAX_STOPS``;
    with the default engines, a hybrid that will run on a thread (the only engine with
    OR-Tools) gets at least ``LEAN_PYVRP_SHARE`` for PyVRP."""
    if inst.n_stops > LEAN_ORTOOLS_MAX_STOPS:
        return [_without_ortools_phase(c) for c in configs]
    with_ortools = _with_ortools(configs)
    if not default_split or len(with_ortools) != 1 or with_ortools[0].engine != "hybrid":
        return configs
    share = max(with_ortools[0].pyvrp_share, LEAN_PYVRP_SHARE)
    return [
        dataclasses.replace(c, pyvrp_share=share) if c.engine == "hybrid" else c for c in configs
    ]


def _with_ortools(configs: list[EngineConfig]) -> list[EngineConfig]:
    """The engines that run OR-Tools (those that cannot share a process with a search)."""
    return [c for c in configs if c.engine not in THREAD_ENGINES]


def _without_ortools_phase(cfg: EngineConfig) -> EngineConfig:
    """``hybrid`` as PyVRP alone (same seed and breaks model); other engines as they are."""
    if cfg.engine != "hybrid":
        return cfg
    return EngineConfig("pyvrp", seed=cfg.seed, pyvrp_breaks=cfg.pyvrp_breaks)


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
