"""``logistica events``: serve the event feed; ``events rewind`` and ``events maintain``."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import (
    add_database_url,
    add_listen,
    database_problem,
    start_tracing,
)
from logistica_workers.runtime.logging import setup_logging

if TYPE_CHECKING:
    from logistica_workers.cli.options import Subparsers
    from logistica_workers.events.retention import RetentionPolicy


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "events",
        help="serve GET /events: the committed events in order, with long-poll and consumers",
        description="Serve the event feed; `logistica events rewind` moves a consumer's offset.",
    )
    add_database_url(p)
    add_listen(p, 8082)
    p.set_defaults(handler=main)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    r = actions.add_parser(
        "rewind",
        help="move a named consumer's offset (replay from a time or cursor)",
        description="Move a named consumer's offset; it reads from there on its next poll.",
    )
    r.add_argument("name", help="the consumer's name")
    r.add_argument(
        "--to",
        required=True,
        metavar="TIME|CURSOR",
        help="an ISO 8601 time with zone (2026-11-23T10:00:00Z), a cursor (123-456), "
        "'start' or 'end'",
    )
    add_database_url(r)
    m = actions.add_parser(
        "maintain",
        help="one pass of partition upkeep: create days ahead, apply retention",
        description="Create external_events partitions ahead and drop or delete expired events "
        "(LOGISTICA_EVENTS_RETENTION_DAYS, _RULES, LOGISTICA_EVENTS_PARTITIONS_AHEAD).",
    )
    add_database_url(m)


def main(args: argparse.Namespace) -> int:
    if args.action == "rewind":
        return rewind(args)
    if args.action == "maintain":
        return maintain(args)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    from logistica_workers.events.server import run_events
    from logistica_workers.events.settings import EventsSettings
    from logistica_workers.runtime.loop import run_on_uvloop

    try:
        settings = EventsSettings.from_env()
    except ValueError as exc:
        return fail("events", str(exc))
    if problem := database_problem(args):
        return fail("events", problem)
    setup_logging()
    if problem := start_tracing("events"):
        return fail("events", problem)
    return run_on_uvloop(run_events(args.database_url, args.host, args.port, settings))


def rewind(args: argparse.Namespace) -> int:
    import asyncpg

    from logistica_workers.events.app import BadParameter, consumer_name
    from logistica_workers.events.rewind import RewindError, parse_target
    from logistica_workers.events.rewind import rewind as move_offset

    if problem := database_problem(args):
        return fail("events rewind", problem)
    try:
        name = consumer_name(args.name, "NAME")
        target = parse_target(args.to)
    except (BadParameter, RewindError) as exc:
        return fail("events rewind", str(exc))
    try:
        offset = asyncio.run(move_offset(args.database_url, name, target))
    except (OSError, asyncpg.PostgresError) as exc:
        return fail("events rewind", f"cannot update the database: {exc}", EXIT_FAILURE)
    print(f"consumer {offset.name} now reads after {offset.cursor}")
    return 0


def maintain(args: argparse.Namespace) -> int:
    import asyncpg

    from logistica_workers.events.retention import RetentionPolicy

    try:
        policy = RetentionPolicy.from_env()
    except ValueError as exc:
        return fail("events maintain", str(exc))
    if problem := database_problem(args):
        return fail("events maintain", problem)
    try:
        print(asyncio.run(_maintain_once(args.database_url, policy)))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return fail("events maintain", f"database error: {exc}", EXIT_FAILURE)
    return 0


async def _maintain_once(database_url: str, policy: RetentionPolicy) -> str:
    """One upkeep pass on its own connection; what it did, as one line."""
    import asyncpg

    from logistica_workers.events.retention import maintain

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        r = await maintain(conn, policy)
    finally:
        await conn.close()
    if r.skipped:
        return "another maintainer is running; nothing done"
    return (
        f"created {len(r.created)} partitions, dropped {len(r.dropped)}"
        f" ({', '.join(r.dropped) or 'none'}), deleted {r.rows_deleted} events"
        f" and {r.keys_deleted} keys"
    )
