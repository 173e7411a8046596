"""``logistica dev``: everything on one machine, no cluster. Embedded Postgres (kept in a local
data directory), migrations, the ingest worker for local sources, the routing service and the
event feed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from logistica_workers.cli.exits import EXIT_FAILURE, fail
from logistica_workers.cli.options import add_manifests
from logistica_workers.runtime.logging import setup_logging
from logistica_workers.runtime.settings import env_port

if TYPE_CHECKING:  # the servers are imported when `dev` runs, not for `logistica --help`
    from logistica_workers.api.ingest_config import IngestSource
    from logistica_workers.cli.options import Subparsers
    from logistica_workers.events.settings import EventsSettings
    from logistica_workers.ingest.app import IngestSettings
    from logistica_workers.routing.service import RouteSettings

DEFAULT_SOURCES = Path("examples/dev-sources.yaml")


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "dev",
        help="run the workers on this machine with an embedded Postgres",
        description="Start an embedded Postgres, migrate, and serve ingest and routing locally.",
    )
    add_manifests(p, "WebhookSource + Secret YAML (default: examples/dev-sources.yaml)")
    p.add_argument("--data-dir", type=Path, help="where the embedded Postgres keeps its data")
    p.add_argument("--ingest-port", type=int, default=8080)
    p.add_argument("--route-port", type=int, default=8081)
    p.add_argument("--events-port", type=int, default=8082)
    p.set_defaults(handler=main)


def default_data_dir() -> Path:
    if os.geteuid() == 0:  # the server runs as 'postgres', which cannot enter /root
        return Path("/var/lib/logistica/dev")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "logistica" / "dev"


def sample_curl(source: IngestSource, port: int) -> str:
    """A ``curl`` that sends ``source`` one correctly signed event."""
    from logistica_workers.ingest.providers import sign

    body = json.dumps({"id": "evt_dev_1", "type": "order.created", "order": {"id": 1042}})
    secret = next(iter((source.keys or {}).values()))
    headers = sign(
        source.spec.provider,
        secret,
        body.encode(),
        timestamp=int(time.time()),
        delivery_id="evt_dev_1",
        hmac_spec=source.spec.hmac,
    )
    parts = ["curl", "-i", f"http://127.0.0.1:{port}/ingest/{source.name}"]
    for k, v in headers.items():
        parts += ["-H", f"{k}: {v}"]
    parts += ["--data-binary", body]
    return " ".join(shlex.quote(p) for p in parts)


def main(args: argparse.Namespace) -> int:
    from logistica_workers.api.common import ValidationFailure
    from logistica_workers.api.ingest_config import sources_from_manifests
    from logistica_workers.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
    from logistica_workers.events.settings import EventsSettings
    from logistica_workers.ingest.app import IngestSettings
    from logistica_workers.routing.service import RouteSettings
    from logistica_workers.runtime.http import ListenError

    manifests = args.manifests or [DEFAULT_SOURCES]
    try:
        settings = IngestSettings.from_env(), RouteSettings(), EventsSettings.from_env()
        pg_port = env_port("LOGISTICA_DEV_PG_PORT", 54329)
    except ValueError as exc:
        return fail("dev", str(exc))
    try:
        sources = sources_from_manifests(manifests)
    except ValidationFailure as exc:
        return fail("dev", f"invalid sources: {exc}")
    setup_logging()
    from logistica_workers.cli.options import start_tracing

    if problem := start_tracing("dev"):
        print(f"logistica dev: {problem}", file=sys.stderr)
        return 2
    # no load balancer to wait for on one machine: Ctrl-C stops at once (still gracefully)
    os.environ.setdefault("LOGISTICA_DRAIN_DELAY_SECONDS", "0")
    data_dir = args.data_dir or default_data_dir()
    pg = EmbeddedPostgres(data_dir, port=pg_port)
    try:
        dsn = pg.start()
    except EmbeddedPostgresError as exc:
        return fail("dev", f"cannot start the embedded Postgres: {exc}", EXIT_FAILURE)
    try:
        return asyncio.run(_serve(sources, dsn, args, data_dir, *settings))
    except ListenError as exc:
        return fail("dev", str(exc), EXIT_FAILURE)
    finally:
        pg.stop()


async def _serve(
    sources: list[IngestSource],
    dsn: str,
    args: argparse.Namespace,
    data_dir: Path,
    ingest_settings: IngestSettings,
    route_settings: RouteSettings,
    events_settings: EventsSettings,
) -> int:
    """Migrate, then the three servers until one Ctrl-C / SIGTERM stops them all."""
    from logistica_workers.db.migrate import migrate
    from logistica_workers.events.server import run_events
    from logistica_workers.ingest.server import run_ingest
    from logistica_workers.routing.service import run_route

    await migrate(dsn)
    stop = asyncio.Event()

    def ingest_started(port: int) -> None:
        print(f"\nlogistica dev: Postgres at {dsn} (data in {data_dir})", file=sys.stderr)
        print(
            f"ingest: http://127.0.0.1:{port}/ingest/{{{','.join(s.name for s in sources)}}}",
            file=sys.stderr,
        )
        print("send a signed event:\n  " + sample_curl(sources[0], port) + "\n", file=sys.stderr)

    def route_started(port: int) -> None:
        print(
            f"routing: curl -H 'Content-Type: application/json' --data @examples/problems/"
            f"lisbon.json http://127.0.0.1:{port}/route",
            file=sys.stderr,
        )

    def events_started(port: int) -> None:
        print(f"events: curl 'http://127.0.0.1:{port}/events?wait=30'", file=sys.stderr)

    host = "127.0.0.1"
    results = await asyncio.gather(
        run_ingest(
            sources, dsn, host, args.ingest_port, ingest_settings, started=ingest_started, stop=stop
        ),
        run_route(host, args.route_port, route_settings, started=route_started, stop=stop),
        run_events(dsn, host, args.events_port, events_settings, started=events_started, stop=stop),
    )
    return max(results)
