"""CPU profiles on demand: ``GET /debug/profile?seconds=N`` on every HTTP worker, off unless
``LOGISTICA_DEBUG_TOKEN`` is set, and then only with ``Authorization: Bearer <token>``.

A thread samples every thread's Python stack (``sys._current_frames``) ``hz`` times a second
for ``seconds`` while the event loop keeps serving, and answers with collapsed stacks (one
``frame;frame;frame count`` line per stack, for flamegraph.pl / speedscope) or speedscope's
JSON. Wall-clock sampling: an idle loop shows up as its ``select`` frame. No ptrace, no extra
capability: it works in the restricted pods where py-spy cannot attach.
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from aiohttp import web

from logistica_workers.runtime.errors import error_response
from logistica_workers.runtime.settings import env_optional

MAX_SECONDS = 60.0
MAX_HZ = 1000
FORMATS = ("collapsed", "speedscope")

Frame = tuple[str, str, int]  # function, file, first line


def debug_token() -> str | None:
    """``LOGISTICA_DEBUG_TOKEN``: enables the debug endpoints (unset: they do not exist)."""
    return env_optional("LOGISTICA_DEBUG_TOKEN")


@dataclass
class Profile:
    seconds: float = 0.0
    interval: float = 0.01
    samples: Counter[tuple[Frame, ...]] = field(default_factory=Counter)

    def collapsed(self) -> str:
        lines = [
            ";".join(f"{fn} ({path}:{line})" if path else fn for fn, path, line in stack)
            + f" {count}"
            for stack, count in self.samples.most_common()
        ]
        return "\n".join(lines) + ("\n" if lines else "")

    def speedscope(self, name: str) -> dict[str, Any]:
        index: dict[Frame, int] = {}
        stacks: list[list[int]] = []
        weights: list[float] = []
        for stack, count in self.samples.most_common():
            stacks.append([index.setdefault(f, len(index)) for f in stack])
            weights.append(round(count * self.interval, 6))
        return {
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": [{"name": f[0], "file": f[1], "line": f[2]} for f in index]},
            "profiles": [
                {
                    "type": "sampled",
                    "name": name,
                    "unit": "seconds",
                    "startValue": 0,
                    "endValue": round(self.seconds, 6),
                    "samples": stacks,
                    "weights": weights,
                }
            ],
            "exporter": "logistica",
        }


def _stack(frame: FrameType | None) -> Iterator[Frame]:
    while frame is not None:
        code = frame.f_code
        yield (code.co_name, code.co_filename, code.co_firstlineno)
        frame = frame.f_back


def sample(seconds: float, hz: int) -> Profile:
    """Sample every other thread's stack ``hz`` times a second for ``seconds`` (blocking)."""
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    profile = Profile(interval=1.0 / hz)
    started = time.monotonic()
    deadline = started + seconds
    next_at = started
    while (now := time.monotonic()) < deadline:
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            stack = (
                ("thread " + names.get(ident, str(ident)), "", 0),
                *reversed(list(_stack(frame))),
            )
            profile.samples[stack] += 1
        next_at = max(next_at + profile.interval, now)  # behind: no burst to catch up
        time.sleep(max(0.0, next_at - time.monotonic()))
    profile.seconds = time.monotonic() - started
    return profile


class Profiler:
    """The ``/debug/profile`` handler; one profile at a time."""

    def __init__(self, token: str, name: str = "logistica") -> None:
        self.token = token.encode()
        self.name = name
        self.busy = asyncio.Lock()

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return error_response(
                401, "unauthorized", "send Authorization: Bearer <LOGISTICA_DEBUG_TOKEN>"
            )
        try:
            seconds, hz, fmt = _parameters(request)
        except ValueError as exc:
            field_name, message = exc.args
            return error_response(400, "bad_parameter", message, field=field_name)
        if self.busy.locked():
            return error_response(409, "busy", "a profile is already being taken; retry after it")
        async with self.busy:
            profile = await asyncio.to_thread(sample, seconds, hz)
        if fmt == "speedscope":
            return web.json_response(profile.speedscope(f"{self.name} {seconds:g}s"))
        return web.Response(text=profile.collapsed(), content_type="text/plain")


def _parameters(request: web.Request) -> tuple[float, int, str]:
    q = request.query
    unknown = set(q) - {"seconds", "hz", "format"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValueError(name, f"unknown parameter {name!r} (known: format, hz, seconds)")
    try:
        seconds = float(q.get("seconds", "10"))
    except ValueError:
        raise ValueError("seconds", f"seconds must be a number, got {q['seconds']!r}") from None
    if not 0 < seconds <= MAX_SECONDS:  # NaN fails too
        raise ValueError("seconds", f"seconds must be above 0 and at most {MAX_SECONDS:g}")
    raw_hz = q.get("hz", "100")
    if not raw_hz.isdigit() or not 1 <= int(raw_hz) <= MAX_HZ:
        raise ValueError("hz", f"hz must be a whole number from 1 to {MAX_HZ}, got {raw_hz!r}")
    fmt = q.get("format", "collapsed")
    if fmt not in FORMATS:
        raise ValueError("format", f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return seconds, int(raw_hz), fmt


def install(app: web.Application, name: str) -> bool:
    """Add ``GET /debug/profile`` to ``app`` when ``LOGISTICA_DEBUG_TOKEN`` is set."""
    token = debug_token()
    if token is None:
        return False
    app.router.add_get("/debug/profile", Profiler(token, name).handle)
    return True
