"""Shared custom-resource fixtures: the examples and the invalid cases, for unit and e2e tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from logistica_workers.api import RoutingJobSpec, WebhookSourceSpec, describe_errors

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SPEC_MODELS: dict[str, type[WebhookSourceSpec] | type[RoutingJobSpec]] = {
    "WebhookSource": WebhookSourceSpec,
    "RoutingJob": RoutingJobSpec,
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@dataclass(frozen=True)
class InvalidCase:
    name: str
    kind: str
    field: str
    message: str | None
    obj: dict[str, Any]


def invalid_cases() -> list[InvalidCase]:
    doc = yaml.safe_load((REPO / "tests" / "fixtures" / "invalid_crs.yaml").read_text())
    cases = []
    for c in doc["cases"]:
        obj = merge_patch(doc["bases"][c["kind"]], c["patch"])
        obj["metadata"] = {"name": c["name"]}
        cases.append(InvalidCase(c["name"], c["kind"], c["field"], c.get("message"), obj))
    return cases


def example_objects() -> list[tuple[str, dict[str, Any]]]:
    """Every document in examples/*.yaml, labelled ``file:kind/name``."""
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


def validate_spec(obj: dict[str, Any]) -> str | None:
    """None when the spec is valid, else the error text with field paths."""
    try:
        SPEC_MODELS[obj["kind"]].model_validate(obj.get("spec"))
    except ValidationError as exc:
        return str(describe_errors(exc, prefix="spec"))
    return None
