"""Form-encoded bodies (slack, twilio) as JSON objects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from logistica_workers.ingest.refusal import PayloadError
from logistica_workers.ingest.strict_json import parse_json

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
