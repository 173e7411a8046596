"""The solver Job carries the RoutingJob's trace context as TRACEPARENT (and an annotation)."""

from __future__ import annotations

from logistica_operator.builders import solver_job
from logistica_operator.config import OperatorConfig
from logistica_workers.api import RoutingJobSpec
from logistica_workers.runtime.tracing import TRACEPARENT_ANNOTATION

SPEC = RoutingJobSpec.model_validate(
    {"problemFrom": {"configMapKeyRef": {"name": "p", "key": "k"}}}
)
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def env_of(job: dict) -> dict[str, str]:  # type: ignore[type-arg]
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_traceparent_reaches_the_solver_container() -> None:
    job = solver_job("rj", "ns", "uid-1", SPEC, 1, OperatorConfig(), TP)
    assert env_of(job)["TRACEPARENT"] == TP
    assert job["metadata"]["annotations"][TRACEPARENT_ANNOTATION] == TP


def test_no_trace_no_variable() -> None:
    job = solver_job("rj", "ns", "uid-1", SPEC, 1, OperatorConfig())
    assert "TRACEPARENT" not in env_of(job)
    assert "annotations" not in job["metadata"]
