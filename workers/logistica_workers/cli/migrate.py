"""``logistica migrate``: apply the SQL migrations under a Postgres advisory lock."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import add_database_url, database_problem
from logistica_workers.runtime.logging import setup_logging

if TYPE_CHECKING:
    from logistica_workers.cli.options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="apply the database migrations (idempotent, under an advisory lock)",
        description="Apply pending SQL migrations to the database.",
    )
    add_database_url(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from logistica_workers.db.migrate import migrate

    if problem := database_problem(args):
        return fail("migrate", problem)
    setup_logging()
    try:
        applied = asyncio.run(migrate(args.database_url))
    except (OSError, ValueError) as exc:
        return fail("migrate", f"cannot reach the database: {exc}", EXIT_FAILURE)
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    if not applied:
        print("database is up to date")
    return 0
