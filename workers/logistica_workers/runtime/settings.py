"""Numbers read from the environment, checked so that a bad value names itself at start-up."""

from __future__ import annotations

import math
import os


def env_number(name: str, default: float, *, low: float, high: float = math.inf) -> float:
    """``$name`` as a number in ``[low, high]``; ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not (low <= value <= high) or math.isnan(value):
        bound = f"between {low:g} and {high:g}" if high != math.inf else f"at least {low:g}"
        raise ValueError(f"{name} must be {bound}, got {raw}")
    return value


def env_int(name: str, default: int, *, low: int, high: int | None = None) -> int:
    value = env_number(name, default, low=low, high=math.inf if high is None else high)
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {os.environ[name]}")
    return int(value)
