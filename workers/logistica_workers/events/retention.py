"""Partition upkeep of ``external_events``: days created ahead, expired days dropped.

Retention is global (``LOGISTICA_EVENTS_RETENTION_DAYS``) with optional rules per namespace or
per namespace/source (``LOGISTICA_EVENTS_RETENTION_RULES="shop=7,fleet/carrier=90"``; the most
specific rule wins). A day partition is dropped whole once it is older than the longest
retention of all; rows whose own retention is shorter are deleted in small batches before that.
Each idempotency key goes with its event. Drops take a brief exclusive lock on the parent, so
they run with a short ``lock_timeout`` and are retried rather than queueing ingest behind them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass, field

import asyncpg

from logistica_workers.runtime.settings import env_int, env_str

log = logging.getLogger("logistica.events.retention")

MAINTENANCE_LOCK_KEY = 0x6C6F67657674  # "logevt": one maintainer at a time
_PARTITION = re.compile(r"^external_events_p(\d{8})$")
_RULE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(/([^=/,\s]+))?=(\d+)$")
BATCH = 5000


@dataclass(frozen=True)
class RetentionPolicy:
    days: int = 30
    # (namespace, source or None for the whole namespace) -> days
    rules: dict[tuple[str, str | None], int] = field(default_factory=dict)
    ahead: int = 7

    @property
    def longest(self) -> int:
        return max([self.days, *self.rules.values()])

    @classmethod
    def from_env(cls) -> RetentionPolicy:
        """ValueError names the variable (and the rule) that is wrong."""
        return cls(
            days=env_int("LOGISTICA_EVENTS_RETENTION_DAYS", cls.days, low=1, high=36500),
            rules=parse_rules(env_str("LOGISTICA_EVENTS_RETENTION_RULES", "")),
            ahead=env_int("LOGISTICA_EVENTS_PARTITIONS_AHEAD", cls.ahead, low=1, high=90),
        )


def parse_rules(text: str) -> dict[tuple[str, str | None], int]:
    rules: dict[tuple[str, str | None], int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _RULE.match(part)
        if not m or not 1 <= int(m.group(5)) <= 36500:
            raise ValueError(
                "LOGISTICA_EVENTS_RETENTION_RULES: each rule is NAMESPACE=DAYS or "
                f"NAMESPACE/SOURCE=DAYS with 1 to 36500 days, comma-separated; got {part!r}"
            )
        key = (m.group(1), m.group(4))
        if key in rules:
            raise ValueError(f"LOGISTICA_EVENTS_RETENTION_RULES: {part!r} is given twice")
        rules[key] = int(m.group(5))
    return rules


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rows_deleted: int = 0
    keys_deleted: int = 0
    skipped: bool = False  # another maintainer holds the lock


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


async def _with_lock_timeout(conn: asyncpg.Connection, sql: str, *args: object) -> object:
    """Run a DDL statement that needs the parent's lock, retrying on lock timeout, so it never
    waits in the lock queue (where it would stall every insert behind it)."""
    for attempt in range(100):
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '50ms'")
                return await conn.fetchval(sql, *args)
        except asyncpg.LockNotAvailableError:
            await asyncio.sleep(min(0.5, 0.01 * (attempt + 1)))
    raise TimeoutError(f"could not take the lock for: {sql}")


async def partitions(conn: asyncpg.Connection) -> list[tuple[str, dt.date]]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'external_events'::regclass ORDER BY c.relname"
    )
    out = []
    for r in rows:
        m = _PARTITION.match(r["relname"])
        if m:
            out.append((r["relname"], dt.datetime.strptime(m.group(1), "%Y%m%d").date()))
    return out


async def maintain(
    conn: asyncpg.Connection, policy: RetentionPolicy, now: dt.datetime | None = None
) -> Report:
    """One pass: create the days ahead, delete rows past their (shorter) retention, drop
    expired days, delete the keys of what is gone. Safe to run concurrently (advisory lock)."""
    now = now or dt.datetime.now(dt.UTC)
    report = Report()
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK_KEY):
        report.skipped = True
        return report
    try:
        existing = {name for name, _ in await partitions(conn)}
        today = now.astimezone(dt.UTC).date()
        for i in range(policy.ahead + 1):
            day = today + dt.timedelta(days=i)
            name = f"external_events_p{day:%Y%m%d}"
            if name not in existing:
                try:
                    await _with_lock_timeout(conn, "SELECT logistica_event_partition($1)", day)
                    report.created.append(name)
                except asyncpg.PostgresError as exc:  # e.g. that day's rows sit in the default
                    log.error("cannot create partition", extra={"name": name, "error": str(exc)})
        report.rows_deleted += await _delete_expired_rows(conn, policy, now)
        cutoff = now - dt.timedelta(days=policy.longest)
        for name, day in await partitions(conn):
            if _day_start(day + dt.timedelta(days=1)) <= cutoff:
                await _with_lock_timeout(conn, f'DROP TABLE "{name}"')
                report.dropped.append(name)
                log.info("dropped partition", extra={"name": name})
        report.keys_deleted += await _batched(
            conn,
            "WITH gone AS (DELETE FROM external_event_keys WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM external_event_keys WHERE received_at < $1 LIMIT $2)) RETURNING 1)"
            " SELECT count(*) FROM gone",
            cutoff,
        )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK_KEY)
    return report


async def _batched(conn: asyncpg.Connection, sql: str, cutoff: dt.datetime, *args: object) -> int:
    """Repeat a bounded DELETE ($1 the cutoff, $2 the batch size; each its own short
    transaction) until nothing is left."""
    total = 0
    while True:
        n = int(await conn.fetchval(sql, cutoff, BATCH, *args))
        total += n
        if n < BATCH:
            return total


_DELETE_ROWS = """
WITH gone AS (
    DELETE FROM external_events WHERE id = ANY(ARRAY(
        SELECT id FROM external_events WHERE received_at < $1 AND ({selector}) LIMIT $2))
    RETURNING namespace, source, event_digest
), keys AS (
    DELETE FROM external_event_keys k USING gone
    WHERE (k.namespace, k.source, k.event_digest) = (gone.namespace, gone.source, gone.event_digest)
)
SELECT count(*) FROM gone
"""
_BY_SOURCE_RULE = "(namespace, source) IN (SELECT * FROM unnest($4::text[], $5::text[]))"


async def _delete_expired_rows(
    conn: asyncpg.Connection, policy: RetentionPolicy, now: dt.datetime
) -> int:
    """Rows whose retention is shorter than the longest: deleted, not dropped with a day.
    The most specific rule wins (a namespace rule does not cover that namespace's sources
    that have their own rule; the global retention covers what no rule names)."""
    src_ns = [ns for (ns, src) in policy.rules if src is not None]
    src_names = [src for (_, src) in policy.rules if src is not None]
    namespaces = [ns for (ns, src) in policy.rules if src is None]
    jobs: list[tuple[int, str, tuple[object, ...]]] = []
    for (ns, src), days in policy.rules.items():
        if src is not None:
            jobs.append((days, "namespace = $3 AND source = $4", (ns, src)))
        else:
            selector = f"namespace = $3 AND NOT {_BY_SOURCE_RULE}"
            jobs.append((days, selector, (ns, src_ns, src_names)))
    global_selector = f"NOT (namespace = ANY($3::text[]) OR {_BY_SOURCE_RULE})"
    jobs.append((policy.days, global_selector, (namespaces, src_ns, src_names)))
    total = 0
    for days, selector, args in jobs:
        if days < policy.longest:
            cutoff = now - dt.timedelta(days=days)
            total += await _batched(conn, _DELETE_ROWS.format(selector=selector), cutoff, *args)
    # rows past every retention that sit in the default partition (no day to drop)
    cutoff = now - dt.timedelta(days=policy.longest)
    total += await _batched(conn, _DELETE_ROWS.format(selector="true"), cutoff)
    return total
