"""``kubectl explain`` documents the API: every property of a CRD's spec has a description,
and it is the pydantic model's ``Field(description=...)`` of that field."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from logistica_workers.api.routing import RoutingJobSpec
from logistica_workers.api.webhook_source import WebhookSourceSpec

ROOT = Path(__file__).resolve().parents[3]

DESCRIBED: list[tuple[str, type[BaseModel]]] = [
    ("webhooksources.yaml", WebhookSourceSpec),
    ("routingjobs.yaml", RoutingJobSpec),
]


def sub_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X | None``, ``list[X]``, ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if found := sub_model(arg):
            return found
    return None


def model_descriptions(model: type[BaseModel], path: str = "spec") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, field in model.model_fields.items():
        key = f"{path}.{field.alias or name}"
        out[key] = field.description
        if inner := sub_model(field.annotation):
            out |= model_descriptions(inner, key)
    return out


def crd_descriptions(schema: dict[str, Any], path: str = "spec") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, prop in (schema.get("properties") or {}).items():
        out[f"{path}.{key}"] = prop.get("description")
        out |= crd_descriptions(prop.get("items", prop), f"{path}.{key}")
    return out


def spec_schema(crd: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "crds" / crd).read_text())
    schema: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("crd", "model"), DESCRIBED, ids=[c for c, _ in DESCRIBED])
def test_every_spec_property_has_the_models_description(crd: str, model: type[BaseModel]) -> None:
    in_crd = crd_descriptions(spec_schema(crd))
    in_model = model_descriptions(model)
    assert len(in_crd) >= 20
    assert set(in_crd) == set(in_model), "CRD and model have different fields"
    for path, text in in_crd.items():
        assert text and text.strip(), f"{crd}: {path} has no description"
        assert text == in_model[path], f"{crd}: {path} differs from the model's description"


@pytest.mark.parametrize("crd", [c for c, _ in DESCRIBED])
def test_the_charts_crd_is_the_same_file(crd: str) -> None:
    """Helm installs ``helm/logistica/crds``; it must not drift from ``crds/``."""
    chart = ROOT / "helm" / "logistica" / "crds" / crd
    assert chart.read_bytes() == (ROOT / "crds" / crd).read_bytes()
