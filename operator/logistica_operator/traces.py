"""The operator's part of a trace: reconcile spans and a RoutingJob's trace context.

A RoutingJob carries its trace in the ``logistica.dev/traceparent`` annotation: set by the
client that created it (to join its own trace) or, when absent, by the operator's first
reconcile. Every later reconcile span is its child, and the solver Job gets it as the
``TRACEPARENT`` environment variable, so one trace reads admission -> Job -> solve.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context

from logistica_workers.runtime import tracing

ANNOTATION = tracing.TRACEPARENT_ANNOTATION


def annotation(body: Any) -> str | None:
    """The object's ``logistica.dev/traceparent`` annotation, if any."""
    try:
        value = ((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    except AttributeError:
        return None
    return value if isinstance(value, str) else None


def parent(body: Any) -> Context | None:
    """The context to parent a span about ``body`` on (None: a new trace), when tracing."""
    if not tracing.enabled():
        return None
    return tracing.parent_from_traceparent(annotation(body))


def attributes(kind: str, handler: str, body: Any) -> dict[str, Any] | None:
    if not tracing.enabled():
        return None
    meta = (body.get("metadata") or {}) if hasattr(body, "get") else {}
    return {
        "k8s.object.kind": kind,
        "logistica.handler": handler,
        "k8s.namespace.name": str(meta.get("namespace", "")),
        "k8s.object.name": str(meta.get("name", "")),
    }


def remember(kind: str, body: Any, patch: Any) -> None:
    """Write the current span's context on a RoutingJob that has none yet (one patch along
    with the handler's own), so later spans and the solver Job join this trace."""
    if kind != "RoutingJob" or patch is None or annotation(body) is not None:
        return
    value = tracing.traceparent()
    if value is not None:
        patch.metadata.annotations[ANNOTATION] = value
