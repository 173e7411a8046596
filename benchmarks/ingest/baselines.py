"""The two baselines the ingest worker is measured against (benchmarks only).

raw:   aiohttp that verifies the HMAC, parses the JSON and answers 202 — no database.
naive: the same, plus one INSERT per request in its own transaction (asyncpg pool).

Usage: python baselines.py raw|naive PORT SECRET [DSN]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys

import asyncpg
import uvloop
from aiohttp import web


def main() -> None:
    kind, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    dsn = sys.argv[4] if len(sys.argv) > 4 else None
    pool: list[asyncpg.Pool] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
            return web.json_response({"error": "bad_signature"}, status=401)
        doc = json.loads(body)
        if kind == "naive":
            row = await pool[0].fetchval(
                "INSERT INTO external_events"
                " (namespace, source, event_id, event_digest, headers, payload)"
                " VALUES ('default', 'bench', $1, sha256(convert_to($1, 'UTF8')), '{}'::jsonb,"
                " $2::jsonb) ON CONFLICT DO NOTHING RETURNING id",
                str(doc["id"]),
                body.decode(),
            )
            return web.json_response({"id": row}, status=202 if row else 200)
        return web.json_response({"status": "ok"}, status=202)

    async def start(app: web.Application) -> None:
        if kind == "naive":
            pool.append(await asyncpg.create_pool(dsn, min_size=8, max_size=8))

    app = web.Application()
    app.on_startup.append(start)
    app.router.add_post("/ingest/bench", handle)
    # the same event loop as the worker, so that the comparison is of the work done
    web.run_app(
        app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
