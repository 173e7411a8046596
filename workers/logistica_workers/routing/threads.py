"""Engines on a thread of the solving process instead of a process of their own.

PyVRP searches in C++ with the GIL released (measured: two PyVRP solves on two threads of one
process use 200 % CPU, and each makes as many iterations as one alone), so a PyVRP engine on a
thread has a core to itself while it shares the instance this process already holds: no engine
process (its interpreter, its imports, its unpickled copy of the matrices; see
benchmarks/routing/memory.py). OR-Tools holds the GIL while it searches (two threads: 100 %
CPU), so engines that run it (``ortools``, ``hybrid``) keep processes of their own.
"""

from __future__ import annotations

import contextlib
import threading
from multiprocessing.connection import Connection

from logistica_workers.routing.engines import ENGINES, EngineConfig, StopFlag
from logistica_workers.routing.instance import Instance

THREAD_ENGINES = frozenset({"pyvrp"})  # engines whose search releases the GIL


class ThreadEngine:
    """One engine on a daemon thread, speaking to the portfolio like an engine process: it
    streams ``("solution", routes)`` then ``("done", status)`` (or ``("error", why)``) down
    a pipe; ``terminate`` is its SIGTERM (it sends its best plan and ends)."""

    pid: int | None = None  # no process of its own

    def __init__(self, conn: Connection, inst: Instance, cfg: EngineConfig, limit: float) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(conn, inst, cfg, limit), name=cfg.label, daemon=True
        )

    def _main(self, conn: Connection, inst: Instance, cfg: EngineConfig, limit: float) -> None:
        StopFlag.local.event = self.stop_event
        try:
            status = ENGINES[cfg.engine](
                inst, cfg, lambda routes: conn.send(("solution", routes)), limit
            )
            conn.send(("done", status))
        except OSError:
            pass  # the portfolio stopped listening (its end is closed): nobody to report to
        except Exception as exc:  # reported to the portfolio, which decides
            with contextlib.suppress(OSError):
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            conn.close()

    def start(self) -> None:
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
