"""``logistica route``: serve ``POST /route``, small routing problems answered synchronously."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import add_listen, start_tracing, temp_dir_problem
from logistica_workers.runtime.logging import setup_logging

if TYPE_CHECKING:
    from logistica_workers.cli.options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "route",
        help="serve POST /route: solve small routing problems synchronously",
        description="Serve the synchronous routing API.",
    )
    add_listen(p, 8081)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from logistica_workers.routing.service import RouteSettings, run_route
    from logistica_workers.runtime.http import ListenError
    from logistica_workers.runtime.loop import run_on_uvloop

    try:
        settings = RouteSettings()
    except ValueError as exc:
        return fail("route", str(exc))
    if problem := temp_dir_problem():
        return fail("route", problem, EXIT_FAILURE)
    setup_logging()
    if problem := start_tracing("route"):
        return fail("route", problem)
    try:
        return run_on_uvloop(run_route(args.host, args.port, settings))
    except ListenError as exc:
        return fail("route", str(exc), EXIT_FAILURE)
