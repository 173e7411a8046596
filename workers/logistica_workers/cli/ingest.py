"""``logistica ingest``: serve ``POST /ingest/{source}`` for the given WebhookSources."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import (
    add_database_url,
    add_listen,
    add_manifests,
    database_problem,
    start_tracing,
)
from logistica_workers.runtime.logging import setup_logging
from logistica_workers.runtime.settings import env_optional

if TYPE_CHECKING:  # the server's modules load when `ingest` runs, not for other commands
    from logistica_workers.api.ingest_config import IngestSource
    from logistica_workers.cli.options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="serve POST /ingest/{source}: verify signatures, store events in Postgres",
        description="Serve signed webhooks for the WebhookSources in the given manifests.",
    )
    add_manifests(
        p,
        "YAML with WebhookSource and Secret objects (repeatable); "
        "default: the JSON in $LOGISTICA_SOURCES (set by the operator)",
    )
    add_database_url(p)
    add_listen(p, 8080)
    p.set_defaults(handler=main)


def load_sources(args: argparse.Namespace) -> list[IngestSource]:
    """The sources of ``-f`` manifests, else of ``$LOGISTICA_SOURCES``."""
    from logistica_workers.api.common import ValidationFailure
    from logistica_workers.api.ingest_config import sources_from_json, sources_from_manifests

    if args.manifests:
        return sources_from_manifests(args.manifests)
    env = env_optional("LOGISTICA_SOURCES")
    if env:
        return sources_from_json(env)
    raise ValidationFailure([("", "no sources: pass -f MANIFEST or set LOGISTICA_SOURCES")])


def main(args: argparse.Namespace) -> int:
    from logistica_workers.api.common import ValidationFailure
    from logistica_workers.ingest.app import IngestSettings
    from logistica_workers.ingest.server import run_ingest
    from logistica_workers.runtime.http import ListenError
    from logistica_workers.runtime.loop import run_on_uvloop

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
    server = run_ingest(sources, args.database_url, args.host, args.port, settings)
    try:
        return run_on_uvloop(server)
    except ListenError as exc:
        return fail("ingest", str(exc), EXIT_FAILURE)
