"""Run the ``logistica`` command as a user would, in a child process."""

from __future__ import annotations

import os
import subprocess
import sys


def logistica(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``logistica ARGS`` with ``env`` added to this environment; never raises on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "logistica_workers", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
