"""The one polling helper of the tests: wait for a condition with a deadline, never a bare sleep.

``wait_for`` polls a function until it returns something truthy and returns that; an exception
from the predicate means "not yet" (the last one is reported at the deadline), except ``Abort``,
which means the condition can no longer come true (a process died) and ends the wait at once.
``wait_for_async`` is the same for a coroutine predicate, for tests on the event loop.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Abort(Exception):
    """Raised by a predicate: stop waiting, the condition can no longer become true."""


def _timeout(
    what: str, timeout: float, last: object, diagnostics: Callable[[], str] | None
) -> TimeoutError:
    detail = f" (last: {last!r})" if last is not None else ""
    extra = f"\n{diagnostics()}" if diagnostics else ""
    return TimeoutError(f"timed out after {timeout}s waiting for {what}{detail}{extra}")


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    diagnostics: Callable[[], str] | None = None,
    *,
    interval: float = 0.05,
    process: subprocess.Popen[bytes] | None = None,
) -> T:
    """``predicate()``'s first truthy value, polled every ``interval`` seconds. TimeoutError
    naming ``what`` (plus ``diagnostics()``) at the deadline; Abort at once if ``process``
    exits first."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        if process is not None and process.poll() is not None:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise Abort(f"{what}: the process exited with {process.returncode}{extra}")
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Abort:
            raise
        except Exception as exc:  # not yet: keep polling, report it at the deadline
            last = exc
        if time.monotonic() >= deadline:
            raise _timeout(what, timeout, last, diagnostics)
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], Awaitable[T]],
    timeout: float,
    what: str,
    diagnostics: Callable[[], str] | None = None,
    *,
    interval: float = 0.05,
) -> T:
    """``wait_for`` for a coroutine predicate (the loop keeps running in between)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = await predicate()
            if value:
                return value
            last = value
        except Abort:
            raise
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise _timeout(what, timeout, last, diagnostics)
        await asyncio.sleep(interval)
