"""The API models accept every example and reject every invalid fixture, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from logistica_workers.api import Problem, RoutingJobSpec, ValidationFailure
from tests.crs import InvalidCase, example_objects, invalid_cases, validate_spec


@pytest.mark.parametrize(
    ("label", "obj"),
    [e for e in example_objects() if e[1]["kind"] in {"WebhookSource", "RoutingJob"}],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_examples_are_valid(label: str, obj: dict[str, Any]) -> None:
    assert validate_spec(obj) is None


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda c: c.name)
def test_invalid_objects_name_the_field(case: InvalidCase) -> None:
    error = validate_spec(case.obj)
    assert error is not None, f"{case.name} was accepted"
    assert case.field in error
    if case.message:
        assert case.message in error


def test_at_least_eight_distinct_invalid_cases() -> None:
    assert len({c.field for c in invalid_cases()}) >= 8


def test_problem_ids_default_to_positions() -> None:
    p = Problem.model_validate(
        {
            "origin": {"lat": 0, "lng": 0},
            "stops": [
                {"lat": 0, "lng": 1, "priority": 1},
                {"id": "x", "lat": 1, "lng": 0, "priority": 2},
            ],
            "couriers": [{"id": "c", "lat": 0, "lng": 0, "capacity": 1}],
        }
    )
    assert [s.id for s in p.stops] == ["0", "x"]


def test_problem_default_id_collision_is_an_error() -> None:
    with pytest.raises(ValueError, match="default id '0' is taken"):
        Problem.model_validate(
            {
                "origin": {"lat": 0, "lng": 0},
                "stops": [
                    {"lat": 0, "lng": 1, "priority": 1},
                    {"id": "0", "lat": 1, "lng": 0, "priority": 2},
                ],
                "couriers": [{"id": "c", "lat": 0, "lng": 0, "capacity": 1}],
            }
        )


def test_inline_problem_takes_spec_options() -> None:
    spec = RoutingJobSpec.model_validate(
        {
            "problem": {
                "origin": {"lat": 0, "lng": 0},
                "stops": [{"id": "a", "lat": 0, "lng": 1, "priority": 1}],
                "couriers": [{"id": "c", "lat": 0, "lng": 0, "capacity": 1}],
            },
            "options": {"timeLimitSeconds": 7, "returnToOrigin": True},
        }
    )
    problem = spec.inline_problem()
    assert problem is not None
    assert problem.options.time_limit_seconds == 7
    assert problem.options.return_to_origin is True


def test_validation_failure_lists_paths() -> None:
    failure = ValidationFailure([("spec.a", "bad"), ("", "whole")])
    assert str(failure) == "spec.a: bad; whole"


def test_speed_below_one_kmh_is_refused_naming_the_field() -> None:
    """Found by schemathesis: 5e-324 km/h passed ``gt=0`` and divided travel times by zero."""
    from pydantic import ValidationError

    from logistica_workers.api import Problem
    from tests.support.problems import city_problem

    doc = city_problem(3, 1, seed=1)
    doc["options"] = {**doc.get("options", {}), "speedKmh": 5e-324}
    with pytest.raises(ValidationError, match="speedKmh"):
        Problem.model_validate(doc)
    doc["options"]["speedKmh"] = 1
    assert Problem.model_validate(doc).options.speed_kmh == 1
