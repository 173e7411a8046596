"""The solver Job carries the RoutingJob's trace context as TRACEPARENT (and an annotation)."""

from __future__ import annotations

import pytest

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


def test_the_operators_otel_settings_reach_its_workloads(monkeypatch: pytest.MonkeyPatch) -> None:
    from logistica_operator.builders import ingest_objects
    from logistica_workers.api import WebhookSourceSpec

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "logistica-operator")  # each keeps its own
    cfg = OperatorConfig()
    job_env = env_of(solver_job("rj", "ns", "uid-1", SPEC, 1, cfg, TP))
    spec = WebhookSourceSpec.model_validate({"provider": "github", "secretRef": {"name": "s"}})
    deployment = ingest_objects("src", "ns", "uid-2", spec, cfg)[0]
    ingest_env = env_of(deployment)
    for env in (job_env, ingest_env):
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert "OTEL_SERVICE_NAME" not in env
