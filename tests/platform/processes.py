"""Start a server process, wait for it to be ready with a deadline, stop it politely."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``check`` until true; fail fast if ``proc`` exits; raise with the log tail on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{tail}")
        try:
            if check():
                return
        except Exception:  # not ready yet: keep polling until the deadline
            pass
        time.sleep(interval)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    raise TimeoutError(f"{what} not ready after {timeout}s\n{tail}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
