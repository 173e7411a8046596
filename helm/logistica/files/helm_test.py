"""`helm test`: is this release working? Runs in the app image (the chart's test hook Pod).

1. sends one signed webhook to the test WebhookSource (made by the hook) through its Service,
   retrying while the operator brings its ingest worker up;
2. checks that the event is stored in the database (by its delivery id);
3. solves a tiny problem with the routing service (POST /route), when it is enabled.
Prints one line per step; the first failure says what was expected and what came, exit 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from logistica_workers.api.webhook_source import Provider
from logistica_workers.ingest.providers import sign

DEADLINE = time.monotonic() + float(os.environ.get("LOGISTICA_TEST_TIMEOUT_SECONDS", "150"))


# three stops, one courier: solved in well under a second
PROBLEM = {
    "origin": {"lat": 38.7223, "lng": -9.1393},
    "stops": [
        {"id": "a", "lat": 38.7139, "lng": -9.13, "priority": 90},
        {"id": "b", "lat": 38.6979, "lng": -9.2064, "priority": 20},
        {"id": "c", "lat": 38.7369, "lng": -9.15, "priority": 50},
    ],
    "couriers": [{"id": "ana", "lat": 38.7369, "lng": -9.1427, "capacity": 5}],
    "options": {"timeLimitSeconds": 2},
}


class Failed(Exception):
    pass


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def send_event(url: str, secret: str) -> str:
    delivery = f"helm-test-{uuid.uuid4()}"
    body = json.dumps({"helmTest": True, "delivery": delivery}).encode()
    last = "no attempt"
    while time.monotonic() < DEADLINE:
        headers = sign(
            Provider.GITHUB, secret, body, timestamp=int(time.time()), delivery_id=delivery
        )
        try:
            status, text = post(url, body, headers)
        except (OSError, urllib.error.URLError) as exc:  # DNS, refused: not up yet
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status in (200, 202):
                print(f"ok: POST {url} -> {status} (delivery {delivery})", flush=True)
                return delivery
            if status != 503 and status < 500:
                raise Failed(f"POST {url}: expected 202, got {status}: {text[:500]}")
            last = f"{status}: {text[:300]}"
        time.sleep(1)
    raise Failed(f"POST {url}: no 202 before the deadline; last answer {last}")


async def stored(dsn: str, namespace: str, source: str, delivery: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        while time.monotonic() < DEADLINE:
            row = await conn.fetchrow(
                "SELECT id, payload FROM external_events"
                " WHERE namespace = $1 AND source = $2 AND event_id = $3",
                namespace,
                source,
                delivery,
            )
            if row is not None:
                payload = json.loads(row["payload"])
                if payload.get("delivery") != delivery:
                    raise Failed(f"stored payload differs from the one sent: {payload}")
                print(f"ok: stored as external_events row {row['id']}", flush=True)
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    raise Failed(f"event {delivery} not in external_events ({namespace}/{source}) in time")


def solve(url: str) -> None:

    last = "no attempt"
    while time.monotonic() < DEADLINE:
        try:
            status, text = post(
                url, json.dumps(PROBLEM).encode(), {"Content-Type": "application/json"}
            )
        except (OSError, urllib.error.URLError) as exc:
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(1)
            continue
        if status == 503:
            last = f"503: {text[:300]}"
            time.sleep(1)
            continue
        if status != 200:
            raise Failed(f"POST {url}: expected 200, got {status}: {text[:500]}")
        answer: dict[str, Any] = json.loads(text)
        routed = sorted(s for r in answer["routes"] for s in r["stops"])
        if routed != ["a", "b", "c"] or answer["unassigned"]:
            raise Failed(f"POST {url}: expected stops a, b, c routed, got {answer}")
        print(f"ok: POST {url} -> 200, {answer['totalDistanceMeters']:.0f} m", flush=True)
        return
    raise Failed(f"POST {url}: no answer before the deadline; last {last}")


def main() -> int:
    env = os.environ
    try:
        secret = Path(env["LOGISTICA_TEST_SECRET_FILE"]).read_text()
        delivery = send_event(env["LOGISTICA_TEST_INGEST_URL"], secret)
        asyncio.run(
            stored(
                env["LOGISTICA_DATABASE_URL"],
                env["LOGISTICA_TEST_NAMESPACE"],
                env["LOGISTICA_TEST_SOURCE"],
                delivery,
            )
        )
        if env.get("LOGISTICA_TEST_ROUTE_URL"):
            solve(env["LOGISTICA_TEST_ROUTE_URL"])
        else:
            print("route: disabled in this release (route.enabled=false), not tested")
    except Failed as exc:
        print(f"FAIL: {exc}", file=sys.stderr, flush=True)
        return 1
    print("PASS: the release ingests, stores and routes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
