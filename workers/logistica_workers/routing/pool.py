"""Warm engine processes for small ``POST /route`` problems: no process start per request.

The route service starts ``size`` engine processes at start-up (from the fork server, so
OR-Tools and PyVRP are imported once). A small problem is sent whole to an idle one, which
solves it in-process with OR-Tools on the full objective (arrival term included) and streams
each improvement back. The caller stops on convergence, at the limit, or when asked (then the
answer is ``partial: true``); the worker gets SIGTERM, and if it has not finished within
``STOP_GRACE_SECONDS`` it is killed and replaced. A worker found dead is replaced too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from logistica_workers.api import Solution
from logistica_workers.routing.drops import finish_drops
from logistica_workers.routing.engines import ENGINES, TINY_STOPS, EngineConfig, StopFlag, patience
from logistica_workers.routing.evaluate import Routes, Score, drop_blocked, score, to_solution
from logistica_workers.routing.instance import Instance
from logistica_workers.routing.portfolio import (
    DEADLINE_SLACK_SECONDS,
    STOP_GRACE_SECONDS,
    Progress,
    _context,
)

POOL_MAX_STOPS = 20  # measured at 5 and 20 stops: the 10 s objective (benchmarks)
TINY_POOL_PATIENCE = 0.03  # seconds; tiny problems: best found within a few ms (measured)
REASSIGN_SECONDS = 0.1  # for reassigning stops when capacity is short (drops.py)
ACQUIRE_TIMEOUT_SECONDS = 2.0  # waiting for a worker still stopping or being replaced
# measured (benchmarks/routing/latency.txt): with 0.2 s, ``hybrid`` (PyVRP, then OR-Tools from
# its routes on the full objective) gave the 10 s portfolio's objective on 12 of 12 instances of
# 20 stops; plain OR-Tools (guided local search) converged on a plan 0.5-25 % longer on 4 of 12
SMALL_ENGINE = EngineConfig("hybrid")
SMALL_ENGINE_SECONDS = 0.2  # the warm engine's own limit (the request's limit stays the cap)


def pool_patience(time_limit: float, n_stops: int) -> float:
    """Seconds without improvement after which a pooled solve counts as converged."""
    if n_stops <= TINY_STOPS:
        return min(TINY_POOL_PATIENCE, time_limit)
    return patience(time_limit, n_stops, limit_share=0.0)  # answers in the pool are small


def _worker_main(conn: Connection) -> None:
    """One warm engine process: solve jobs ``(inst, cfg, limit)`` until the pipe closes."""
    StopFlag.install()
    # the model modules (OR-Tools' routing wrapper among them) load now, not in a request
    from logistica_workers.routing import ortools_model, pyvrp_model  # noqa: F401

    conn.send(("ready", None))
    while True:
        try:
            inst, cfg, limit = conn.recv()
        except (EOFError, OSError):
            return
        StopFlag.stopped = False
        try:
            status = ENGINES[cfg.engine](
                inst, cfg, lambda routes: conn.send(("solution", routes)), limit
            )
            conn.send(("done", status))
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # reported to the caller, which decides
            try:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            except OSError:
                return


class Worker:
    def __init__(self) -> None:
        ctx = _context()
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc: BaseProcess = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()

    @property
    def pid(self) -> int:
        return self.proc.pid or 0

    def alive(self) -> bool:
        return self.proc.is_alive()

    def terminate(self) -> None:
        """Ask the running job to stop (its engine finishes at its next solution)."""
        if self.proc.is_alive() and self.proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(1)
        self.conn.close()


class WarmPool:
    """A fixed number of warm engine processes; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Condition()
        self._idle: list[Worker] = []
        self._busy = 0
        self._closed = False
        self.replaced = 0

    def start(self, timeout: float = 60.0) -> None:
        """Start the workers and wait until each has its engine modules loaded."""
        workers = [Worker() for _ in range(self.size)]
        for w in workers:
            if not w.conn.poll(timeout) or w.conn.recv()[0] != "ready":
                raise RuntimeError(f"engine worker {w.pid} did not start")
        with self._lock:
            self._idle.extend(workers)
            self._lock.notify_all()

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._idle]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._lock.notify_all()
        for w in idle:
            w.kill()

    def acquire(self, timeout: float = ACQUIRE_TIMEOUT_SECONDS) -> Worker | None:
        """An idle live worker (a dead one is replaced first), or None after ``timeout``."""
        end = time.monotonic() + timeout
        with self._lock:
            while not self._idle:
                left = end - time.monotonic()
                if self._closed or left <= 0:
                    return None
                self._lock.wait(left)
            worker = self._idle.pop()
            self._busy += 1
        if not worker.alive():
            worker.kill()
            worker = Worker()
            self.replaced += 1
        return worker

    def release(self, worker: Worker) -> None:
        with self._lock:
            self._busy -= 1
            if self._closed:
                worker.kill()
                return
            self._idle.append(worker)
            self._lock.notify()

    def discard(self, worker: Worker) -> None:
        """Kill a worker that would not stop and put a fresh one in its place."""
        worker.kill()
        fresh = None if self._closed else Worker()
        with self._lock:
            self._busy -= 1
            if fresh is not None:
                self.replaced += 1
                if self._closed:
                    fresh.kill()
                else:
                    self._idle.append(fresh)
                    self._lock.notify()

    def reclaim(self, worker: Worker) -> None:
        """After SIGTERM: wait for the job's end, then reuse the worker, else replace it."""
        end = time.monotonic() + STOP_GRACE_SECONDS
        try:
            while (left := end - time.monotonic()) > 0:
                if not worker.conn.poll(left):
                    break
                kind, _ = worker.conn.recv()
                if kind in ("done", "error"):
                    self.release(worker)
                    return
        except (EOFError, OSError):
            pass
        self.discard(worker)


