"""Run an ingest worker inside the test's event loop, and send signed requests to it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from logistica_workers.api import WebhookSourceSpec
from logistica_workers.api.ingest_config import IngestSource
from logistica_workers.ingest.app import IngestSettings
from logistica_workers.ingest.providers import sign
from logistica_workers.ingest.server import run_ingest
from tests.support.wait import wait_for_async


def source(
    name: str, provider: str, keys: dict[str, str] | None = None, **spec: Any
) -> IngestSource:
    return IngestSource(
        name=name,
        namespace="default",
        spec=WebhookSourceSpec.model_validate(
            {"provider": provider, "secretRef": {"name": f"{name}-secret"}, **spec}
        ),
        keys=keys or {"k1": f"{name}-secret-1"},
    )


def signed(
    src: IngestSource,
    doc: Any,
    *,
    key: str | None = None,
    delivery_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(doc).encode()
    secret = key or next(iter((src.keys or {}).values()))
    headers = sign(
        src.spec.provider,
        secret,
        body,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        delivery_id=delivery_id,
        hmac_spec=src.spec.hmac,
    )
    return body, headers


@dataclass
class RunningWorker:
    url: str
    stop: asyncio.Event
    task: asyncio.Task[int]


@asynccontextmanager
async def running_worker(
    sources: list[IngestSource], dsn: str, settings: IngestSettings | None = None
) -> AsyncIterator[RunningWorker]:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_ingest(sources, dsn, "127.0.0.1", 0, settings, started=port.set_result, stop=stop)
    )
    bound = await asyncio.wait_for(port, 10)
    worker = RunningWorker(f"http://127.0.0.1:{bound}", stop, task)
    await wait_ready(worker.url, 15)
    try:
        yield worker
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def wait_ready(url: str, timeout: float, expect: int = 200) -> None:
    """Poll /readyz until it answers ``expect`` or the deadline passes."""
    async with aiohttp.ClientSession() as http:

        async def answers() -> bool:
            async with http.get(f"{url}/readyz") as resp:
                return resp.status == expect

        await wait_for_async(answers, timeout, f"/readyz to answer {expect}")
