"""``logistica route``: ``POST /route`` answers small problems synchronously.

Solves run in engine processes (never on the event loop); at most ``max_concurrent`` at once
(503 + Retry-After beyond); identical concurrent requests share one solve; the time limit has a
small default and a configurable cap. On SIGTERM, running solves return their best solution.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from pydantic import ValidationError

from logistica_workers.api import Problem, Solution, describe_errors
from logistica_workers.api.openapi import route_document
from logistica_workers.routing import exact, replan
from logistica_workers.routing.engines import EngineConfig
from logistica_workers.routing.pool import POOL_MAX_STOPS, PooledSolve, WarmPool
from logistica_workers.routing.portfolio import Portfolio, default_configs, warm_up
from logistica_workers.runtime.errors import error_response as _error
from logistica_workers.runtime.errors import json_errors
from logistica_workers.runtime.http import metrics_response, serve
from logistica_workers.runtime.settings import env_int, env_number
from logistica_workers.runtime.shutdown import ShutdownClock

log = logging.getLogger("logistica.route")


@dataclass
class RouteSettings:
    max_concurrent: int = field(
        default_factory=lambda: env_int(
            "LOGISTICA_ROUTE_MAX_CONCURRENT", os.cpu_count() or 1, low=1, high=1024
        )
    )
    default_time_limit: float = field(
        default_factory=lambda: env_number(
            "LOGISTICA_ROUTE_DEFAULT_TIME_LIMIT", 2.0, low=0.1, high=3600
        )
    )
    max_time_limit: float = field(
        default_factory=lambda: env_number(
            "LOGISTICA_ROUTE_MAX_TIME_LIMIT", 10.0, low=0.1, high=3600
        )
    )
    max_stops: int = field(
        default_factory=lambda: env_int("LOGISTICA_ROUTE_MAX_STOPS", 500, low=1, high=100_000)
    )
    small_max_stops: int = field(
        default_factory=lambda: env_int(
            "LOGISTICA_ROUTE_SMALL_MAX_STOPS", POOL_MAX_STOPS, low=0, high=100_000
        )
    )
    max_body_bytes: int = 4 * 1024 * 1024
    engines_per_solve: int = 1
    retry_after: int = 2


class RouteService:
    def __init__(self, settings: RouteSettings | None = None) -> None:
        self.settings = settings or RouteSettings()
        self.ready_flag = True
        self.accepting = True
        self.active = 0
        self.inflight: dict[str, asyncio.Future[Solution]] = {}
        self.portfolios: set[Portfolio | PooledSolve] = set()
        # warm engine processes for small problems (started by run_route)
        self.pool = WarmPool(self.settings.max_concurrent)
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "logistica_route_requests", "Route requests by code", ["code"], registry=r
        )
        self.solve_seconds = Histogram(
            "logistica_route_solve_seconds",
            "Wall time per solve",
            registry=r,
            buckets=(0.05, 0.1, 0.3, 0.5, 1, 2, 3, 5, 8, 13, 20, 30),
        )
        self.shared = Counter(
            "logistica_route_shared_solves",
            "Requests answered by another request's identical solve",
            registry=r,
        )
        Gauge("logistica_route_active_solves", "Solves running now", registry=r).set_function(
            lambda: float(self.active)
        )

    def stop_all(self) -> None:
        for p in list(self.portfolios):
            p.stop()

    async def route(self, request: web.Request) -> web.Response:
        response = await self._route(request)
        self.requests.labels(str(response.status)).inc()
        return response

    async def _route(self, request: web.Request) -> web.Response:
        s = self.settings
        if not self.accepting:
            return _error(
                503, "draining", "the service is shutting down", retry_after=s.retry_after
            )
        ct = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ct != "application/json":
            return _error(415, "unsupported_media_type", "Content-Type must be application/json")
        if request.content_length is not None and request.content_length > s.max_body_bytes:
            return _error(413, "too_large", f"body exceeds {s.max_body_bytes} bytes")
        try:
            body = await request.content.read(s.max_body_bytes + 1)
        except ValueError:
            body = b""
        if len(body) > s.max_body_bytes:
            return _error(413, "too_large", f"body exceeds {s.max_body_bytes} bytes")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            return _error(400, "bad_json", f"body is not valid JSON: {exc}")
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("stops"), list)
            and len(doc["stops"]) > s.max_stops
        ):
            return _error(
                413,
                "problem_too_large",
                f"stops: {len(doc['stops'])} stops exceed this service's limit of "
                f"{s.max_stops}; use a RoutingJob",
                field="stops",
            )
        try:
            problem = Problem.model_validate(doc)
        except ValidationError as exc:
            failure = describe_errors(exc)
            return _error(
                422,
                "invalid_problem",
                str(failure),
                errors=[{"field": f, "message": m} for f, m in failure.errors],
            )
        asked = (doc.get("options") or {}).get("timeLimitSeconds")
        limit = min(float(asked) if asked is not None else s.default_time_limit, s.max_time_limit)
        key = hashlib.sha256(
            (problem.model_dump_json(by_alias=True) + f"|{limit}").encode()
        ).hexdigest()
        shared = self.inflight.get(key)
        if shared is not None:
            self.shared.inc()
            solution = await asyncio.shield(shared)
        else:
            if self.active >= s.max_concurrent:
                return _error(
                    503,
                    "busy",
                    f"{self.active} solves running (limit {s.max_concurrent})",
                    retry_after=s.retry_after,
                )
            task = asyncio.ensure_future(self._solve(problem, limit))
            self.inflight[key] = task
            task.add_done_callback(lambda _t: self.inflight.pop(key, None))
            try:
                solution = await asyncio.shield(task)
            except RuntimeError as exc:
                return _error(500, "solver_failed", str(exc))
        headers = {"X-Time-Limit-Seconds": f"{limit:g}"}
        return web.json_response(solution.model_dump(mode="json", by_alias=True), headers=headers)

    async def _solve(self, problem: Problem, limit: float) -> Solution:
        self.active += 1
        t0 = time.monotonic()
        try:
            inst, rp = replan.prepare(problem, limit)
            warm = rp.warm_start(inst) if rp is not None else None
            # tiny problems are solved exactly by the portfolio, in this thread; small ones in
            # a warm pool worker; the rest (and warm starts) by the engine portfolio
            # (no stops left to plan, e.g. all committed: the portfolio answers at once)
            small = 0 < inst.n_stops <= self.settings.small_max_stops
            if small and warm is None and not exact.small_enough(inst):
                pooled = PooledSolve(self.pool, inst)
                self.portfolios.add(pooled)
                try:
                    answer = await asyncio.to_thread(pooled.run)
                finally:
                    self.portfolios.discard(pooled)
                if answer is not None:
                    return rp.finish(answer) if rp is not None else answer
            configs: list[EngineConfig] = default_configs(inst, self.settings.engines_per_solve)
            portfolio = Portfolio(inst, configs, initial=warm)
            self.portfolios.add(portfolio)
            try:
                solution = await asyncio.to_thread(portfolio.run)
            finally:
                self.portfolios.discard(portfolio)
            return rp.finish(solution) if rp is not None else solution
        finally:
            self.active -= 1
            self.solve_seconds.observe(time.monotonic() - t0)

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        if self.ready_flag:
            return web.json_response(
                {
                    "status": "ready",
                    "activeSolves": self.active,
                    "solutionsFound": sum(p.solutions for p in list(self.portfolios)),
                }
            )
        return _error(503, "not_ready", "draining")

    async def metrics(self, _: web.Request) -> web.Response:
        return metrics_response(self.registry)


def build_app(service: RouteService) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/route", service.route)
    app.router.add_get("/healthz", service.healthz)
    app.router.add_get("/readyz", service.readyz)
    app.router.add_get("/metrics", service.metrics)
    document = route_document()

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/openapi.json", openapi)
    return app


async def run_route(
    host: str,
    port: int,
    settings: RouteSettings | None = None,
    started: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    service = RouteService(settings)
    warm_up()  # engines fork from a server with OR-Tools and PyVRP already imported
    await asyncio.to_thread(service.pool.start)

    async def flush(clock: ShutdownClock) -> None:
        with clock.phase("solves-stopped"):
            service.stop_all()

    try:
        return await serve(
            build_app(service),
            service,
            host,
            port,
            flush,
            started,
            stop,
            before_drain=service.stop_all,
        )
    finally:
        service.pool.close()
