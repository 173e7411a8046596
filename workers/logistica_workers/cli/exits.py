"""The one way a ``logistica`` command ends in error: one line on stderr and an exit code."""

from __future__ import annotations

import sys

EXIT_USAGE = 2  # bad input: an argument, a file, a setting; the message names it
EXIT_FAILURE = 1  # the input was fine but the work failed (database down, port taken, ...)


def fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    """Print ``logistica COMMAND: MESSAGE`` to stderr and return ``code`` (to exit with)."""
    print(f"logistica {command}: {message}", file=sys.stderr)
    return code
