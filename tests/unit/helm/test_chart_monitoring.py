"""The chart's monitoring objects (rendered with `helm template`, every flag on) name only
metrics that our code exports: each alert expression and each dashboard query."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from logistica_operator import metrics as operator_metrics
from logistica_workers.events.app import EventsMetrics
from logistica_workers.ingest.metrics import IngestMetrics
from logistica_workers.routing.service import RouteService
from tests.platform.binaries import binary

CHART = Path(__file__).resolve().parents[3] / "helm" / "logistica"
ON = [
    *("--set", "metrics.podMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true"),
    *("--set", "metrics.grafanaDashboard.enabled=true"),
    *("--set", "metrics.serviceMonitor.enabled=true"),
]
# PromQL words that are not metric names
PROMQL = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "delta", "by", "without",
    "histogram_quantile", "absent", "and", "or", "unless", "on", "ignoring", "le", "label_values",
    "humanizePercentage", "offset", "bool",
}  # fmt: skip


def exported_series() -> set[str]:
    """Every series name our processes can serve at /metrics (counters with ``_total``,
    histograms with ``_bucket``/``_sum``/``_count``), from the real registries."""
    events_service = SimpleNamespace(
        waiting=0, listener=SimpleNamespace(notifications=0, connected=True)
    )
    route = RouteService()
    registries: list[CollectorRegistry] = [
        IngestMetrics(lambda: 0, lambda: {"in_use": 0, "idle": 0, "max": 1}).registry,
        route.registry,
        EventsMetrics(events_service).registry,  # type: ignore[arg-type]
        operator_metrics.REGISTRY,
    ]
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type in ("histogram", "summary"):
                names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
            else:
                names.add(family.name)
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers of ``expr`` that are metric names (not functions, keywords, labels)."""
    expr = re.sub(r"label_values\(([^,()]+),[^)]*\)", r"\1", expr)  # Grafana: metric, label
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {w for w in words if w not in PROMQL and not w.startswith("$")}


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    out = subprocess.run(
        [binary("helm"), "template", "x", str(CHART), *ON],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_metric_name_extraction() -> None:
    assert metric_names(
        'sum by (le, source) (rate(a_bucket{code=~"5.."}[5m])) / on (x) b > 0.8 * 4096'
    ) == {"a_bucket", "b"}
    assert metric_names("label_values(c_total, namespace)") == {"c_total"}
    # a name our code does not export is caught
    assert not metric_names("rate(logistica_ingest_requests[5m])") <= exported_series()


def test_every_alert_names_only_exported_metrics(rendered: list[dict[str, Any]]) -> None:
    exported = exported_series()
    (rule,) = of_kind(rendered, "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "LogisticaIngestErrors",
        "LogisticaIngestQueueNearlyFull",
        "LogisticaDatabaseUnreachable",
        "LogisticaRoutingJobsFailing",
        "LogisticaOperatorReconcileErrors",
    } <= set(alerts)
    for alert, expr in alerts.items():
        names = metric_names(expr)
        assert names, (alert, expr)
        assert names <= exported, f"{alert} names {names - exported}, not exported"


def test_every_dashboard_query_names_only_exported_metrics(
    rendered: list[dict[str, Any]],
) -> None:
    exported = exported_series()
    (cm,) = [
        d for d in of_kind(rendered, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")
    ]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["logistica.json"])
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    assert len(queries) >= 15
    seen: set[str] = set()
    for q in queries:
        names = metric_names(q)
        assert names and names <= exported, f"{q!r} names {names - exported}, not exported"
        seen |= names
    # the dashboard shows every component
    for prefix in (
        "logistica_ingest_",
        "logistica_route_",
        "logistica_events_",
        "logistica_operator_",
    ):
        assert any(n.startswith(prefix) for n in seen), prefix


def test_monitors_select_every_component(rendered: list[dict[str, Any]]) -> None:
    pod_monitors = {d["metadata"]["name"]: d["spec"] for d in of_kind(rendered, "PodMonitor")}
    service_monitors = {
        d["metadata"]["name"]: d["spec"] for d in of_kind(rendered, "ServiceMonitor")
    }
    assert set(pod_monitors) == {"x-logistica-operator", "x-logistica-ingest"}
    assert set(service_monitors) == {"x-logistica-route", "x-logistica-events"}
    ingest = pod_monitors["x-logistica-ingest"]
    # the labels the operator puts on ingest pods, the port it names
    assert ingest["selector"]["matchLabels"]["app.kubernetes.io/managed-by"] == "logistica-operator"
    assert ingest["podMetricsEndpoints"][0]["port"] == "http"
    assert pod_monitors["x-logistica-operator"]["podMetricsEndpoints"][0]["port"] == "health"


def test_monitoring_is_off_by_default() -> None:
    out = subprocess.run(
        [binary("helm"), "template", "x", str(CHART)], capture_output=True, text=True, check=True
    ).stdout
    kinds = {d["kind"] for d in yaml.safe_load_all(out) if d}
    assert not kinds & {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
