"""Reading a body within its limits: the declared and streamed size, the content type and
encoding, and gzip inflated in a thread with its output bounded (compression bombs)."""

from __future__ import annotations

import asyncio
import zlib
from enum import Enum

from aiohttp import web

from logistica_workers.ingest.refusal import PayloadError


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


def check_content_type(content_type: str, form_allowed: bool = False) -> BodyKind:
    """JSON (``application/json`` or ``application/*+json``), or a form where the provider
    sends them (``form_allowed``); 415 otherwise."""
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct == "application/json" or (ct.startswith("application/") and ct.endswith("+json")):
        return BodyKind.JSON
    if ct == "application/x-www-form-urlencoded" and form_allowed:
        return BodyKind.FORM
    allowed = "application/json"
    if form_allowed:
        allowed += " or application/x-www-form-urlencoded"
    raise PayloadError(
        415, "unsupported_media_type", f"Content-Type must be {allowed}, got {ct or 'none'!r}"
    )
