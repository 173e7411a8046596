"""The feed's SQL: reading in cursor order behind the settled horizon, and consumer offsets.

Every read is one statement in autocommit, so ``pg_current_snapshot()`` is the snapshot the
statement reads with: rows whose ``tx`` is below that snapshot's xmin are all the rows those
transactions will ever have (they are committed and visible, or rolled back), and every
transaction still in flight has ``tx`` >= xmin. Serving only ``tx < xmin`` in (tx, id) order
therefore never passes a row that could commit later with a lower cursor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from logistica_workers.events.cursor import Cursor

_HORIZON = "(SELECT pg_snapshot_xmin(pg_current_snapshot()))"


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    namespace: str | None = None

    def sql(self, first: int) -> tuple[str, list[str]]:
        """Extra WHERE terms (numbered from ``$first``) and their arguments."""
        terms, args = [], []
        for column, value in (("source", self.source), ("namespace", self.namespace)):
            if value is not None:
                args.append(value)
                terms.append(f" AND {column} = ${first + len(args) - 1}")
        return "".join(terms), args


@dataclass(frozen=True, slots=True)
class Event:
    cursor: Cursor
    json: str  # the whole event as a JSON object, written by Postgres


# Postgres writes each event's JSON itself: headers and payload go out as stored, and no Python
# object is built per field (the read path's cost is then mostly the HTTP body).
_EVENT_JSON = (
    "json_build_object('cursor', tx::text || '-' || id, 'source', source,"
    " 'namespace', namespace, 'eventId', event_id,"
    " 'receivedAt', to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " 'headers', headers, 'payload', payload)::text"
)


async def read(
    conn: asyncpg.Connection, after: Cursor, limit: int, filters: Filters
) -> list[Event]:
    """Up to ``limit`` settled events after ``after``, in cursor order."""
    extra, args = filters.sql(4)
    rows = await conn.fetch(
        f"SELECT tx::text AS tx_text, id, {_EVENT_JSON} AS event FROM external_events"
        f" WHERE (tx, id) > ($1::text::xid8, $2::bigint) AND tx < {_HORIZON}{extra}"
        " ORDER BY tx, id LIMIT $3",
        str(after.tx),
        after.id,
        limit,
        *args,
    )
    return [Event(Cursor(int(r[0]), r[1]), r[2]) for r in rows]


async def any_after(conn: asyncpg.Connection, after: Cursor, filters: Filters) -> bool:
    """Whether committed rows exist after ``after`` at all (settled or not yet).

    Asked when a read found nothing: a True answer means rows are held back by an older
    transaction still in flight (or became servable since the read), so the reader must look
    again even if no notification comes (the older transaction may not insert any event)."""
    extra, args = filters.sql(3)
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM external_events"
            f" WHERE (tx, id) > ($1::text::xid8, $2::bigint){extra})",
            str(after.tx),
            after.id,
            *args,
        )
    )


async def horizon(conn: asyncpg.Connection) -> int:
    """The settled horizon now: every transaction id below it has committed or rolled back."""
    return int(await conn.fetchval(f"SELECT {_HORIZON}::text"))


@dataclass(frozen=True)
class Offset:
    name: str
    cursor: Cursor
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "cursor": str(self.cursor),
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


_OFFSET_COLUMNS = "name, cursor_tx::text AS tx, cursor_id, created_at, updated_at"


def _offset(r: asyncpg.Record) -> Offset:
    return Offset(r["name"], Cursor(int(r["tx"]), r["cursor_id"]), r["created_at"], r["updated_at"])


async def get_offset(conn: asyncpg.Connection, name: str) -> Offset | None:
    r = await conn.fetchrow(f"SELECT {_OFFSET_COLUMNS} FROM event_consumers WHERE name = $1", name)
    return _offset(r) if r else None


async def ack(conn: asyncpg.Connection, name: str, cursor: Cursor) -> Offset:
    """Move the consumer's offset forward to ``cursor`` (never back: acks may arrive out of
    order); creates the consumer. Returns the offset now stored."""
    r = await conn.fetchrow(
        "INSERT INTO event_consumers AS c (name, cursor_tx, cursor_id)"
        " VALUES ($1, $2::text::xid8, $3)"
        " ON CONFLICT (name) DO UPDATE SET cursor_tx = EXCLUDED.cursor_tx,"
        " cursor_id = EXCLUDED.cursor_id, updated_at = now()"
        " WHERE (c.cursor_tx, c.cursor_id) < (EXCLUDED.cursor_tx, EXCLUDED.cursor_id)"
        f" RETURNING {_OFFSET_COLUMNS}",
        name,
        str(cursor.tx),
        cursor.id,
    )
    if r is None:  # an older ack than the stored one: unchanged
        current = await get_offset(conn, name)
        assert current is not None
        return current
    return _offset(r)


async def set_offset(conn: asyncpg.Connection, name: str, cursor: Cursor) -> Offset:
    """Put the consumer's offset at ``cursor``, backwards included (replay)."""
    r = await conn.fetchrow(
        "INSERT INTO event_consumers AS c (name, cursor_tx, cursor_id)"
        " VALUES ($1, $2::text::xid8, $3)"
        " ON CONFLICT (name) DO UPDATE SET cursor_tx = EXCLUDED.cursor_tx,"
        " cursor_id = EXCLUDED.cursor_id, updated_at = now()"
        f" RETURNING {_OFFSET_COLUMNS}",
        name,
        str(cursor.tx),
        cursor.id,
    )
    return _offset(r)


async def cursor_before(conn: asyncpg.Connection, when: dt.datetime) -> Cursor:
    """The cursor from which reading replays every event received at or after ``when``.

    That is just before the first such event in cursor order (a few events received slightly
    earlier may follow it in cursor order and are replayed too: replay is at-least-once).
    With no such event, the settled end of the feed."""
    r = await conn.fetchrow(
        "SELECT tx::text AS tx_text, id FROM external_events WHERE received_at >= $1"
        " ORDER BY tx, id LIMIT 1",
        when,
    )
    if r is not None:
        tx, row = int(r["tx_text"]), int(r["id"])
        return Cursor(tx, row - 1) if row > 0 else Cursor(tx - 1, 2**63 - 1)
    return await end(conn)


async def end(conn: asyncpg.Connection) -> Cursor:
    """The last settled event's cursor (0-0 when there is none)."""
    r = await conn.fetchrow(
        f"SELECT tx::text AS tx_text, id FROM external_events WHERE tx < {_HORIZON}"
        " ORDER BY tx DESC, id DESC LIMIT 1"
    )
    return Cursor(int(r["tx_text"]), r["id"]) if r else Cursor(0, 0)


@dataclass(frozen=True)
class Lag:
    events: int
    pending: int
    oldest: dt.datetime | None


async def lag(conn: asyncpg.Connection, after: Cursor, filters: Filters) -> Lag:
    """Events after ``after``: settled (readable now), still held behind the horizon, and the
    oldest readable one's receive time."""
    extra, args = filters.sql(3)
    r = await conn.fetchrow(
        f"SELECT count(*) FILTER (WHERE tx < {_HORIZON}) AS ready,"
        f" count(*) FILTER (WHERE tx >= {_HORIZON}) AS pending,"
        f" min(received_at) FILTER (WHERE tx < {_HORIZON}) AS oldest"
        " FROM external_events"
        f" WHERE (tx, id) > ($1::text::xid8, $2::bigint){extra}",
        str(after.tx),
        after.id,
        *args,
    )
    return Lag(int(r["ready"]), int(r["pending"]), r["oldest"])
