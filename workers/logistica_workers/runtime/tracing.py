"""OpenTelemetry traces, exported by OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; otherwise nothing is set up and every hook here
is one ``if`` (no tracer, no middleware, no context lookups).

The SDK reads the standard variables itself: ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_BSP_*`` and ``OTEL_PROPAGATORS`` (W3C ``traceparent`` by default).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Middleware
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("logistica.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
TRACEPARENT_ANNOTATION = "logistica.dev/traceparent"


class _State:
    provider: TracerProvider | None = None


_state = _State()


class TracingConfigError(ValueError):
    """An ``OTEL_*`` variable asks for something this build cannot do."""


def wanted() -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, SDK not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(os.environ.get(v, "").strip() for v in ENDPOINT_VARIABLES)


def enabled() -> bool:
    """Whether ``configure`` installed an exporting tracer provider in this process."""
    return _state.provider is not None


def check_environment() -> None:
    """Raise ``TracingConfigError`` naming the variable when tracing is asked for in a way
    this build does not support (only OTLP over HTTP/protobuf is shipped)."""
    if not wanted():
        return
    for var in PROTOCOL_VARIABLES:
        value = os.environ.get(var, "").strip()
        if value and value != "http/protobuf":
            raise TracingConfigError(
                f"{var}={value!r}: only 'http/protobuf' is supported (OTLP over HTTP; "
                "point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's port 4318)"
            )
    for var in ENDPOINT_VARIABLES:
        value = os.environ.get(var, "").strip()
        if value and not value.startswith(("http://", "https://")):
            raise TracingConfigError(
                f"{var}={value!r}: must be an http:// or https:// URL (e.g. http://collector:4318)"
            )
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter != "otlp":
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={exporter!r}: only 'otlp' (or 'none') is supported"
        )


def configure(service_name: str) -> bool:
    """Install the SDK's tracer provider with a batching OTLP/HTTP exporter when the
    environment asks for it; ``service_name`` is the default for ``service.name``."""
    if _state.provider is not None or not wanted():
        return _state.provider is not None
    check_environment()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # tracers come from this provider, not the process-global one, which can be set only
    # once: a test (or `logistica dev`) may configure, shut down and configure again
    _state.provider = provider
    log.info(
        "tracing enabled",
        extra={"service": resource.attributes.get(SERVICE_NAME), "exporter": "otlp/http"},
    )
    return True


def shutdown(timeout: float) -> None:
    """Export what is buffered, within ``timeout`` seconds (part of the SIGTERM budget)."""
    provider, _state.provider = _state.provider, None
    if provider is None:
        return
    millis = max(1, int(timeout * 1000))
    if not provider.force_flush(millis):
        log.warning("trace flush timed out", extra={"timeout": timeout})
    provider.shutdown()


def tracer(name: str) -> trace.Tracer | None:
    """A tracer when tracing is on, else None (callers skip their spans entirely)."""
    return _state.provider.get_tracer(name) if _state.provider is not None else None


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the span this code runs in, when tracing is on."""
    if _state.provider is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def current_context() -> SpanContext | None:
    """The current span's context (to link to later), when tracing is on."""
    if _state.provider is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    return ctx if ctx.is_valid else None


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, for handing to another process."""
    if _state.provider is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def extract(carrier: Mapping[str, str]) -> Context:
    return propagate.extract(carrier)


def parent_from_traceparent(value: str | None) -> Context | None:
    """The context a ``traceparent`` string names (None when absent or malformed)."""
    if not value:
        return None
    ctx = propagate.extract({"traceparent": value})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


@contextmanager
def _span(
    t: trace.Tracer,
    name: str,
    *,
    kind: SpanKind,
    context: Context | None,
    links: list[Link] | None,
    attributes: dict[str, Any] | None,
) -> Iterator[trace.Span]:
    with t.start_as_current_span(
        name, context=context, kind=kind, links=links, attributes=attributes
    ) as span:
        yield span


SpanScope = AbstractContextManager[trace.Span | None]


def span(
    t: trace.Tracer | None,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    context: Context | None = None,
    links: list[Link] | None = None,
    attributes: dict[str, Any] | None = None,
) -> SpanScope:
    """A current span from ``t``, or a no-op context (yielding None) when ``t`` is None.
    Exceptions are recorded on the span and set its status to error."""
    if t is None:
        return nullcontext()
    return _span(t, name, kind=kind, context=context, links=links, attributes=attributes)


# probes and scrapes: a span every few seconds per pod that says nothing
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def server_middleware(service: str) -> Middleware:
    """aiohttp server spans (``SERVER`` kind, parent from the request's ``traceparent``)."""
    from aiohttp import web  # here: logging imports this module, and --help stays fast

    assert _state.provider is not None, "configure() first"
    t = _state.provider.get_tracer(f"logistica.{service}")

    @web.middleware
    async def server_span(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNTRACED_PATHS:
            return await handler(request)
        info = request.match_info.route.resource
        route = info.canonical if info is not None else request.path
        with t.start_as_current_span(
            f"{request.method} {route}",
            context=propagate.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": request.method,
                "http.route": route,
                "url.path": request.path,
                "server.port": request.url.port or 0,
            },
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                _status(span, exc.status)
                raise
            _status(span, response.status)
            return response

    return server_span


def _status(span: trace.Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def parent_of(ctx: SpanContext) -> Context:
    """A context whose current span is ``ctx`` (to start a child of a span from elsewhere)."""
    return trace.set_span_in_context(trace.NonRecordingSpan(ctx))
