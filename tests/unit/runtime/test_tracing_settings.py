"""Tracing is off unless an OTLP endpoint is set; bad OTEL_* values fail with their name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from logistica_workers.runtime import tracing


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        *tracing.ENDPOINT_VARIABLES,
        *tracing.PROTOCOL_VARIABLES,
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
    ):
        monkeypatch.delenv(var, raising=False)


def test_off_without_an_endpoint() -> None:
    assert not tracing.wanted()
    assert tracing.configure("logistica-test") is False
    assert not tracing.enabled()
    assert tracing.tracer("x") is None
    assert tracing.current_ids() is None and tracing.traceparent() is None
    with tracing.span(None, "nothing") as span:
        assert span is None


@pytest.mark.parametrize(
    ("var", "value"),
    [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")],
)
def test_standard_switches_turn_it_off(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing.wanted()
    monkeypatch.setenv(var, value)
    assert not tracing.wanted()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL='grpc'"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "must be an http:// or https:// URL"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin'"),
    ],
)
def test_unsupported_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(tracing.TracingConfigError, match=named.replace("(", r"\(")):
        tracing.check_environment()


def test_the_cli_refuses_an_unsupported_protocol() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "logistica_workers", "route", "--port", "0"],
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='grpc'" in proc.stderr
    assert "http/protobuf" in proc.stderr


def test_a_traceparent_names_its_parent() -> None:
    from opentelemetry import trace

    ctx = tracing.parent_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert ctx is not None
    sc = trace.get_current_span(ctx).get_span_context()
    assert format(sc.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert format(sc.span_id, "016x") == "00f067aa0ba902b7"
    assert tracing.parent_from_traceparent("garbage") is None
    assert tracing.parent_from_traceparent(None) is None
