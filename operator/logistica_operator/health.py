"""The operator's health port: ``/healthz`` (200 once kopf's startup handlers are done, 503
before) and ``/metrics`` (Prometheus text of ``metrics.REGISTRY``)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from logistica_operator import metrics


def health_app(ready: asyncio.Event) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        if not ready.is_set():
            return web.json_response({"status": "starting"}, status=503)
        return web.json_response({"status": "ok"})

    async def metrics_text(_: web.Request) -> web.Response:
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
