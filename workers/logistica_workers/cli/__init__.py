"""The ``logistica`` command: one entry point, one module per subcommand (each with
``add_parser(subparsers)`` and ``main(args) -> int``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from logistica_workers import __version__
from logistica_workers.cli import dev, events, ingest, matrix, migrate, operator, route, solve
from logistica_workers.cli.exits import fail
from logistica_workers.cli.options import resolve_environment
from logistica_workers.runtime.settings import SettingError

Handler = Callable[[argparse.Namespace], int]

#: in the order ``logistica --help`` lists them
SUBCOMMANDS = (operator, ingest, route, solve, matrix, events, migrate, dev)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logistica",
        description="Kubernetes-native webhook ingest and vehicle routing.",
    )
    parser.add_argument("--version", action="version", version=f"logistica {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        resolve_environment(args)
        return handler(args)
    except SettingError as exc:
        return fail(command_name(args), str(exc))
    except KeyboardInterrupt:
        return 130


def command_name(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)


if __name__ == "__main__":
    sys.exit(main())
