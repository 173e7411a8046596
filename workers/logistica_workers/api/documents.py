"""A JSON document kept under a ConfigMap key (``problemFrom``, ``matrixFrom``): text under
``data``, or bytes under ``binaryData`` — gzip-compressed or not. A ConfigMap holds at most
1 MiB; gzip shrinks a road matrix about 2.8x. The operator reads the key from
the API, the solver from the file the kubelet mounts: both through ``document_text``."""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from typing import Any

MAX_DOCUMENT_BYTES = 64 << 20  # once decompressed: a 5,001-location matrix pair fits
GZIP_MAGIC = b"\x1f\x8b"


class DocumentError(ValueError):
    """The key's bytes are not a readable document; the message says why."""


def document_text(raw: bytes) -> str:
    """The document's text: gunzipped (at most ``MAX_DOCUMENT_BYTES``) if it is gzip."""
    if raw[:2] == GZIP_MAGIC:
        inflater = zlib.decompressobj(wbits=31)  # gzip header and trailer
        try:
            out = inflater.decompress(raw, MAX_DOCUMENT_BYTES + 1)
        except zlib.error as exc:
            raise DocumentError(f"not valid gzip: {exc}") from None
        if len(out) > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"more than {MAX_DOCUMENT_BYTES >> 20} MiB once decompressed")
        if not inflater.eof:
            raise DocumentError("not valid gzip: the stream is cut short")
        raw = out
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"neither gzip nor UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def configmap_document(configmap: Mapping[str, Any], key: str) -> str | None:
    """The document under ``key`` (``data`` first, then ``binaryData``), None if absent."""
    text = (configmap.get("data") or {}).get(key)
    if text is not None:
        return str(text)
    encoded = (configmap.get("binaryData") or {}).get(key)
    if encoded is None:
        return None
    try:
        raw = base64.b64decode(str(encoded), validate=True)
    except binascii.Error as exc:
        raise DocumentError(f"binaryData is not base64: {exc}") from None
    return document_text(raw)
