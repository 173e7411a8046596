"""Body rules: JSON object or array, bounded size (checked while reading) and nesting depth,
storable in jsonb (strict JSON: no NaN/Infinity, BOM, lone surrogates or NUL characters).
Form-encoded bodies (slack, twilio) become JSON objects. Also the idempotency key and the
stored headers."""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

import orjson
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


class BodyKind(Enum):
    JSON = "json"
    FORM = "form"


FORM_PROVIDERS = frozenset({Provider.SLACK, Provider.TWILIO})


def content_encoding(header: str, gzip_allowed: bool) -> bool:
    """True for a gzip body the source accepts, False for an uncompressed one; 415 otherwise."""
    coding = header.strip().lower()
    if coding in ("", "identity"):
        return False
    if coding in ("gzip", "x-gzip") and gzip_allowed:
        return True
    hint = " (enable it with spec.gzip)" if coding in ("gzip", "x-gzip") else ""
    raise PayloadError(
        415,
        "unsupported_content_encoding",
        f"Content-Encoding {header.strip()!r} is not accepted by this source{hint}",
    )


_INFLATE_STEP = 256 * 1024


def _inflate(data: bytes, limit: int) -> bytes:
    """gzip ``data`` inflated; 413 once the output passes ``limit`` (never inflates further)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    size = 0
    pending = data
    try:
        while True:
            chunk = d.decompress(pending, _INFLATE_STEP)
            size += len(chunk)
            if size > limit:
                raise PayloadError(413, "too_large", f"inflated body exceeds {limit} bytes")
            out.append(chunk)
            pending = d.unconsumed_tail
            if d.eof:
                break
            if not pending and not chunk:
                raise PayloadError(400, "bad_gzip", "gzip body is truncated")
    except zlib.error:
        raise PayloadError(400, "bad_gzip", "body is not valid gzip") from None
    if d.unused_data:
        raise PayloadError(400, "bad_gzip", "data after the end of the gzip stream")
    return b"".join(out)


async def inflate(data: bytes, limit: int) -> bytes:
    """Inflate in a thread (zlib releases the GIL): the event loop never waits on it, and the
    output is bounded by ``limit`` however well the input compresses."""
    return await asyncio.get_running_loop().run_in_executor(None, _inflate, data, limit)


def check_content_type(content_type: str, provider: Provider = Provider.GITHUB) -> BodyKind:
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct == "application/json" or (ct.startswith("application/") and ct.endswith("+json")):
        return BodyKind.JSON
    if ct == "application/x-www-form-urlencoded" and provider in FORM_PROVIDERS:
        return BodyKind.FORM
    allowed = "application/json"
    if provider in FORM_PROVIDERS:
        allowed += " or application/x-www-form-urlencoded"
    raise PayloadError(
        415, "unsupported_media_type", f"Content-Type must be {allowed}, got {ct or 'none'!r}"
    )


def parse_json(body: bytes) -> Any:
    """A JSON object or array that jsonb can store exactly as sent; 400 naming the problem."""
    try:
        doc = orjson.loads(body)  # rejects NaN, Infinity, a BOM, lone surrogates, bad UTF-8
    except orjson.JSONDecodeError as exc:
        raise PayloadError(400, "bad_json", _json_problem(exc)) from None
    if not isinstance(doc, dict | list):
        raise PayloadError(400, "bad_json", "body must be a JSON object or array")
    # walking the tree is needed only when the text could break a rule: cheap byte checks first
    if b"\\u0000" in body or body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        _check_tree(doc)
    return doc


def _json_problem(exc: orjson.JSONDecodeError) -> str:
    text = str(exc)
    if text.startswith("depth limit exceeded"):
        return f"JSON nesting deeper than {MAX_DEPTH}"
    where = f" at line {exc.lineno} column {exc.colno}"
    if "infinity" in text:
        return "body is not valid JSON: a number is out of range" + where
    # orjson's messages describe the JSON, never the interpreter ("unexpected character",
    # "UTF-8 byte order mark (BOM) is not supported", "no low surrogate in string")
    return f"body is not valid JSON: {text}"


MAX_FORM_FIELDS = 1000


def parse_form(body: bytes) -> dict[str, Any]:
    """``a=1&b=2`` as ``{"a": "1", "b": "2"}`` (a repeated name: a list); ``payload`` (Slack
    interactivity) holds JSON and is stored parsed."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise PayloadError(400, "bad_form", "form body is not valid UTF-8") from None
    except ValueError as exc:
        problem = (
            f"more than {MAX_FORM_FIELDS} fields"
            if "max_num_fields" in str(exc) or "Max number" in str(exc)
            else "a field is not name=value"
        )
        raise PayloadError(400, "bad_form", f"form body is not URL-encoded: {problem}") from None
    doc: dict[str, Any] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise PayloadError(400, "bad_form", "form fields may not contain NUL (jsonb)")
        if name in doc:
            prior = doc[name]
            doc[name] = [*prior, value] if isinstance(prior, list) else [prior, value]
        else:
            doc[name] = value
    if isinstance(doc.get("payload"), str):
        try:
            doc["payload"] = parse_json(doc["payload"].encode())
        except PayloadError as exc:
            raise PayloadError(400, "bad_form", f"form field payload: {exc}") from None
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
    Provider.TWILIO: "I-Twilio-Idempotency-Token",
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
    "i-twilio-idempotency-token",
    "content-encoding",
)


def stored_headers(headers: Mapping[str, str], extra: str | None = None) -> dict[str, str]:
    """Only allow-listed headers are kept: never signatures, cookies or authorization."""
    names = (*STORED_HEADERS, extra.lower()) if extra else STORED_HEADERS
    return {n: _text(headers[n]) for n in names if n in headers}


def _text(value: str) -> str:
    """Header bytes that are not UTF-8 (kept by aiohttp as surrogate escapes) as U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
