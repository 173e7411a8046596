"""Engines on a thread of the solving process instead of a process of their own.

PyVRP searches in C++ with the GIL released (measured: two PyVRP solves on two threads of one
process use 200 % CPU, and each makes as many iterations as one alone), so a PyVRP engine on a
thread has a core to itself while it shares the instance this process already holds: no engine
process (its interpreter, its imports, its unpickled copy of the matrices; see
benchmarks/routing/memory.py). OR-Tools holds the GIL while it searches (two threads: 100 %
CPU); it lets go only when it calls back into Python, which ``run_ortools`` makes it do at every
limit check (a stop check). Measured at 1,000 stops: a PyVRP thread makes 203 iterations/s
alone, 0.2/s while OR-Tools solves on another thread, 43-67/s with that limit check
(benchmarks/routing/gil.py). So at most
one engine of a portfolio runs OR-Tools on a thread (``hybrid``, in ``Portfolio(lean=True)``:
``solve``'s single-process layout); the others keep processes of their own.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection

from logistica_workers.routing.engines import ENGINES, EngineConfig, Hooks, StopFlag
from logistica_workers.routing.evaluate import Routes
from logistica_workers.routing.instance import Instance

THREAD_ENGINES = frozenset({"pyvrp"})  # engines whose search releases the GIL
_started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # every engine thread


def engine_threads_ended(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for every engine thread to end (a portfolio asks them
    to stop as it answers; a search in C++ ends at its next check). A process must not exit
    while one still runs: the interpreter's shutdown ends daemon threads by unwinding them,
    and unwinding through PyVRP's C++ frames aborts the process (``terminate called without
    an active exception``, SIGABRT instead of the exit code)."""
    deadline = time.monotonic() + timeout
    for thread in list(_started):
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in list(_started))


class ThreadEngine:
    """One engine on a daemon thread, speaking to the portfolio like an engine process: it
    streams ``("solution", routes)`` then ``("done", status)`` (or ``("error", why)``) down
    a pipe; ``terminate`` is its SIGTERM (it sends its best plan and ends)."""

    pid: int | None = None  # no process of its own

    def __init__(
        self,
        conn: Connection,
        inst: Instance,
        cfg: EngineConfig,
        limit: float,
        handover: Callable[[Routes | None], Routes | None] | None = None,
    ) -> None:
        """``handover``: ``Hooks.handover`` on this thread (see engines.py)."""
        self.stop_event = threading.Event()
        self.handover = handover
        self.last: Routes | None = None  # the last plan it reported
        self.cfg = cfg
        self.thread = threading.Thread(
            target=self._main, args=(conn, inst, cfg, limit), name=cfg.label, daemon=True
        )

    def _main(self, conn: Connection, inst: Instance, cfg: EngineConfig, limit: float) -> None:
        StopFlag.local.event = self.stop_event
        Hooks.local.phase = lambda name: conn.send(("phase", name))
        Hooks.local.handover = self.handover

        def report(routes: Routes) -> None:
            self.last = routes
            conn.send(("solution", routes))

        try:
            status = ENGINES[cfg.engine](inst, cfg, report, limit)
            conn.send(("done", status))
        except OSError:
            pass  # the portfolio stopped listening (its end is closed): nobody to report to
        except Exception as exc:  # reported to the portfolio, which decides
            with contextlib.suppress(OSError):
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            conn.close()

    def start(self) -> None:
        _started.add(self.thread)
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def terminate(self) -> None:
        self.stop_event.set()

    def kill(self) -> None:
        """A thread cannot be killed: asked to stop, it ends at its search's next check."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)
