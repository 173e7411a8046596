"""The one reader of ``LOGISTICA_*`` variables: typed, range- and choice-checked.

A bad value raises :class:`SettingError` naming the variable and what is allowed; the
``logistica`` command turns it into one line on stderr and exit 2 before anything starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

#: variables that take one of a fixed set of values (the README's table test walks these)
CHOICES: dict[str, Sequence[str]] = {
    "LOGISTICA_LOG_LEVEL": LOG_LEVELS,
    "LOGISTICA_LOG_FORMAT": LOG_FORMATS,
    "LOGISTICA_IMAGE_PULL_POLICY": PULL_POLICIES,
}


class SettingError(ValueError):
    """A ``LOGISTICA_*`` variable holds a value its reader does not allow."""


def env_str(name: str, default: str) -> str:
    """``$name`` stripped; ``default`` when unset (an empty value is kept: it may mean "none")."""
    raw = os.environ.get(name)
    return default if raw is None else raw.strip()


def env_optional(name: str) -> str | None:
    """``$name`` stripped, or None when unset or empty."""
    return os.environ.get(name, "").strip() or None


def env_choice(name: str, default: str, choices: Sequence[str], *, fold: bool = False) -> str:
    """``$name`` as one of ``choices`` (compared case-insensitively when ``fold``)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    for choice in choices:
        if raw == choice or (fold and raw.lower() == choice.lower()):
            return choice
    raise SettingError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")


def env_number(name: str, default: float, *, low: float, high: float = math.inf) -> float:
    """``$name`` as a number in ``[low, high]``; ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number, got {raw!r}") from None
    if not (low <= value <= high) or math.isnan(value):
        raise SettingError(f"{name} must be {_bounds(low, high)}, got {raw}")
    return value


def env_int(name: str, default: int, *, low: int, high: int | None = None) -> int:
    """``$name`` as a whole number in ``[low, high]``; ``default`` when unset or empty."""
    value = env_number(name, default, low=low, high=math.inf if high is None else high)
    if value != int(value):
        raise SettingError(f"{name} must be a whole number, got {os.environ[name].strip()}")
    return int(value)


def env_port(name: str, default: int) -> int:
    """A TCP port (0: any free one)."""
    return env_int(name, default, low=0, high=65535)


def _bounds(low: float, high: float) -> str:
    if high == math.inf:
        return f"at least {_show(low)}"
    return f"between {_show(low)} and {_show(high)}"


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
