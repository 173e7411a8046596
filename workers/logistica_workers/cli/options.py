"""Arguments several subcommands share, and the checks made before any of them starts."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from logistica_workers.runtime.process import check_process_settings
from logistica_workers.runtime.settings import SettingError, env_optional, env_port, env_str

if TYPE_CHECKING:  # what ``add_subparsers()`` returns; argparse names no public type for it
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL DSN (default: $LOGISTICA_DATABASE_URL)",
    )


def add_listen(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", help="listen address (default: $LOGISTICA_HOST or 0.0.0.0)")
    parser.add_argument(
        "--port", type=int, help=f"listen port (default: $LOGISTICA_PORT or {port})"
    )
    parser.set_defaults(default_port=port)


def add_manifests(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        dest="manifests",
        action="append",
        type=Path,
        metavar="MANIFEST",
        help=help,
    )


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


def database_problem(args: argparse.Namespace) -> str | None:
    """Why ``args.database_url`` cannot be used (missing or not a DSN), or None."""
    from logistica_workers.db.pool import check_dsn

    if not args.database_url:
        return "no database: pass --database-url or set LOGISTICA_DATABASE_URL"
    return check_dsn(args.database_url)


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


def start_tracing(command: str) -> str | None:
    """Set up OpenTelemetry when ``OTEL_EXPORTER_OTLP_ENDPOINT`` asks for it; the reason
    when an ``OTEL_*`` variable is unusable."""
    from logistica_workers.runtime import tracing

    try:
        tracing.configure(f"logistica-{command}")
    except tracing.TracingConfigError as exc:
        return str(exc)
    return None
