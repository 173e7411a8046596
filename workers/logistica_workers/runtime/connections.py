"""Connection guards aiohttp leaves to the application: a deadline for a request head once its
first byte arrived, an idle deadline for keep-alive connections, a cap on open connections per
worker, and a drain that answers what was already received instead of resetting it.

aiohttp builds one ``RequestHandler`` (an asyncio protocol) per connection through its
``Server``; ``GuardedRunner`` hands the site a server whose handlers are ``GuardedHandler``.

aiohttp has no public hook for any of this, so this module — and only this one — uses its
private surface, all of it named in ``PRIVATE_SURFACE`` (checked against the installed aiohttp
by ``tests/unit/runtime/test_connections.py``): the handler's per-connection state
(``_manager``, ``_messages``, ``_request_in_progress``, ``_request_count``, ``_force_close``,
``_loop``), the ``Server``'s ``_loop`` and ``_kwargs`` (to build handlers as it does) and
``AppRunner._make_server`` (to adopt the server it builds). They are those of the 3.14 series:
hence ``aiohttp>=3.14,<4`` in pyproject.toml; a new series is re-checked by that test and by
``tests/integration/test_ingest_connections.py`` before the cap moves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web, web_protocol

from logistica_workers.runtime.protocol import JsonErrorHandler
from logistica_workers.runtime.settings import env_int, env_number


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    idle_timeout: float = 75.0
    max_connections: int = 1000

    @classmethod
    def from_env(cls, prefix: str) -> ConnectionLimits:
        """``{prefix}HEADER_TIMEOUT``, ``IDLE_TIMEOUT``, ``MAX_CONNECTIONS``; ValueError names one."""
        return cls(
            header_timeout=env_number(
                f"{prefix}HEADER_TIMEOUT", cls.header_timeout, low=0.1, high=600
            ),
            idle_timeout=env_number(f"{prefix}IDLE_TIMEOUT", cls.idle_timeout, low=0.1, high=3600),
            max_connections=env_int(
                f"{prefix}MAX_CONNECTIONS", cls.max_connections, low=1, high=1_000_000
            ),
        )


def _over_capacity_response() -> bytes:
    body = json.dumps(
        {"error": "too_many_connections", "message": "the worker's connection cap is reached"}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_OVER_CAPACITY = _over_capacity_response()

#: the private aiohttp names this module relies on, by class (see the module docstring)
PRIVATE_SURFACE: dict[str, tuple[str, ...]] = {
    "RequestHandler": (
        "_manager",
        "_messages",
        "_request_in_progress",
        "_request_count",
        "_force_close",
        "_loop",
    ),
    "Server": ("_loop", "_kwargs"),
    "AppRunner": ("_make_server",),
}


class GuardedHandler(JsonErrorHandler):
    __slots__ = ("_head_timer", "_limits", "_on_refused")

    def __init__(
        self,
        manager: web.Server,
        *,
        limits: ConnectionLimits,
        on_refused: Callable[[str], None] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, keepalive_timeout=limits.idle_timeout, **kwargs)
        self._limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._on_refused = on_refused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > self._limits.max_connections:
            # refused before reading anything: a short 503, then close (cheap, no handler runs)
            transport.write(_OVER_CAPACITY)  # type: ignore[attr-defined]
            self.force_close()
            if self._on_refused:
                self._on_refused("max_connections")

    def _idle(self) -> bool:
        return not self._messages and not self._request_in_progress

    def data_received(self, data: bytes) -> None:
        heads_before = self._request_count
        super().data_received(data)
        if self._request_count != heads_before:
            self._stop_head_timer()  # a complete head arrived
        elif self._head_timer is None and data and self._idle() and not self._force_close:
            # the first bytes of a new request head: it has header_timeout to complete
            self._head_timer = self._loop.call_later(
                self._limits.header_timeout, self._head_expired, self._request_count
            )

    def _head_expired(self, heads: int) -> None:
        self._head_timer = None
        if self._request_count == heads and self._idle():
            self.force_close()
            if self._on_refused:
                self._on_refused("header_timeout")

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _received_unanswered(self) -> bool:
        """A request head queued or half-received, or a request being handled."""
        return bool(self._messages) or self._request_in_progress or self._head_timer is not None

    def close(self) -> None:
        # called on every connection when the listener closes: an idle one closes now, one that
        # already received (part of) a request is answered first; its response then carries
        # Connection: close (see ``close_when_draining``) and ends the connection
        if self._received_unanswered():
            return
        super().close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        loop = self._loop
        deadline = loop.time() + (timeout or 0.0)
        while self._received_unanswered() and self.transport is not None:
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(0.005, left))  # bounded by the drain budget
        await super().shutdown(max(0.0, deadline - loop.time()))


class GuardedServer(web.Server):
    """A ``web.Server`` whose connections are ``GuardedHandler``s."""

    limits: ConnectionLimits
    on_refused: Callable[[str], None] | None

    def __call__(self) -> web_protocol.RequestHandler:
        return GuardedHandler(
            self,
            limits=self.limits,
            on_refused=self.on_refused,
            loop=self._loop,
            **self._kwargs,
        )


class GuardedRunner(web.AppRunner):
    def __init__(
        self,
        app: web.Application,
        limits: ConnectionLimits,
        on_refused: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits
        self._on_refused = on_refused

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # AppRunner builds the Server itself; adopt it as a GuardedServer (it adds no state
        # beyond the two attributes set here)
        server.__class__ = GuardedServer
        assert isinstance(server, GuardedServer)
        server.limits = self._limits
        server.on_refused = self._on_refused
        return server
