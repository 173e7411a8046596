"""Chart values for traces and profiles: `tracing.*` becomes the standard OTEL_* env of the
operator, route and events containers, `debug.tokenSecret` LOGISTICA_DEBUG_TOKEN from a Secret;
bad values are refused by the values schema, naming the field."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.binaries import binary

CHART = Path(__file__).resolve().parents[3] / "helm" / "logistica"


def helm_template(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("helm")), "template", "t", str(CHART), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def container_env(*args: str) -> dict[str, dict[str, Any]]:
    """Deployment name -> {env name: env entry} of its first container."""
    out = helm_template(*args)
    assert out.returncode == 0, out.stderr
    found: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(out.stdout):
        if doc and doc.get("kind") == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            found[doc["metadata"]["name"]] = {e["name"]: e for e in container.get("env", [])}
    return found


def test_no_tracing_or_debug_env_by_default() -> None:
    for name, env in container_env().items():
        assert not [k for k in env if k.startswith("OTEL_")], name
        assert "LOGISTICA_DEBUG_TOKEN" not in env, name


def test_tracing_and_debug_values_become_env() -> None:
    envs = container_env(
        *("--set", "tracing.otlpEndpoint=http://collector.obs:4318"),
        *("--set", "tracing.env.OTEL_TRACES_SAMPLER=parentbased_traceidratio"),
        *("--set-string", "tracing.env.OTEL_TRACES_SAMPLER_ARG=0.1"),
        *("--set", "debug.tokenSecret=profiling"),
    )
    services = {}
    for name, env in envs.items():
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://collector.obs:4318"
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.1"
        services[name] = env["OTEL_SERVICE_NAME"]["value"]
    assert sorted(services.values()) == [
        "logistica-events",
        "logistica-operator",
        "logistica-route",
    ]
    debug = {n for n, env in envs.items() if "LOGISTICA_DEBUG_TOKEN" in env}
    assert len(debug) == 2 and not any("operator" in n for n in debug)
    for name in debug:
        ref = envs[name]["LOGISTICA_DEBUG_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "profiling", "key": "token"}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("tracing.otlpEndpoint=grpc://collector:4317", "/tracing/otlpEndpoint"),
        ("tracing.env.FOO=1", "FOO"),
        ("tracing.sampler=1", "sampler"),
        ("debug.tokenSecret=Not_A_Name", "/debug/tokenSecret"),
    ],
)
def test_bad_values_are_refused_naming_the_field(value: str, field: str) -> None:
    out = helm_template("--set", value)
    assert out.returncode != 0
    assert field in out.stderr
