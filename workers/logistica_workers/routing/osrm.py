"""A road matrix from an OSRM server's ``table`` service, in blocks the server accepts.

``GET /table/v1/{profile}/{lng,lat;...}?sources=...&destinations=...&annotations=duration,distance``
answers ``{"code": "Ok", "durations": [[s]], "distances": [[m]]}`` with null where no route
exists. A server refuses tables over its ``--max-table-size`` (100 locations by default), so
the locations are cut into blocks of ``chunk // 2`` and every (source block, destination block)
pair is one request over at most ``chunk`` coordinates.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import urlsplit

import aiohttp

DEFAULT_CHUNK = 100  # osrm-routed's default --max-table-size
DEFAULT_CONCURRENCY = 4

Cell = float | None


class OsrmError(Exception):
    """The server could not be reached, or it refused or garbled a table."""


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash; ValueError unless it is http(s)://host[...]."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"--osrm must be an http(s) URL like http://localhost:5000, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(
            f"--osrm takes the server's base URL, without ?query or #fragment: {url!r}"
        )
    return url.rstrip("/")


def _blocks(n: int, size: int) -> list[range]:
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def _cell(value: Any, where: str) -> Cell:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OsrmError(f"{where}: {value!r} is not a number")
    return round(max(0.0, float(value)), 1)


async def _table(
    session: aiohttp.ClientSession,
    url: str,
    points: list[tuple[float, float]],
    src: range,
    dst: range,
) -> tuple[list[list[Cell]], list[list[Cell]]]:
    """Durations and distances from ``src`` to ``dst`` (indices into ``points``)."""
    coords = sorted(set(src) | set(dst))
    at = {loc: k for k, loc in enumerate(coords)}
    path = ";".join(f"{points[i][1]:.6f},{points[i][0]:.6f}" for i in coords)  # lng,lat
    params = {
        "sources": ";".join(str(at[i]) for i in src),
        "destinations": ";".join(str(at[j]) for j in dst),
        "annotations": "duration,distance",
    }
    where = (
        f"{url}/... (sources {src.start}-{src.stop - 1}, destinations {dst.start}-{dst.stop - 1})"
    )
    try:
        async with session.get(f"{url}/{path}", params=params) as resp:
            try:
                doc = await resp.json(content_type=None)
            except ValueError:
                text = (await resp.text())[:200]
                raise OsrmError(f"{where}: HTTP {resp.status}, not JSON: {text!r}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OsrmError(f"{url}: {type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict):
        raise OsrmError(f"{where}: HTTP {resp.status}, the answer is not a JSON object")
    if resp.status != 200 or doc.get("code") != "Ok":
        raise OsrmError(
            f"{where}: HTTP {resp.status} {doc.get('code', '(no code)')}: "
            f"{doc.get('message', '(no message)')}"
        )
    out: list[list[list[Cell]]] = []
    for field in ("durations", "distances"):
        rows: Any = doc.get(field)
        if not (isinstance(rows, list) and len(rows) == len(src)) or not all(
            isinstance(r, list) and len(r) == len(dst) for r in rows
        ):
            raise OsrmError(
                f"{where}: no {len(src)} x {len(dst)} {field!r} in the answer "
                "(does the server support annotations=duration,distance? OSRM >= 5.18 does)"
            )
        out.append([[_cell(v, f"{where} {field}") for v in row] for row in rows])
    return out[0], out[1]


async def fetch_matrix(
    base_url: str,
    points: list[tuple[float, float]],
    *,
    profile: str = "driving",
    chunk: int = DEFAULT_CHUNK,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = 30.0,
) -> tuple[list[list[Cell]], list[list[Cell]]]:
    """Durations (s) and distances (m) between every pair of ``points`` ((lat, lng) each)."""
    if chunk < 2:
        raise ValueError("--chunk must be at least 2 locations per request")
    n = len(points)
    url = f"{check_base_url(base_url)}/table/v1/{profile}"
    durations: list[list[Cell]] = [[None] * n for _ in range(n)]
    distances: list[list[Cell]] = [[None] * n for _ in range(n)]
    blocks = _blocks(n, max(1, chunk // 2))
    gate = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession, src: range, dst: range) -> None:
        async with gate:
            dur, dist = await _table(session, url, points, src, dst)
        for a, i in enumerate(src):
            durations[i][dst.start : dst.stop] = dur[a]
            distances[i][dst.start : dst.stop] = dist[a]

    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        tasks = [asyncio.create_task(one(session, s, d)) for s in blocks for d in blocks]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    for i in range(n):
        durations[i][i] = distances[i][i] = 0.0
    return durations, distances
