"""Writing a RoutingJob's status: condition transitions (with an Event each) and merge patches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from logistica_operator import kube
from logistica_operator.conditions import announce
from logistica_workers.api import API_GROUP, API_VERSION, Condition, RoutingJobStatus
from logistica_workers.api.conditions import set_condition

PLURAL = "routingjobs"
Key = tuple[str, str]  # (namespace, name)


class Conditions:
    """Sets conditions on a copy of the current list, remembering the transitions, which
    :meth:`announce` posts as Events once the status is written (pure until then)."""

    def __init__(self, body: Mapping[str, Any], current: RoutingJobStatus) -> None:
        self.body = body
        self.generation = int((body.get("metadata") or {}).get("generation") or 0)
        self.items: list[Condition] = list(current.conditions)
        self.transitions: list[tuple[str, bool, str, str]] = []

    def set(self, type_: str, ok: bool, reason: str, message: str) -> Conditions:
        self.items, changed = set_condition(self.items, type_, ok, reason, message, self.generation)
        if changed:
            self.transitions.append((type_, ok, reason, message))
        return self

    def announce(self) -> None:
        announce(cast(Any, self.body), self.transitions)
        self.transitions = []


async def get(namespace: str, name: str) -> dict[str, Any] | None:
    return await kube.get(f"{API_GROUP}/{API_VERSION}", "RoutingJob", name, namespace)


async def write(key: Key, status: RoutingJobStatus, conditions: Conditions | None = None) -> None:
    """Merge-patch the fields set on ``status`` (a RoutingJob deleted meanwhile is not an
    error), then announce the conditions' transitions."""
    namespace, name = key
    await kube.patch_status(PLURAL, name, namespace, status.patch())
    if conditions is not None:
        conditions.announce()
