"""What each ``logistica`` subcommand does, once its arguments are parsed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile

from logistica_workers.api.common import ValidationFailure
from logistica_workers.api.ingest_config import (
    IngestSource,
    sources_from_json,
    sources_from_manifests,
)
from logistica_workers.db.pool import check_dsn
from logistica_workers.runtime import loop
from logistica_workers.runtime.http import ListenError
from logistica_workers.runtime.logging import setup_logging
from logistica_workers.runtime.settings import env_optional

EXIT_USAGE = 2
EXIT_FAILURE = 1


def fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"logistica {command}: {message}", file=sys.stderr)
    return code


def database_problem(args: argparse.Namespace) -> str | None:
    if not args.database_url:
        return "no database: pass --database-url or set LOGISTICA_DATABASE_URL"
    return check_dsn(args.database_url)


def migrate(args: argparse.Namespace) -> int:
    from logistica_workers.db.migrate import migrate as apply

    if problem := database_problem(args):
        return fail("migrate", problem)
    setup_logging()
    try:
        applied = asyncio.run(apply(args.database_url))
    except (OSError, ValueError) as exc:
        return fail("migrate", f"cannot reach the database: {exc}", 1)
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    if not applied:
        print("database is up to date")
    return 0


def start_tracing(command: str) -> str | None:
    """Set up OpenTelemetry when ``OTEL_EXPORTER_OTLP_ENDPOINT`` asks for it; the reason
    when an ``OTEL_*`` variable is unusable."""
    from logistica_workers.runtime import tracing

    try:
        tracing.configure(f"logistica-{command}")
    except tracing.TracingConfigError as exc:
        return str(exc)
    return None


def load_sources(args: argparse.Namespace) -> list[IngestSource]:
    if args.manifests:
        return sources_from_manifests(args.manifests)
    env = env_optional("LOGISTICA_SOURCES")
    if env:
        return sources_from_json(env)
    raise ValidationFailure([("", "no sources: pass -f MANIFEST or set LOGISTICA_SOURCES")])


def ingest(args: argparse.Namespace) -> int:
    from logistica_workers.ingest.app import IngestSettings
    from logistica_workers.ingest.server import run_ingest

    try:
        settings = IngestSettings.from_env()
    except ValueError as exc:
        return fail("ingest", str(exc))
    if problem := database_problem(args):
        return fail("ingest", problem)
    try:
        sources = load_sources(args)
    except ValidationFailure as exc:
        return fail("ingest", f"invalid sources: {exc}")
    setup_logging()
    if problem := start_tracing("ingest"):
        return fail("ingest", problem)
    try:
        return loop.run(run_ingest(sources, args.database_url, args.host, args.port, settings))
    except ListenError as exc:
        return fail("ingest", str(exc), EXIT_FAILURE)


def events(args: argparse.Namespace) -> int:
    from logistica_workers.events.server import run_events
    from logistica_workers.events.settings import EventsSettings

    try:
        settings = EventsSettings.from_env()
    except ValueError as exc:
        return fail("events", str(exc))
    if problem := database_problem(args):
        return fail("events", problem)
    setup_logging()
    if problem := start_tracing("events"):
        return fail("events", problem)
    return loop.run(run_events(args.database_url, args.host, args.port, settings))


def events_rewind(args: argparse.Namespace) -> int:
    import asyncpg

    from logistica_workers.events.app import BadParameter, consumer_name
    from logistica_workers.events.rewind import RewindError, parse_target, rewind

    if problem := database_problem(args):
        return fail("events rewind", problem)
    try:
        name = consumer_name(args.name, "NAME")
        target = parse_target(args.to)
    except (BadParameter, RewindError) as exc:
        return fail("events rewind", str(exc))
    try:
        offset = asyncio.run(rewind(args.database_url, name, target))
    except (OSError, asyncpg.PostgresError) as exc:
        return fail("events rewind", f"cannot update the database: {exc}", 1)
    print(f"consumer {offset.name} now reads after {offset.cursor}")
    return 0


def events_maintain(args: argparse.Namespace) -> int:
    import asyncpg

    from logistica_workers.events.retention import RetentionPolicy, maintain

    try:
        policy = RetentionPolicy.from_env()
    except ValueError as exc:
        return fail("events maintain", str(exc))
    if problem := database_problem(args):
        return fail("events maintain", problem)

    async def once() -> str:
        conn = await asyncpg.connect(args.database_url, timeout=10)
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

    try:
        print(asyncio.run(once()))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return fail("events maintain", f"database error: {exc}", 1)
    return 0


def dev(args: argparse.Namespace) -> int:
    from logistica_workers.dev import run_dev

    return run_dev(args)


def temp_dir_problem() -> str | None:
    """Why no temporary directory is writable, or None. The solver's engine processes need
    one (multiprocessing's forkserver socket, matplotlib's cache)."""
    try:
        with tempfile.TemporaryDirectory(prefix="logistica-check-"):
            pass
    except OSError as exc:
        return (
            f"no writable temporary directory ({exc}): mount a writable /tmp "
            "(an emptyDir in Kubernetes) or point TMPDIR at one"
        )
    return None


def solve(args: argparse.Namespace) -> int:
    from logistica_workers.routing.solve_cli import run

    if problem := temp_dir_problem():
        return fail("solve", problem, 1)
    if problem := start_tracing("solve"):
        return fail("solve", problem)
    return run(args)


def matrix(args: argparse.Namespace) -> int:
    from logistica_workers.routing.matrix_cli import run

    return run(args)


def route(args: argparse.Namespace) -> int:
    from logistica_workers.routing.service import RouteSettings, run_route

    try:
        settings = RouteSettings()
    except ValueError as exc:
        return fail("route", str(exc))
    if problem := temp_dir_problem():
        return fail("route", problem, 1)
    setup_logging()
    if problem := start_tracing("route"):
        return fail("route", problem)
    try:
        return loop.run(run_route(args.host, args.port, settings))
    except ListenError as exc:
        return fail("route", str(exc), EXIT_FAILURE)


def operator(args: argparse.Namespace) -> int:
    """The only place worker code reaches the operator package."""
    from logistica_operator.config import OperatorConfig, RunSettings
    from logistica_operator.main import credentials_problem, run

    try:  # every operator setting, before its handlers read them at import
        OperatorConfig()
        RunSettings()
    except ValueError as exc:
        return fail("operator", str(exc))
    if problem := credentials_problem():
        return fail("operator", problem, 1)
    setup_logging()
    if problem := start_tracing("operator"):
        return fail("operator", problem)
    return run(args.namespace, args.all_namespaces)
