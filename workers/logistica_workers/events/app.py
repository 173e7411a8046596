"""The events service's aiohttp application: ``GET /events``, named consumers and the probes."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from logistica_workers.api.openapi import events_document
from logistica_workers.db.pool import Database
from logistica_workers.events import retention, store
from logistica_workers.events.cursor import START, Cursor, CursorError
from logistica_workers.events.settings import EventsSettings
from logistica_workers.events.wakeup import Listener, Wakeup
from logistica_workers.runtime.errors import error_response as error
from logistica_workers.runtime.errors import json_errors
from logistica_workers.runtime.http import metrics_response, unready_reasons

log = logging.getLogger("logistica.events")

CONSUMER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FEED_PARAMS = {"source", "namespace", "after", "consumer", "limit", "wait"}
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# while rows are held behind an older transaction that may never notify (it inserts no event,
# or it rolls back), the waiter looks again after 2, 4, 8 ... ms, at most every 100 ms
_STALL_FIRST, _STALL_MAX = 0.002, 0.1


class BadParameter(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FeedQuery:
    after: Cursor
    consumer: str | None
    limit: int
    wait: float
    filters: store.Filters
    lines: bool  # JSON lines rather than one array


def _label(value: str, field: str) -> str:
    if not value or len(value) > 253:
        raise BadParameter(field, f"{field} must be 1 to 253 characters")
    if "\x00" in value:  # Postgres text cannot hold it (found by schemathesis: it was a 503)
        raise BadParameter(field, f"{field} must not contain a NUL character")
    return value


def consumer_name(name: str, field: str = "name") -> str:
    if not CONSUMER_NAME.match(name):
        raise BadParameter(
            field,
            f"{field} must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit, got {name!r}",
        )
    return name


def parse_cursor(text: str, field: str) -> Cursor:
    try:
        return Cursor.parse(text)
    except CursorError as exc:
        raise BadParameter(field, f"{field}: {exc}") from None


def _number(raw: str, field: str, low: float, high: float, whole: bool) -> float:
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number of seconds"
        raise BadParameter(field, f"{field} must be {kind}, got {raw!r}") from None
    if not low <= value <= high:  # NaN fails too
        raise BadParameter(field, f"{field} must be between {low:g} and {high:g}, got {raw}")
    return value


def parse_feed_query(request: web.Request, settings: EventsSettings) -> FeedQuery:
    q = request.query
    for key in q:
        if key not in _FEED_PARAMS:
            raise BadParameter(key, f"unknown parameter {key!r} (known: {sorted(_FEED_PARAMS)})")
    for key in _FEED_PARAMS:
        if len(q.getall(key, [])) > 1:
            raise BadParameter(key, f"{key} is given more than once")
    if "after" in q and "consumer" in q:
        raise BadParameter("after", "give either after or consumer, not both")
    after = parse_cursor(q["after"], "after") if "after" in q else START
    consumer = consumer_name(q["consumer"], "consumer") if "consumer" in q else None
    limit = (
        int(_number(q["limit"], "limit", 1, settings.max_limit, True))
        if "limit" in q
        else settings.default_limit
    )
    wait = _number(q["wait"], "wait", 0, settings.max_wait, False) if "wait" in q else 0.0
    filters = store.Filters(
        source=_label(q["source"], "source") if "source" in q else None,
        namespace=_label(q["namespace"], "namespace") if "namespace" in q else None,
    )
    accept = request.headers.get("Accept", "")
    lines = "application/x-ndjson" in accept or "application/jsonl" in accept
    return FeedQuery(after, consumer, limit, wait, filters, lines)


class EventsMetrics:
    def __init__(self, service: EventsService) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "logistica_events_requests",
            "Events service requests by endpoint and status code",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.served = Counter(
            "logistica_events_served", "Events returned to readers", registry=self.registry
        )
        self.stall_rechecks = Counter(
            "logistica_events_stall_rechecks",
            "Looks again at rows held behind an older in-flight transaction",
            registry=self.registry,
        )
        self.maintenance = Counter(
            "logistica_events_maintenance_passes",
            "Partition upkeep passes completed",
            registry=self.registry,
        )
        Gauge(
            "logistica_events_waiting", "Readers in a long poll", registry=self.registry
        ).set_function(lambda: service.waiting)
        Gauge(
            "logistica_events_notifications",
            "NOTIFYs received on the listen connection",
            registry=self.registry,
        ).set_function(lambda: service.listener.notifications)
        Gauge(
            "logistica_events_listening",
            "1 while the LISTEN connection is up",
            registry=self.registry,
        ).set_function(lambda: int(service.listener.connected))


@dataclass
class EventsService:
    db: Database
    settings: EventsSettings = field(default_factory=EventsSettings)
    ready_flag: bool = True
    accepting: bool = True

    def __post_init__(self) -> None:
        self.wakeup = Wakeup()
        self.listener = Listener(self.db.dsn, self.wakeup)
        self.waiting = 0
        self.closing = False
        self.metrics = EventsMetrics(self)
        self._maintenance: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.db.start()
        self.listener.start()
        if self.settings.maintenance_interval > 0:
            self._maintenance = asyncio.create_task(self._maintain(), name="events-maintenance")

    async def _maintain(self) -> None:
        """Partition upkeep now and every ``maintenance_interval`` (one replica at a time)."""
        while True:
            pool = self.db.pool
            if pool is not None and self.db.ready:
                try:
                    async with pool.acquire(timeout=5) as conn:
                        report = await retention.maintain(conn, self.settings.retention)
                    self.metrics.maintenance.inc()
                    if report.created or report.dropped or report.rows_deleted:
                        log.info("partition upkeep", extra=vars(report))
                    await asyncio.sleep(self.settings.maintenance_interval)
                    continue
                except (*_DB_ERRORS, TimeoutError) as exc:
                    log.warning("partition upkeep failed", extra={"error": str(exc)})
            await asyncio.sleep(min(5.0, self.settings.maintenance_interval))

    def release_waiters(self) -> None:
        """Shutdown: every long poll answers now with what it has."""
        self.closing = True
        self.wakeup.fire()

    async def close(self, timeout: float) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            await asyncio.gather(self._maintenance, return_exceptions=True)
        await self.listener.close()
        await self.db.close(timeout)

    @property
    def ready(self) -> bool:
        return self.ready_flag and self.db.ready and self.listener.connected

    # --- helpers ----------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if self.settings.token is None:
            return True
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {self.settings.token}"
        return hmac.compare_digest(given.encode(), expected.encode())

    def _unavailable(self, message: str = "the database is unreachable") -> web.Response:
        return error(503, "database_unavailable", message, retry_after=self.settings.retry_after)

    # --- GET /events ------------------------------------------------------------------------

    async def feed(self, request: web.Request) -> web.Response:
        query = parse_feed_query(request, self.settings)
        pool = self.db.pool
        if pool is None or not self.db.ready:
            return self._unavailable()
        after = query.after
        if query.consumer is not None:
            async with pool.acquire(timeout=5) as conn:
                offset = await store.get_offset(conn, query.consumer)
            after = offset.cursor if offset else START
        events = await self._poll(pool, query, after)
        self.metrics.served.inc(len(events))
        texts = [e.json for e in events]
        if query.lines:
            body, ctype = "".join(t + "\n" for t in texts), "application/x-ndjson"
        else:
            body, ctype = "[" + ",".join(texts) + "]", "application/json"
        last = events[-1].cursor if events else after
        return web.Response(
            body=body.encode(),
            headers={"Content-Type": f"{ctype}; charset=utf-8", "Logistica-Cursor": str(last)},
        )

    async def _poll(self, pool: asyncpg.Pool, query: FeedQuery, after: Cursor) -> list[store.Event]:
        """Read; if nothing is there, wait for a NOTIFY (or, while rows are held behind an
        older transaction, a short recheck) and read again, until ``wait`` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + query.wait
        stall: float | None = None
        self.waiting += 1
        try:
            while True:
                signal = self.wakeup.signal()  # before reading: no wake-up can slip past
                async with pool.acquire(timeout=5) as conn:
                    events = await store.read(conn, after, query.limit, query.filters)
                    if events or self.closing or loop.time() >= deadline:
                        return events
                    held = await store.any_after(conn, after, query.filters)
                timeout = deadline - loop.time()
                if held:
                    stall = _STALL_FIRST if stall is None else min(stall * 2, _STALL_MAX)
                    timeout = min(timeout, stall)
                    self.metrics.stall_rechecks.inc()
                else:
                    stall = None
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(signal.wait(), timeout)
        finally:
            self.waiting -= 1

    # --- consumers --------------------------------------------------------------------------

    async def ack(self, request: web.Request) -> web.Response:
        name = consumer_name(request.match_info["name"])
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadParameter("body", 'the body must be JSON: {"cursor": "..."}') from None
        if not isinstance(body, dict) or not isinstance(body.get("cursor"), str):
            raise BadParameter("cursor", 'the body must be {"cursor": "<cursor from the feed>"}')
        cursor = parse_cursor(body["cursor"], "cursor")
        pool = self.db.pool
        if pool is None or not self.db.ready:
            return self._unavailable()
        async with pool.acquire(timeout=5) as conn:
            if cursor != START and cursor.tx >= await store.horizon(conn):
                raise BadParameter(
                    "cursor", f"cursor {cursor} is ahead of the feed (no event has it yet)"
                )
            offset = await store.ack(conn, name, cursor)
        return web.json_response(offset.to_json())

    async def consumer(self, request: web.Request) -> web.Response:
        name = consumer_name(request.match_info["name"])
        pool = self.db.pool
        if pool is None or not self.db.ready:
            return self._unavailable()
        async with pool.acquire(timeout=5) as conn:
            offset = await store.get_offset(conn, name)
        if offset is None:
            return error(404, "unknown_consumer", f"no consumer named {name!r} (ack creates it)")
        return web.json_response(offset.to_json())

    async def lag(self, request: web.Request) -> web.Response:
        name = consumer_name(request.match_info["name"])
        for key in request.query:
            if key not in {"source", "namespace"}:
                raise BadParameter(key, f"unknown parameter {key!r} (known: namespace, source)")
        filters = store.Filters(
            source=_label(request.query["source"], "source") if "source" in request.query else None,
            namespace=_label(request.query["namespace"], "namespace")
            if "namespace" in request.query
            else None,
        )
        pool = self.db.pool
        if pool is None or not self.db.ready:
            return self._unavailable()
        async with pool.acquire(timeout=5) as conn:
            offset = await store.get_offset(conn, name)
            if offset is None:
                return error(
                    404, "unknown_consumer", f"no consumer named {name!r} (ack creates it)"
                )
            lag = await store.lag(conn, offset.cursor, filters)
        oldest = lag.oldest
        return web.json_response(
            {
                **offset.to_json(),
                "events": lag.events,
                "pending": lag.pending,
                "oldestReceivedAt": oldest.isoformat() if oldest else None,
                "lagSeconds": round(time.time() - oldest.timestamp(), 3) if oldest else 0.0,
            }
        )

    # --- probes -----------------------------------------------------------------------------

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"status": "ready"})
        reasons = unready_reasons(not self.ready_flag, self.db)
        if not self.listener.connected:
            reasons.append("not listening for new events")
        return error(503, "not_ready", ", ".join(reasons) or "starting")

    async def metrics_view(self, _: web.Request) -> web.Response:
        return metrics_response(self.metrics.registry)

    # --- middleware -------------------------------------------------------------------------

    @web.middleware
    async def guard(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Token check, 400 for bad parameters, 503 for database trouble, and counting."""
        endpoint = request.match_info.route.name or "other"
        try:
            if endpoint not in {"healthz", "readyz", "metrics", "openapi"} and not self._authorized(
                request
            ):
                response: web.StreamResponse = error(
                    401, "unauthorized", "send Authorization: Bearer <the events token>"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
            else:
                response = await handler(request)
        except BadParameter as exc:
            response = error(400, "bad_parameter", str(exc), field=exc.field)
        except TimeoutError:  # every pooled connection busy for 5 s: not the database's fault
            response = error(
                503,
                "busy",
                "no database connection was free in time; retry",
                retry_after=self.settings.retry_after,
            )
        except _DB_ERRORS as exc:
            log.warning("database error", extra={"error": str(exc), "endpoint": endpoint})
            if not isinstance(exc, asyncpg.PostgresError) or isinstance(
                exc, asyncpg.PostgresConnectionError
            ):
                self.db.mark_unreachable()
            response = self._unavailable(f"database error: {type(exc).__name__}")
        self.metrics.requests.labels(endpoint, str(response.status)).inc()
        return response


def build_app(service: EventsService) -> web.Application:
    app = web.Application(middlewares=[json_errors, service.guard], client_max_size=64 * 1024)
    app.router.add_get("/events", service.feed, name="events")
    app.router.add_post("/events/consumers/{name}/ack", service.ack, name="ack")
    app.router.add_get("/events/consumers/{name}", service.consumer, name="consumer")
    app.router.add_get("/events/consumers/{name}/lag", service.lag, name="lag")
    app.router.add_get("/healthz", service.healthz, name="healthz")
    app.router.add_get("/readyz", service.readyz, name="readyz")
    app.router.add_get("/metrics", service.metrics_view, name="metrics")
    document = events_document()

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/openapi.json", openapi, name="openapi")
    return app
