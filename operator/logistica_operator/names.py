"""Names and labels of the objects the operator creates."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MANAGED_BY = "logistica-operator"
SPEC_HASH = "logistica.dev/spec-hash"
SOURCE_LABEL = "logistica.dev/webhooksource"
ROUTINGJOB_LABEL = "logistica.dev/routingjob"


def short(name: str, suffix: str, limit: int = 63) -> str:
    """``name-suffix`` within a DNS label, hashed when too long."""
    full = f"{name}-{suffix}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{name[: limit - len(suffix) - 10]}-{digest}-{suffix}"


def labels(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "logistica",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "logistica",
    }


def spec_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
