"""Run engines in parallel processes; the best solution wins; anytime and interruptible.

The parent never solves: it waits on pipes, scores each reported solution with
``evaluate.score`` and keeps the best. Interrupting (SIGTERM, suspend, a client going away)
sends SIGTERM to the engines, waits briefly for a last report, then kills them: the best
solution so far is returned with ``partial: true``.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from logistica_workers.api import Solution
from logistica_workers.routing.engines import ENGINES, EngineConfig, StopFlag
from logistica_workers.routing.evaluate import Routes, Score, score, to_solution
from logistica_workers.routing.instance import Instance

STOP_GRACE_SECONDS = 0.5  # after SIGTERM an engine may send one last solution


@dataclass(frozen=True)
class Progress:
    best_objective: float
    solutions: int
    elapsed: float
    engine: str


def default_configs(inst: Instance, workers: int | None = None) -> list[EngineConfig]:
    """The portfolio, tuned on CVRPLIB (benchmarks/routing): see the README."""
    workers = workers or min(2, os.cpu_count() or 1)
    if inst.kind == "cvrp":
        configs = [EngineConfig("pyvrp", seed=1), EngineConfig("pyvrp", seed=2)]
    else:
        configs = [
            EngineConfig("ortools", "PARALLEL_CHEAPEST_INSERTION", "GUIDED_LOCAL_SEARCH"),
            EngineConfig("ortools", "PATH_CHEAPEST_ARC", "GUIDED_LOCAL_SEARCH"),
        ]
    return configs[: max(1, workers)]


def _engine_main(conn: Connection, inst: Instance, cfg: EngineConfig, time_limit: float) -> None:
    StopFlag.install()
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
    ctx.set_forkserver_preload(["logistica_workers.routing.engines", "ortools", "pyvrp"])
    return ctx


class Portfolio:
    def __init__(
        self,
        inst: Instance,
        configs: list[EngineConfig] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.inst = inst
        self.configs = configs or default_configs(inst)
        self.on_progress = on_progress
        self.stop_event = threading.Event()
        self.best: tuple[Score, Routes, str] | None = None
        self.solutions = 0

    def stop(self) -> None:
        """Ask for the best solution so far (thread-safe)."""
        self.stop_event.set()

    def _consider(self, routes: Routes, engine: str, started: float) -> None:
        self.solutions += 1
        sc = score(self.inst, routes)
        if self.best is None or sc.cost < self.best[0].cost:
            self.best = (sc, routes, engine)
            if self.on_progress:
                self.on_progress(
                    Progress(sc.objective, self.solutions, time.monotonic() - started, engine)
                )

    def run(self) -> Solution:
        started = time.monotonic()
        ctx = _context()
        procs: dict[Connection, tuple[mp.process.BaseProcess, EngineConfig]] = {}
        for cfg in self.configs:
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_engine_main, args=(child, self.inst, cfg, self.inst.time_limit), daemon=True
            )
            proc.start()
            child.close()
            procs[parent] = (proc, cfg)
        statuses: list[str] = []
        errors: list[str] = []
        finished: set[Connection] = set()
        deadline = started + self.inst.time_limit + 5.0  # engines stop themselves before this
        interrupted_at: float | None = None
        open_conns = list(procs)
        while open_conns:
            now = time.monotonic()
            if interrupted_at is None and (self.stop_event.is_set() or now > deadline):
                interrupted_at = now
                for running, _ in procs.values():
                    if running.is_alive() and running.pid:
                        os.kill(running.pid, signal.SIGTERM)
            if interrupted_at is not None and now - interrupted_at > STOP_GRACE_SECONDS:
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
                if kind == "solution":
                    self._consider(payload, label, started)
                elif kind == "done":
                    statuses.append(payload)
                    finished.add(conn)
                else:
                    errors.append(f"{label}: {payload}")
        for conn, (engine_proc, _) in procs.items():
            if engine_proc.is_alive():
                engine_proc.kill()
            engine_proc.join(1)
            conn.close()
        wall = time.monotonic() - started
        partial = interrupted_at is not None and self.stop_event.is_set()
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
        status = (
            "INTERRUPTED"
            if partial
            else ("SUCCESS" if "SUCCESS" in statuses else (statuses[0] if statuses else "TIMEOUT"))
        )
        return to_solution(
            self.inst,
            routes,
            engine=engine,
            status=status,
            wall=wall,
            solutions=self.solutions,
            partial=partial,
        )
