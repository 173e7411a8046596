"""The ``logistica`` command: one entry point, one subcommand per process kind."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from logistica_workers import __version__
from logistica_workers.cli import commands
from logistica_workers.runtime.process import check_process_settings
from logistica_workers.runtime.settings import SettingError, env_optional, env_port, env_str

Handler = Callable[[argparse.Namespace], int]


def _database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL DSN (default: $LOGISTICA_DATABASE_URL)",
    )


def _listen(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", help="listen address (default: $LOGISTICA_HOST or 0.0.0.0)")
    parser.add_argument(
        "--port", type=int, help=f"listen port (default: $LOGISTICA_PORT or {port})"
    )
    parser.set_defaults(default_port=port)


def resolve_environment(args: argparse.Namespace) -> None:
    """Fill what the flags left unset from the environment, and check the variables every
    process reads, so a bad value stops the command here (SettingError) and not later."""
    if "database_url" in args and args.database_url is None:
        args.database_url = env_optional("LOGISTICA_DATABASE_URL")
    if "default_port" in args:
        if args.host is None:
            args.host = env_str("LOGISTICA_HOST", "0.0.0.0") or "0.0.0.0"
        if args.port is None:
            args.port = env_port("LOGISTICA_PORT", args.default_port)
        elif not 0 <= args.port <= 65535:
            raise SettingError(f"--port must be between 0 and 65535, got {args.port}")
    check_process_settings()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logistica",
        description="Kubernetes-native webhook ingest and vehicle routing.",
    )
    parser.add_argument("--version", action="version", version=f"logistica {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "operator",
        help="run the kopf operator (WebhookSource, RoutingJob)",
        description="Run the operator that reconciles WebhookSource and RoutingJob resources.",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch only this namespace")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    p.set_defaults(handler=commands.operator)

    p = sub.add_parser(
        "ingest",
        help="serve POST /ingest/{source}: verify signatures, store events in Postgres",
        description="Serve signed webhooks for the WebhookSources in the given manifests.",
    )
    p.add_argument(
        "-f",
        "--filename",
        dest="manifests",
        action="append",
        type=Path,
        metavar="MANIFEST",
        help="YAML with WebhookSource and Secret objects (repeatable); "
        "default: the JSON in $LOGISTICA_SOURCES (set by the operator)",
    )
    _database_url(p)
    _listen(p, 8080)
    p.set_defaults(handler=commands.ingest)

    p = sub.add_parser(
        "route",
        help="serve POST /route: solve small routing problems synchronously",
        description="Serve the synchronous routing API.",
    )
    _listen(p, 8081)
    p.set_defaults(handler=commands.route)

    p = sub.add_parser(
        "solve",
        help="solve one problem (JSON or CVRPLIB .vrp file) or one RoutingJob",
        description="Solve one routing problem and print or write the solution.",
    )
    p.add_argument("file", nargs="?", type=Path, help="problem JSON, or a CVRPLIB .vrp file")
    p.add_argument("--routingjob", metavar="NAMESPACE/NAME", help="solve this RoutingJob")
    p.add_argument("--time-limit", type=float, help="seconds (overrides the problem's options)")
    p.add_argument("-o", "--output", type=Path, help="write the solution JSON here")
    p.add_argument(
        "--plot", type=Path, help="draw the routes: .svg/.png, or .html (a map on OSM tiles)"
    )
    p.set_defaults(handler=commands.solve)

    p = sub.add_parser(
        "matrix",
        help="fill a problem's road matrix from your OSRM server's table service",
        description="Ask an OSRM server (osrm-routed) for the durations and distances between "
        "the problem's locations (origin, stops, couriers) and write the problem with its "
        "matrix, or the matrix alone (for a RoutingJob's spec.matrixFrom).",
    )
    p.add_argument("file", type=Path, help="problem JSON")
    p.add_argument("--osrm", required=True, metavar="URL", help="the server, e.g. http://osrm:5000")
    p.add_argument("--profile", default="driving", help="OSRM profile in the URL (driving)")
    p.add_argument(
        "--chunk",
        type=int,
        default=100,
        help="most locations per request: the server's --max-table-size (100)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (30)")
    p.add_argument("-o", "--output", type=Path, help="write the JSON here (default stdout)")
    p.add_argument(
        "--matrix-only",
        action="store_true",
        help="write only {durations, distances} (a matrixFrom ConfigMap value)",
    )
    p.set_defaults(handler=commands.matrix)

    p = sub.add_parser(
        "events",
        help="serve GET /events: the committed events in order, with long-poll and consumers",
        description="Serve the event feed; `logistica events rewind` moves a consumer's offset.",
    )
    _database_url(p)
    _listen(p, 8082)
    p.set_defaults(handler=commands.events)
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
    _database_url(r)
    r.set_defaults(handler=commands.events_rewind)
    m = actions.add_parser(
        "maintain",
        help="one pass of partition upkeep: create days ahead, apply retention",
        description="Create external_events partitions ahead and drop or delete expired events "
        "(LOGISTICA_EVENTS_RETENTION_DAYS, _RULES, LOGISTICA_EVENTS_PARTITIONS_AHEAD).",
    )
    _database_url(m)
    m.set_defaults(handler=commands.events_maintain)

    p = sub.add_parser(
        "migrate",
        help="apply the database migrations (idempotent, under an advisory lock)",
        description="Apply pending SQL migrations to the database.",
    )
    _database_url(p)
    p.set_defaults(handler=commands.migrate)

    p = sub.add_parser(
        "dev",
        help="run the workers on this machine with an embedded Postgres",
        description="Start an embedded Postgres, migrate, and serve ingest and routing locally.",
    )
    p.add_argument(
        "-f",
        "--filename",
        dest="manifests",
        action="append",
        type=Path,
        metavar="MANIFEST",
        help="WebhookSource + Secret YAML (default: examples/dev-sources.yaml)",
    )
    p.add_argument("--data-dir", type=Path, help="where the embedded Postgres keeps its data")
    p.add_argument("--ingest-port", type=int, default=8080)
    p.add_argument("--route-port", type=int, default=8081)
    p.add_argument("--events-port", type=int, default=8082)
    p.set_defaults(handler=commands.dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        resolve_environment(args)
        return handler(args)
    except SettingError as exc:
        return commands.fail(command_name(args), str(exc))
    except KeyboardInterrupt:
        return 130


def command_name(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)


if __name__ == "__main__":
    sys.exit(main())
