"""Body rules: JSON object or array, bounded size (checked while reading) and nesting depth,
storable in jsonb (no NUL characters). Also the idempotency key and the stored headers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from logistica_workers.api.webhook_source import IdempotencyKey, Provider

MAX_DEPTH = 64


class PayloadError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; 413 as soon as the declared or streamed size passes it."""
    if request.content_length is not None:
        if request.content_length > limit:
            raise PayloadError(
                413, "too_large", f"body of {request.content_length} bytes exceeds {limit}"
            )
        return await request.read()  # declared and within the limit: one read
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise PayloadError(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_content_type(content_type: str) -> None:
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct != "application/json" and not (ct.startswith("application/") and ct.endswith("+json")):
        raise PayloadError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {ct or 'none'!r}",
        )


def parse_json(body: bytes) -> Any:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(400, "bad_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict | list):
        raise PayloadError(400, "bad_json", "body must be a JSON object or array")
    # walking the tree is needed only when the text could break a rule: cheap byte checks first
    if b"\\u0000" in body or body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        _check_tree(doc)
    return doc


def _check_tree(doc: Any) -> None:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError(400, "bad_json", f"JSON nesting deeper than {MAX_DEPTH}")
        if isinstance(node, dict):
            for k, v in node.items():
                if "\x00" in k:
                    raise PayloadError(400, "bad_json", "JSON keys may not contain \\u0000")
                stack.append((v, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str) and "\x00" in node:
            raise PayloadError(400, "bad_json", "JSON strings may not contain \\u0000 (jsonb)")


_DEFAULT_ID_HEADER = {
    Provider.GITHUB: "X-GitHub-Delivery",
    Provider.SHOPIFY: "X-Shopify-Webhook-Id",
}


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
    if isinstance(value, str) and value:
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
            raise PayloadError(400, "missing_event_id", f"no idempotency key at {where}")
        return value
    value = None
    if provider in _DEFAULT_ID_HEADER:
        value = _id_text(headers.get(_DEFAULT_ID_HEADER[provider]))
    elif provider is Provider.STANDARD:
        value = _id_text(headers.get("webhook-id") or headers.get("svix-id"))
    elif provider is Provider.STRIPE:
        value = _id_text(resolve_pointer(doc, "/id"))
    elif provider is Provider.SLACK:
        value = _id_text(resolve_pointer(doc, "/event_id"))
    return value or "sha256:" + hashlib.sha256(body).hexdigest()


STORED_HEADERS = (
    "content-type",
    "user-agent",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-slack-request-timestamp",
    "webhook-id",
    "webhook-timestamp",
    "svix-id",
    "svix-timestamp",
)


def stored_headers(headers: Mapping[str, str], extra: str | None = None) -> dict[str, str]:
    """Only allow-listed headers are kept: never signatures, cookies or authorization."""
    names = (*STORED_HEADERS, extra.lower()) if extra else STORED_HEADERS
    return {n: headers[n] for n in names if n in headers}
