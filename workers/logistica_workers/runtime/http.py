"""Serving an aiohttp app with the graceful SIGTERM sequence shared by every HTTP worker:
unready at once -> keep serving while endpoints update -> stop accepting -> drain in-flight
requests -> worker-specific flush -> exit, each phase timed and inside the budget."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from logistica_workers.runtime.shutdown import (
    ShutdownClock,
    budget_seconds,
    grace_seconds,
    install_stop_signals,
)

log = logging.getLogger("logistica.http")


class Drainable(Protocol):
    ready_flag: bool
    accepting: bool


def propagation_delay(budget: float) -> float:
    """How long to keep serving after turning unready (endpoint removal takes a moment)."""
    raw = os.environ.get("LOGISTICA_DRAIN_DELAY_SECONDS")
    delay = float(raw) if raw else 5.0
    return max(0.0, min(delay, budget / 3))


async def serve(
    app: web.Application,
    worker: Drainable,
    host: str,
    port: int,
    flush: Callable[[ShutdownClock], Awaitable[None]],
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    before_drain: Callable[[], None] | None = None,
) -> int:
    budget = budget_seconds(grace_seconds())
    delay = propagation_delay(budget)
    # in-flight requests get what is left after the delay, less a reserve for the flush
    runner = web.AppRunner(
        app,
        handle_signals=False,
        handler_cancellation=True,
        shutdown_timeout=max(0.5, (budget - delay) * 0.6),
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = port
    sockets = getattr(site._server, "sockets", None)
    if sockets:
        bound = int(sockets[0].getsockname()[1])
    log.info("listening", extra={"host": host, "port": bound, "budget": budget})
    if started:
        started(bound)
    stop = stop or asyncio.Event()
    install_stop_signals(asyncio.get_running_loop(), stop)
    await stop.wait()

    clock = ShutdownClock(budget)
    with clock.phase("unready"):
        worker.ready_flag = False
    with clock.phase("propagate"):
        await asyncio.sleep(delay)  # deliberate: load balancers stop sending meanwhile
    with clock.phase("drain"):
        worker.accepting = False
        if before_drain:
            before_drain()  # e.g. ask running solves for their best solution now
        await runner.cleanup()  # stop listening, wait for in-flight handlers, close
    await flush(clock)
    clock.summary()
    return 0
