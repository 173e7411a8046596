"""Status conditions on plain status dicts (WebhookSource), through the shared typed model
(``logistica_workers.api.conditions``) so both kinds follow one set of rules."""

from __future__ import annotations

from typing import Any

import kopf

from logistica_workers.api.conditions import Condition, now
from logistica_workers.api.conditions import set_condition as set_typed

__all__ = ["announce", "is_true", "now", "set_condition"]


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
) -> tuple[list[dict[str, Any]], bool]:
    """The new list, and whether the condition's status changed (a transition)."""
    typed = [Condition.model_validate(c) for c in conditions or []]
    out, changed = set_typed(typed, type_, status, reason, message, generation)
    return [c.model_dump(mode="json", by_alias=True) for c in out], changed


def is_true(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions or [])


def announce(body: Any, transitions: list[tuple[str, bool, str, str]]) -> None:
    """One Kubernetes Event per condition transition: Normal when it became true, else Warning.

    ``kopf.event`` rather than ``kopf.info``: the operator posts only WARNING and up of kopf's
    own log lines as Events (main.py), and our Normal transitions must not be filtered with them.
    """
    for type_, ok, reason, message in transitions:
        text = f"{type_}: {message}"
        if ok:
            kopf.event(body, type="Normal", reason=reason, message=text)
        else:
            kopf.warn(body, reason=reason, message=text)
