"""The RoutingJob status model: what the solver and the operator write is what the CRD keeps."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from logistica_workers.api import (
    Phase,
    RoutingJobStatus,
    RoutingProgress,
    Solution,
    SolverInfo,
)

ROOT = Path(__file__).resolve().parents[3]


def status_schema() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "crds" / "routingjobs.yaml").read_text())
    version = doc["spec"]["versions"][0]
    return version["schema"]["openAPIV3Schema"]["properties"]["status"]  # type: ignore[no-any-return]


def model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if found := model_of(arg):
            return found
    return None


def fields(model: type[BaseModel], path: str = "status") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        key = f"{path}.{info.alias or name}"
        out.add(key)
        if inner := model_of(info.annotation):
            out |= fields(inner, key)
    return out


def schema_fields(schema: dict[str, Any], path: str = "status") -> set[str]:
    out: set[str] = set()
    for key, prop in (schema.get("properties") or {}).items():
        out.add(f"{path}.{key}")
        out |= schema_fields(prop.get("items", prop), f"{path}.{key}")
    return out


def test_the_crd_status_schema_has_exactly_the_models_fields() -> None:
    """A field the CRD lacks is pruned by the API server; one the model lacks is never read."""
    assert schema_fields(status_schema()) == fields(RoutingJobStatus)


def test_the_phase_enum_is_the_crds() -> None:
    assert {p.value for p in Phase} == set(status_schema()["properties"]["phase"]["enum"])


def solution() -> Solution:
    return Solution(
        routes=[],
        unassigned=["s1"],
        total_distance_meters=0.0,
        total_duration_seconds=0.0,
        objective=1.0,
        partial=True,
        solver=SolverInfo(engine="ortools", status="FEASIBLE", wall_seconds=0.1, solutions=1),
    )


def test_a_patch_holds_only_the_fields_set_and_an_explicit_none_clears() -> None:
    progress = RoutingProgress(best_objective=1.0, solutions_found=2, elapsed_seconds=0.5)
    assert RoutingJobStatus(progress=progress).patch() == {
        "progress": {"bestObjective": 1.0, "solutionsFound": 2, "elapsedSeconds": 0.5}
    }
    assert RoutingJobStatus(phase=Phase.RUNNING, completion_time=None).patch() == {
        "phase": "Running",
        "completionTime": None,
    }
    written = RoutingJobStatus(result=solution()).patch()
    assert written["result"]["solver"]["wallSeconds"] == 0.1  # nested fields written whole


def test_read_back_what_was_written_ignoring_unknown_fields() -> None:
    written = RoutingJobStatus(phase=Phase.SUCCEEDED, result=solution()).patch()
    read = RoutingJobStatus.read({**written, "someNewerField": 1})
    assert read.phase is Phase.SUCCEEDED
    assert read.result == solution()
    assert read.has_result
    assert not RoutingJobStatus.read(None).has_result
    assert RoutingJobStatus.read({}).phase is None


def test_phase_groups() -> None:
    assert {p for p in Phase if p.finished} == {Phase.SUCCEEDED, Phase.FAILED}
    assert {p for p in Phase if p.waiting} == {Phase.PENDING, Phase.QUEUED}
