"""Standard status conditions (type, status, reason, message, observedGeneration)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
) -> tuple[list[dict[str, Any]], bool]:
    """The new list, and whether the condition's status changed (a transition)."""
    out = [dict(c) for c in conditions or []]
    text = "True" if status else "False"
    for c in out:
        if c.get("type") == type_:
            changed = c.get("status") != text
            if changed:
                c["lastTransitionTime"] = now()
            c.update(status=text, reason=reason, message=message, observedGeneration=generation)
            return out, changed
    out.append(
        {
            "type": type_,
            "status": text,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": now(),
        }
    )
    return out, True


def is_true(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions or [])
