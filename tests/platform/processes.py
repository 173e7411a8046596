"""Start a server process, show its log tail when waiting on it fails, stop it politely."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def log_tail(log: Path, chars: int = 3000) -> Callable[[], str]:
    """A ``diagnostics`` for ``tests.support.wait.wait_for``: the end of a process's log."""
    return lambda: log.read_text(errors="replace")[-chars:] if log.exists() else ""


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
