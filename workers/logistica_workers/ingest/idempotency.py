"""The idempotency key of an event: a configured header or JSON pointer, else the provider's
delivery id, else the SHA-256 of the body."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from logistica_workers.api.webhook_source import IdempotencyKey, Provider
from logistica_workers.ingest.providers import SCHEMES
from logistica_workers.ingest.refusal import PayloadError


def resolve_pointer(doc: Any, pointer: str) -> Any:
    node = doc
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _id_text(value: Any) -> str | None:
    """A string, or an integer that JSON parsing kept exact (a float never: two big ids that
    round to the same double would be one event)."""
    if isinstance(value, str) and value:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a header's bytes that are not UTF-8
                raise PayloadError(
                    400, "bad_event_id", "the idempotency key is not valid UTF-8"
                ) from None
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def event_id(
    provider: Provider,
    key: IdempotencyKey | None,
    headers: Mapping[str, str],
    doc: Any,
    body: bytes,
) -> str:
    """The delivery id that makes retries idempotent.

    A configured key must be present (400 otherwise). Without one, the provider's delivery id is
    used; where a provider sends none, the SHA-256 of the body stands in, so an identical
    redelivery is still a duplicate.
    """
    if key is not None:
        if key.header:
            value = _id_text(headers.get(key.header))
            where = f"header {key.header}"
        else:
            assert key.json_pointer is not None
            value = _id_text(resolve_pointer(doc, key.json_pointer))
            where = f"JSON pointer {key.json_pointer}"
        if value is None:
            raise PayloadError(
                400,
                "missing_event_id",
                f"no idempotency key at {where} (a non-empty string or a 64-bit integer)",
            )
        return value
    value = _id_text(SCHEMES[provider].delivery_id(headers, doc))
    return value or "sha256:" + hashlib.sha256(body).hexdigest()
