"""``logistica operator``: the kopf operator (WebhookSource, RoutingJob)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import start_tracing
from logistica_workers.runtime.logging import setup_logging

if TYPE_CHECKING:
    from logistica_workers.cli.options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "operator",
        help="run the kopf operator (WebhookSource, RoutingJob)",
        description="Run the operator that reconciles WebhookSource and RoutingJob resources.",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch only this namespace")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """The only place worker code reaches the operator package."""
    from logistica_operator.config import OperatorConfig, RunSettings
    from logistica_operator.main import credentials_problem, run_operator

    try:  # every operator setting, before its handlers read them at import
        OperatorConfig()
        RunSettings()
    except ValueError as exc:
        return fail("operator", str(exc))
    if problem := credentials_problem():
        return fail("operator", problem, EXIT_FAILURE)
    setup_logging()
    if problem := start_tracing("operator"):
        return fail("operator", problem)
    return run_operator(args.namespace, args.all_namespaces)
