"""``logistica events rewind NAME --to TIME|CURSOR|start|end``: move a consumer's offset
(backwards to replay, or forwards to skip); the consumer reads from there on its next poll."""

from __future__ import annotations

import datetime as dt

import asyncpg

from logistica_workers.events import store
from logistica_workers.events.cursor import START, Cursor, CursorError


class RewindError(ValueError):
    pass


Target = Cursor | dt.datetime | str  # str: "end"


def parse_target(text: str) -> Target:
    """``start``, ``end``, a cursor, or an ISO 8601 time with a zone (``Z`` allowed)."""
    text = text.strip()
    if text == "start":
        return START
    if text == "end":
        return "end"
    if "-" in text and text.replace("-", "").isdigit() and text.count("-") == 1:
        try:
            return Cursor.parse(text)
        except CursorError as exc:
            raise RewindError(f"--to: {exc}") from None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RewindError(
            f"--to must be a time (2026-11-23T10:00:00Z), a cursor (123-456), start or end; "
            f"got {text!r}"
        ) from None
    if when.tzinfo is None:
        raise RewindError(f"--to: give the time zone (e.g. {text}Z for UTC)")
    return when


async def rewind(dsn: str, name: str, target: Target) -> store.Offset:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if isinstance(target, Cursor):
            cursor = target
        elif isinstance(target, dt.datetime):
            cursor = await store.cursor_before(conn, target)
        else:
            cursor = await store.end(conn)
        return await store.set_offset(conn, name, cursor)
    finally:
        await conn.close()
