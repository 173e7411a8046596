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
        bound = (
            f"between {_show(low)} and {_show(high)}"
            if high != math.inf
            else f"at least {_show(low)}"
        )
        raise ValueError(f"{name} must be {bound}, got {raw}")
    return value


def env_int(name: str, default: int, *, low: int, high: int | None = None) -> int:
    value = env_number(name, default, low=low, high=math.inf if high is None else high)
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {os.environ[name]}")
    return int(value)


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