class PooledSolve:
    """One small problem solved in a warm worker; the same interface as ``Portfolio``."""

    def __init__(
        self,
        pool: WarmPool,
        inst: Instance,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.pool = pool
        self.inst = inst
        self.on_progress = on_progress
        self.stop_event = threading.Event()
        self.best: tuple[Score, Routes] | None = None
        self.solutions = 0

    def stop(self) -> None:
        """Ask for the best solution so far (thread-safe)."""
        self.stop_event.set()

    # one request/answer exchange with a warm worker: its exits (converged, done, error, died)
    # read best side by side in one loop
    def run(self) -> Solution | None:  # noqa: C901, PLR0912
        """The plan, or None when no worker became free (the caller uses the portfolio)."""
        started = time.monotonic()
        worker = self.pool.acquire()
        if worker is None:
            return None
        inst, cfg = self.inst, SMALL_ENGINE
        deadline = started + inst.time_limit + DEADLINE_SLACK_SECONDS
        wait_for_gain = pool_patience(inst.time_limit, inst.n_stops)
        last_gain = time.monotonic()
        status, error = "", ""
        try:
            worker.conn.send((inst, cfg, min(inst.time_limit, SMALL_ENGINE_SECONDS)))
            while True:
                now = time.monotonic()
                converged = self.best is not None and now - last_gain > wait_for_gain
                if self.stop_event.is_set() or converged or now > deadline:
                    break
                if not worker.conn.poll(min(0.01, wait_for_gain)):
                    continue
                kind, payload = worker.conn.recv()
                if kind == "solution":
                    self.solutions += 1
                    payload = drop_blocked(inst, payload)
                    sc = score(inst, payload)
                    if sc.feasible and (self.best is None or sc.cost < self.best[0].cost):
                        self.best, last_gain = (sc, payload), time.monotonic()
                        if self.on_progress:
                            self.on_progress(
                                Progress(
                                    sc.objective, self.solutions, last_gain - started, cfg.label
                                )
                            )
                elif kind == "ready":  # a fresh worker's first message
                    continue
                elif kind == "done":
                    status = str(payload)
                    break
                else:
                    error = f"{cfg.label}: {payload}"
                    break
        except (EOFError, OSError):
            error = f"{cfg.label}: engine process died"
            self.pool.discard(worker)
        else:
            if status or error:
                self.pool.release(worker)
            else:
                worker.terminate()
                threading.Thread(target=self.pool.reclaim, args=(worker,), daemon=True).start()
        return self._answer(status, error, started)

    def _answer(self, status: str, error: str, started: float) -> Solution:
        """The best plan so far (or none, every stop unassigned) as the answer; its wall time
        counts from ``started`` to the answer, the last passes on its drops included."""
        inst, cfg = self.inst, SMALL_ENGINE
        partial = not status and self.stop_event.is_set()
        if self.best is None:
            if error:
                raise RuntimeError(error)
            routes: Routes = [[] for _ in range(inst.n_vehicles)]
            return to_solution(
                inst,
                routes,
                engine=cfg.label,
                status="NO_SOLUTION",
                wall=time.monotonic() - started,
                solutions=0,
                partial=True,
            )
        until = None if partial else time.monotonic() + REASSIGN_SECONDS
        routes = finish_drops(inst, self.best[1], until, stop=self.stop_event.is_set)
        return to_solution(
            inst,
            routes,
            engine=cfg.label,
            status="INTERRUPTED" if partial else (status if status == "OPTIMAL" else "SUCCESS"),
            wall=time.monotonic() - started,
            solutions=self.solutions,
            partial=partial,
        )
