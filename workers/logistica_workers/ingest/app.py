"""The aiohttp application of the ingest worker: ``POST /ingest/{source}`` and the probes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from logistica_workers.api.ingest_config import IngestSource
from logistica_workers.api.openapi import ingest_document
from logistica_workers.api.webhook_source import Provider, WebhookSourceSpec
from logistica_workers.db.pool import Database
from logistica_workers.ingest.body import (
    BodyKind,
    check_content_type,
    content_encoding,
    inflate,
    read_body,
)
from logistica_workers.ingest.form import parse_form
from logistica_workers.ingest.idempotency import event_id as idempotency_key
from logistica_workers.ingest.keyring import KeyRing
from logistica_workers.ingest.metrics import IngestMetrics
from logistica_workers.ingest.providers import SCHEMES, stored_headers, verify
from logistica_workers.ingest.refusal import PayloadError
from logistica_workers.ingest.signatures import SignatureError
from logistica_workers.ingest.strict_json import parse_json
from logistica_workers.ingest.writer import (
    Duplicate,
    GroupCommitWriter,
    Outcome,
    PendingEvent,
    QueueFull,
    Replay,
    StoreUnavailable,
)
from logistica_workers.runtime import tracing
from logistica_workers.runtime.connections import ConnectionLimits
from logistica_workers.runtime.errors import error_response as error
from logistica_workers.runtime.errors import json_errors
from logistica_workers.runtime.http import SHUTDOWN, metrics_response, unready_reasons
from logistica_workers.runtime.settings import env_int, env_number

log = logging.getLogger("logistica.ingest")


@dataclass
class IngestSettings:
    request_timeout: float = 10.0
    retry_after: int = 1
    max_rows: int = 256
    max_wait: float = 0.002
    max_queue: int = 4096
    writers: int = 3
    pool_size: int = 8
    key_reload_interval: float = 1.0
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)

    @classmethod
    def from_env(cls) -> IngestSettings:
        """The ``LOGISTICA_INGEST_*`` variables; ValueError names the one that is wrong."""
        writers = env_int("LOGISTICA_INGEST_WRITERS", cls.writers, low=1, high=64)
        settings = cls(
            request_timeout=env_number(
                "LOGISTICA_INGEST_REQUEST_TIMEOUT", cls.request_timeout, low=0.1, high=3600
            ),
            max_rows=env_int("LOGISTICA_INGEST_BATCH_ROWS", cls.max_rows, low=1, high=10_000),
            max_wait=env_number(
                "LOGISTICA_INGEST_BATCH_WAIT_MS", cls.max_wait * 1000, low=0, high=1000
            )
            / 1000,
            max_queue=env_int("LOGISTICA_INGEST_QUEUE", cls.max_queue, low=1, high=1_000_000),
            writers=writers,
            # one connection per writer, one for the readiness monitor
            pool_size=env_int(
                "LOGISTICA_INGEST_POOL_SIZE", max(cls.pool_size, writers + 1), low=2, high=1000
            ),
            limits=ConnectionLimits.from_env("LOGISTICA_INGEST_"),
        )
        if settings.pool_size < writers + 1:
            raise ValueError(
                f"LOGISTICA_INGEST_POOL_SIZE must be at least LOGISTICA_INGEST_WRITERS + 1 "
                f"({writers + 1}), got {settings.pool_size}"
            )
        return settings


@dataclass(frozen=True)
class Received:
    """A verified, parsed request body and its idempotency key."""

    body: bytes  # inflated
    doc: Any
    form: bool
    event_id: str

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class IngestWorker:
    sources: list[IngestSource]
    db: Database
    settings: IngestSettings = field(default_factory=IngestSettings)
    ready_flag: bool = True  # false from the first moment of a shutdown
    accepting: bool = True  # false once the listener closed (requests already read are served)
    drain_deadline: float | None = None  # loop time by which the drain ends

    def __post_init__(self) -> None:
        self.keyrings = {s.name: KeyRing(s) for s in self.sources}
        self.writer = GroupCommitWriter(
            self.db,
            max_rows=self.settings.max_rows,
            max_wait=self.settings.max_wait,
            max_queue=self.settings.max_queue,
            writers=self.settings.writers,
            on_batch=self._observe_batch,
        )
        self.metrics = IngestMetrics(lambda: self.writer.depth, self.db.stats)
        self._tasks: list[asyncio.Task[None]] = []
        self._body_reads: set[asyncio.Timeout] = set()

    def start_drain(self, deadline: float) -> None:
        """A body still arriving gets at most the drain budget, not the request deadline."""
        self.drain_deadline = deadline
        for scope in self._body_reads:
            when = scope.when()
            if when is None or when > deadline:
                scope.reschedule(deadline)

    async def resources(self, app: web.Application) -> AsyncIterator[None]:
        """The worker's resources (the app's ``cleanup_ctx``): the database pool, the group-commit
        writer and the key watchers start with the app; once the connections are drained, the
        writer commits what is queued, then the pool closes, within the shutdown budget."""
        self.db.start()
        self.writer.start()
        self._tasks = [
            asyncio.create_task(k.watch(self.settings.key_reload_interval))
            for k in self.keyrings.values()
            if k.directory is not None
        ]
        yield
        clock = app[SHUTDOWN].budget()
        with clock.phase("flush"):
            await self.writer.close(clock.remaining() * 0.8)
        with clock.phase("close-pool"):
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.db.close(max(0.1, clock.remaining()))

    def _observe_batch(self, rows: int) -> None:
        self.metrics.batch_rows.observe(rows)

    @property
    def ready(self) -> bool:
        return self.ready_flag and self.db.ready

    # --- handlers -------------------------------------------------------------------------

    async def ingest(self, request: web.Request) -> web.Response:
        name = request.match_info["source"]
        started = time.perf_counter()
        keyring = self.keyrings.get(name)
        try:
            response = await self._ingest(request, name, keyring)
        except TimeoutError:
            response = error(
                504,
                "timeout",
                "the event was not committed within "
                f"{self.settings.request_timeout}s; retry (duplicates are detected)",
            )
        self.metrics.observe_request(
            name if keyring else "_unknown", response.status, time.perf_counter() - started
        )
        return response

    async def _ingest(
        self, request: web.Request, name: str, keyring: KeyRing | None
    ) -> web.Response:
        if keyring is None:
            return error(404, "unknown_source", f"no webhook source named {name!r}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout
        try:
            received = await self._receive(request, keyring, deadline)
        except PayloadError as exc:
            return error(exc.status, exc.code, str(exc))
        except SignatureError as exc:
            return error(401, "bad_signature", str(exc))
        if isinstance(received, web.Response):
            return received
        if not self.db.ready:
            return error(
                503,
                "database_unavailable",
                "the database is unreachable",
                retry_after=self.settings.retry_after,
            )
        spec = keyring.source.spec
        extra = spec.idempotency_key.header if spec.idempotency_key else None
        headers = stored_headers(spec.provider, request.headers, extra)
        event = PendingEvent(
            namespace=keyring.source.namespace,
            source=name,
            event_id=received.event_id,
            headers_json=orjson.dumps(headers).decode(),
            payload_json=orjson.dumps(received.doc).decode() if received.form else received.text,
            future=loop.create_future(),
            span_context=tracing.current_context(),
        )
        if spec.replay_window_seconds:
            event.replay_window = float(spec.replay_window_seconds)
            event.body_digest = hashlib.sha256(received.body).digest()
        return await self._store(event, deadline)

    async def _receive(
        self, request: web.Request, keyring: KeyRing, deadline: float
    ) -> Received | web.Response:
        """The body read within its limits, verified, parsed and keyed; or the answer that
        ends the request early (draining, keys unusable, Slack's endpoint check)."""
        spec = keyring.source.spec
        kind = check_content_type(
            request.headers.get("Content-Type", ""), SCHEMES[spec.provider].form_bodies
        )
        gzipped = content_encoding(
            request.headers.get("Content-Encoding", ""), spec.gzip is not None
        )
        wire = await self._read_wire(request, spec.max_body_bytes, deadline)
        if wire is None:
            return error(
                503,
                "draining",
                "the worker is shutting down and the body did not arrive in time",
                retry_after=self.settings.retry_after,
                close=True,
            )
        if keyring.error:
            return error(
                503,
                "keys_unavailable",
                f"the source's signing keys are unusable: {keyring.error}",
                retry_after=self.settings.retry_after,
            )
        form = kind is BodyKind.FORM
        compressed_signed = (
            gzipped and spec.gzip is not None and spec.gzip.signed_body == "compressed"
        )
        if compressed_signed:
            self._verify(spec, request, wire, keyring, form)
        body = await inflate(wire, spec.max_body_bytes) if gzipped else wire
        if not compressed_signed:
            self._verify(spec, request, body, keyring, form)
        doc: Any = parse_form(body) if form else parse_json(body)
        if spec.provider is Provider.SLACK and _is_url_verification(doc):
            return _challenge(doc)
        key = idempotency_key(spec.provider, spec.idempotency_key, request.headers, doc, body)
        return Received(body, doc, form, key)

    async def _store(self, event: PendingEvent, deadline: float) -> web.Response:
        """Queue ``event`` for the group-commit writer and answer with what became of it."""
        # the deadline fails the future itself: one timer, cheaper than a timeout scope, and a
        # writer skips an event whose future is done, so a request answered 504 while still
        # queued is never written
        timer = asyncio.get_running_loop().call_at(deadline, _expire, event.future)
        try:
            outcome = await self.writer.submit(event)
        except QueueFull:
            return error(
                503, "overloaded", "the write queue is full", retry_after=self.settings.retry_after
            )
        except StoreUnavailable as exc:
            return error(
                503, "database_unavailable", str(exc), retry_after=self.settings.retry_after
            )
        finally:
            timer.cancel()
        if isinstance(outcome, Duplicate):
            return _answer(200, "duplicate", outcome.id, event.event_id)
        if isinstance(outcome, Replay):
            return _answer(200, "replay", outcome.id, event.event_id)
        return _answer(202, "stored", outcome.id, event.event_id)

    async def _read_wire(self, request: web.Request, limit: int, deadline: float) -> bytes | None:
        """The body as sent, bounded by ``limit``. One still arriving is also bounded by the
        request deadline or the drain's if sooner: None when the drain ended before it came."""
        if request.content.is_eof():  # the usual case: the whole body came with the head
            return await read_body(request, limit)
        if self.drain_deadline is not None:
            deadline = min(deadline, self.drain_deadline)
        scope = asyncio.timeout_at(deadline)
        self._body_reads.add(scope)
        try:
            async with scope:
                return await read_body(request, limit)
        except TimeoutError:
            if self.drain_deadline is not None:
                return None
            raise
        finally:
            self._body_reads.discard(scope)

    def _verify(
        self,
        spec: WebhookSourceSpec,
        request: web.Request,
        signed: bytes,
        keyring: KeyRing,
        form: bool,
    ) -> None:
        verify(
            spec.provider,
            request.headers,
            signed,
            keyring.keys,
            now=time.time(),
            tolerance=spec.tolerance_seconds,
            hmac_spec=spec.hmac,
            url=sender_url(request, spec.public_url) if spec.provider is Provider.TWILIO else "",
            form=form,
        )

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"status": "ready"})
        reasons = unready_reasons(not self.ready_flag, self.db)
        return error(503, "not_ready", ", ".join(reasons) or "starting")

    async def metrics_view(self, _: web.Request) -> web.Response:
        return metrics_response(self.metrics.registry)


