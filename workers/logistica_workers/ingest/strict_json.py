"""Strict JSON: an object or array that jsonb stores exactly as sent — no NaN/Infinity, BOM,
lone surrogates, invalid UTF-8, NUL characters, or nesting deeper than ``MAX_DEPTH``."""

from __future__ import annotations

from typing import Any

import orjson

from logistica_workers.ingest.refusal import PayloadError

MAX_DEPTH = 64


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
