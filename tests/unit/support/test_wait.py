"""The tests' polling helper: returns the first truthy value, names what it waited for at the
deadline, and stops at once on Abort or when the watched process exits."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.support.wait import Abort, wait_for, wait_for_async


def test_returns_the_first_truthy_value_and_retries_errors() -> None:
    calls = iter([None, ValueError("not yet"), 0, "done"])

    def predicate() -> object:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for(predicate, 5, "the value", interval=0) == "done"


def test_timeout_names_what_and_the_last_error_and_diagnostics() -> None:
    def failing() -> bool:
        raise ValueError("still starting")

    started = time.monotonic()
    with pytest.raises(TimeoutError) as exc:
        wait_for(failing, 0.2, "the server", lambda: "server log tail", interval=0.01)
    assert time.monotonic() - started < 2
    text = str(exc.value)
    assert "waiting for the server" in text
    assert "still starting" in text
    assert "server log tail" in text


def test_abort_ends_the_wait_at_once() -> None:
    def gone() -> bool:
        raise Abort("the pod was deleted")

    started = time.monotonic()
    with pytest.raises(Abort, match="deleted"):
        wait_for(gone, 30, "the pod")
    assert time.monotonic() - started < 1


def test_a_dead_process_ends_the_wait_at_once() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(10)
    with pytest.raises(Abort, match="exited with 3"):
        wait_for(lambda: False, 30, "the server", process=proc)


async def test_async_variant_polls_a_coroutine() -> None:
    seen = []

    async def predicate() -> int:
        seen.append(1)
        return len(seen) if len(seen) >= 3 else 0

    assert await wait_for_async(predicate, 5, "three polls", interval=0) == 3
    with pytest.raises(TimeoutError, match="never"):

        async def never() -> bool:
            return False

        await wait_for_async(never, 0.1, "never", interval=0.01)