def sender_url(request: web.Request, public_url: str | None) -> str:
    """The URL the sender used (what Twilio signs). Behind a Service or an ingress the worker
    sees another host, scheme and maybe path: ``spec.publicUrl`` names it, else the first
    ``X-Forwarded-Proto``/``X-Forwarded-Host`` values (set by the ingress), else the request's."""
    raw = request.raw_path
    query = raw[raw.index("?") :] if "?" in raw else ""
    if public_url:
        return public_url + query
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    return f"{proto or request.scheme}://{host or request.host}{raw}"


def _is_url_verification(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") == "url_verification"


def _challenge(doc: dict[str, Any]) -> web.Response:
    """Slack's endpoint check: echo the challenge (the signature was checked already)."""
    challenge = doc.get("challenge")
    if not isinstance(challenge, str) or not challenge:
        return error(400, "bad_challenge", "url_verification without a challenge string")
    return web.json_response({"challenge": challenge})


def _expire(future: asyncio.Future[Outcome]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _answer(status: int, word: str, row_id: int | None, event_id: str) -> web.Response:
    """The 2xx body, formatted directly: the hottest line of the worker."""
    body = '{"status":"%s","id":%s,"eventId":%s}' % (  # noqa: UP031 - faster than json.dumps
        word,
        "null" if row_id is None else row_id,
        orjson.dumps(event_id).decode(),
    )
    return web.Response(body=body.encode(), status=status, headers=_JSON)


_JSON = {"Content-Type": "application/json; charset=utf-8"}


def build_app(worker: IngestWorker) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024 * 1024 + 1)
    app.cleanup_ctx.append(worker.resources)
    app.router.add_post("/ingest/{source}", worker.ingest)
    app.router.add_get("/healthz", worker.healthz)
    app.router.add_get("/readyz", worker.readyz)
    app.router.add_get("/metrics", worker.metrics_view)
    document = ingest_document()

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/openapi.json", openapi)
    return app
