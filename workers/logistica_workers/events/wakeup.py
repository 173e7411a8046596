"""Waking long-polling readers: a dedicated LISTEN connection turns each committed insert's
NOTIFY into a wake-up of every waiting reader."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger("logistica.events.wakeup")

CHANNEL = "logistica_events"


class Wakeup:
    """An edge every waiter sees: take ``signal()`` before reading, then wait on it.

    A notification that arrives between the read and the wait still wakes the waiter,
    because it sets the very event the waiter took before it read."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.count = 0

    def signal(self) -> asyncio.Event:
        return self._event

    def fire(self) -> None:
        self.count += 1
        self._event.set()
        self._event = asyncio.Event()


class Listener:
    """Holds one connection LISTENing on the channel, reconnecting when it drops.

    On every (re)connect it fires once: notifications sent while it was not listening are
    lost, and a waiter must look again rather than sleep until its deadline."""

    def __init__(self, dsn: str, wakeup: Wakeup) -> None:
        self.dsn = dsn
        self.wakeup = wakeup
        self.connected = False
        self.notifications = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="events-listener")

    def _on_notify(self, *_: Any) -> None:
        self.notifications += 1
        self.wakeup.fire()

    async def _run(self) -> None:
        retry = 0.1
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                lost = asyncio.get_running_loop().create_future()
                conn.add_termination_listener(_resolver(lost))
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected = True
                retry = 0.1
                log.info("listening for new events", extra={"channel": CHANNEL})
                self.wakeup.fire()
                await lost
                log.warning("listen connection lost")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot listen for new events", extra={"error": str(exc)})
            finally:
                self.connected = False
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(retry)  # reconnect backoff, not a poll of the feed
            retry = min(retry * 2, 2.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _resolver(done: asyncio.Future[None]) -> Callable[[object], None]:
    def resolve(_: object) -> None:
        if not done.done():
            done.set_result(None)

    return resolve
