"""Serving an aiohttp app with the graceful SIGTERM sequence shared by every HTTP worker:
unready at once -> keep serving while endpoints update -> stop accepting -> drain in-flight
requests -> worker-specific flush -> exit, each phase timed and inside the budget."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from logistica_workers.db.pool import Database

from logistica_workers.runtime import profiling, tracing
from logistica_workers.runtime.connections import ConnectionLimits, GuardedRunner
from logistica_workers.runtime.protocol import JsonErrorRunner
from logistica_workers.runtime.shutdown import (
    ShutdownClock,
    budget_seconds,
    drain_delay_seconds,
    grace_seconds,
    install_stop_signals,
)

log = logging.getLogger("logistica.http")


@dataclass
class Shutdown:
    """The app's view of a shutdown: its clock, set once SIGTERM arrives. A ``cleanup_ctx``
    that closes resources after the drain reads its budget here (``app[SHUTDOWN]``)."""

    clock: ShutdownClock | None = None

    def budget(self, default: float = 5.0) -> ShutdownClock:
        """The shutdown's clock, or a fresh one of ``default`` seconds (a failed start)."""
        return self.clock or ShutdownClock(default)


SHUTDOWN = web.AppKey("shutdown", Shutdown)


class Drainable(Protocol):
    ready_flag: bool
    accepting: bool


class ListenError(Exception):
    """The address cannot be bound (in use, not permitted, not local): a clear one-line reason."""


def close_when_draining(
    worker: Drainable,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """From the first moment of a shutdown every response says ``Connection: close``, so
    keep-alive clients reconnect elsewhere instead of writing into a closing connection."""

    async def hook(_: web.Request, response: web.StreamResponse) -> None:
        if not worker.ready_flag:
            response.force_close()
            # aiohttp computed the Connection header before this hook: say it explicitly
            response.headers["Connection"] = "close"

    return hook


def propagation_delay(budget: float) -> float:
    """How long to keep serving after turning unready (endpoint removal takes a moment)."""
    return max(0.0, min(drain_delay_seconds(), budget / 3))


# the whole life of a server in order (listen, serve, then each shutdown phase): one sequence
# that reads top to bottom against the README's shutdown description
async def serve(  # noqa: PLR0915
    app: web.Application,
    worker: Drainable,
    host: str,
    port: int,
    flush: Callable[[ShutdownClock], Awaitable[None]] | None,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    before_drain: Callable[[], None] | None = None,
    limits: ConnectionLimits | None = None,
    on_drain: Callable[[float], None] | None = None,
    on_refused: Callable[[str], None] | None = None,
) -> int:
    """Serve until ``stop`` (or SIGTERM/SIGINT). With ``limits``, connections are guarded (see
    ``runtime.connections``); ``on_drain`` gets the loop time by which the drain must end.
    The app's ``cleanup_ctx`` runs once the connections are drained, with the shutdown's clock
    in ``app[SHUTDOWN]``; ``flush`` (if any) after that."""
    budget = budget_seconds(grace_seconds())
    delay = propagation_delay(budget)
    # in-flight requests get what is left after the delay, less a reserve for the flush
    drain_timeout = max(0.5, (budget - delay) * 0.6)
    options = {
        "handle_signals": False,
        "handler_cancellation": True,
        "shutdown_timeout": drain_timeout,
        "access_log": None,
    }
    shutdown = Shutdown()
    app[SHUTDOWN] = shutdown
    profiling.install(app, "logistica")  # GET /debug/profile, only with LOGISTICA_DEBUG_TOKEN
    if tracing.enabled():  # server spans first, so they time the other middlewares too
        app.middlewares.insert(0, tracing.server_middleware("http"))
    runner: web.AppRunner
    if limits is not None:
        app.on_response_prepare.append(close_when_draining(worker))
        # bodies stay as sent (gzip is the handler's business, bounded and off the loop)
        runner = GuardedRunner(app, limits, on_refused, auto_decompress=False, **options)
    else:
        runner = JsonErrorRunner(app, **options)  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = {
            errno.EADDRINUSE: "the address is already in use (another process listens there)",
            errno.EACCES: "permission denied (ports below 1024 need privileges)",
            errno.EADDRNOTAVAIL: "the address is not one of this machine's",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
    addresses = runner.addresses  # where the site listens (port 0: the one the OS chose)
    bound = int(addresses[0][1]) if addresses else port
    log.info("listening", extra={"host": host, "port": bound, "budget": budget})
    if started:
        started(bound)
    stop = stop or asyncio.Event()
    install_stop_signals(asyncio.get_running_loop(), stop)
    await stop.wait()

    clock = shutdown.clock = ShutdownClock(budget)
    with clock.phase("unready"):
        worker.ready_flag = False
    with clock.phase("propagate"):
        await asyncio.sleep(delay)  # deliberate: load balancers stop sending meanwhile
    with clock.phase("drain"):
        worker.accepting = False
        if before_drain:
            before_drain()  # e.g. ask running solves for their best solution now
        if on_drain:
            # bodies still arriving must end a little before the connections are cut, so that
            # their answer (503 draining) still goes out
            margin = min(0.5, drain_timeout * 0.2)
            on_drain(asyncio.get_running_loop().time() + drain_timeout - margin)
        await runner.cleanup()  # stop listening, wait for in-flight handlers, close
    if flush is not None:
        await flush(clock)
    if tracing.enabled():
        with clock.phase("traces-flushed"):
            await asyncio.to_thread(tracing.shutdown, clock.remaining())
    clock.summary()
    return 0


def metrics_response(registry: CollectorRegistry) -> web.Response:
    """``GET /metrics``: the registry in Prometheus' text exposition format."""
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def unready_reasons(draining: bool, db: Database) -> list[str]:
    """Why a database-backed server is not ready (the ``/readyz`` 503 message)."""
    reasons = ["draining"] if draining else []
    if not db.reachable:
        reasons.append("database unreachable")
    elif not db.ready:
        reasons.append("database schema is behind: run logistica migrate")
    return reasons
