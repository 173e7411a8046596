"""``logistica matrix``: fill a problem's ``matrix`` from the user's OSRM server."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, EXIT_USAGE, fail
from logistica_workers.cli.solve import BadInput, load_problem

if TYPE_CHECKING:
    from logistica_workers.cli.options import Subparsers

PROFILE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
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
    p.set_defaults(handler=main)


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    return fail("matrix", message, code)


def main(args: argparse.Namespace) -> int:
    from logistica_workers.api import Matrix
    from logistica_workers.routing.osrm import OsrmError, check_base_url, fetch_matrix

    if not args.file.exists():
        return _fail(f"{args.file}: no such file")
    if not PROFILE.match(args.profile):
        return _fail(f"--profile must be a name like driving, got {args.profile!r}")
    if not 2 <= args.chunk <= 10_000:
        return _fail("--chunk must be 2-10000 locations per request")
    if not 0 < args.timeout <= 3600:
        return _fail("--timeout must be in (0, 3600] seconds")
    try:
        check_base_url(args.osrm)
        problem = load_problem(args.file)
    except (BadInput, ValueError) as exc:
        return _fail(str(exc))
    points = [(problem.origin.lat, problem.origin.lng)]
    points += [(s.lat, s.lng) for s in problem.stops]
    points += [(c.lat, c.lng) for c in problem.couriers]
    try:
        durations, distances = asyncio.run(
            fetch_matrix(
                args.osrm,
                points,
                profile=args.profile,
                chunk=args.chunk,
                timeout=args.timeout,
            )
        )
    except OsrmError as exc:
        return _fail(f"OSRM: {exc}", EXIT_FAILURE)
    matrix = Matrix(durations=durations, distances=distances)
    if args.matrix_only:
        doc = matrix.model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        doc = problem.with_matrix(matrix).model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(doc, separators=(",", ":"))
    if args.output:
        args.output.write_text(text + "\n")
    else:
        print(text)
    unreachable = sum(v is None for row in durations for v in row)
    print(
        f"logistica matrix: {len(points)} locations from {args.osrm} ({args.profile})"
        + (f", {unreachable} unreachable pairs" if unreachable else ""),
        file=sys.stderr,
    )
    return 0
