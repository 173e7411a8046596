"""Status conditions as Kubernetes writes them (``metav1.Condition``), shared by every kind.

kstatus conventions: a condition is ``type``/``status``/``reason``/``message`` with the
``observedGeneration`` of the spec it describes, so ``kubectl wait --for=condition=X`` can tell a
fresh answer from a stale one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict

from logistica_workers.api.common import ApiModel


def now() -> str:
    """The current time as the API server writes it (RFC 3339, seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusModel(ApiModel):
    """A status read back from the API server: unknown fields (a newer writer's) are ignored."""

    model_config = ConfigDict(extra="ignore")


class WebhookSourceCondition(StrEnum):
    READY = "Ready"
    SECRET_RESOLVED = "SecretResolved"
    AVAILABLE = "Available"


class Condition(StatusModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    observed_generation: int = 0
    last_transition_time: str | None = None


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
) -> tuple[list[Condition], bool]:
    """The list with ``type_`` set, and whether its status changed (a transition).

    ``lastTransitionTime`` moves only on a transition; other conditions keep their order.
    """
    text: Literal["True", "False"] = "True" if status else "False"
    out: list[Condition] = []
    changed = True
    for c in conditions:
        if c.type != type_:
            out.append(c)
            continue
        changed = c.status != text
        out.append(
            c.model_copy(
                update={
                    "status": text,
                    "reason": reason,
                    "message": message,
                    "observed_generation": generation,
                    "last_transition_time": c.last_transition_time
                    if c.last_transition_time and not changed
                    else now(),
                }
            )
        )
    if all(c.type != type_ for c in conditions):
        out.append(
            Condition(
                type=type_,
                status=text,
                reason=reason,
                message=message,
                observed_generation=generation,
                last_transition_time=now(),
            )
        )
    return out, changed


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    return any(c.type == type_ and c.status == "True" for c in conditions)


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
