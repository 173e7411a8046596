"""The logistica image on the real node: a Deployment Ready behind a ClusterIP Service, and
every subcommand starting under the chart's securityContext (uid 10001, read-only root, no
capabilities, seccomp RuntimeDefault)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from logistica_workers.db.migrate import migrate
from tests.e2e.operator_harness import eventually
from tests.e2e.workloads import http, http_probe, kubectl, pod_diagnostics, pod_spec
from tests.platform.kubeclient import api_client
from tests.platform.node import NODE_NAME, Node
from tests.support.problems import city_problem

NS = "node-smoke"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def api(node: Node) -> Iterator[client.ApiClient]:
    a = api_client(node.control_plane.kubeconfig)
    client.CoreV1Api(a).create_namespace({"metadata": {"name": NS}})
    yield a
    a.close()


def wait(api: client.ApiClient, node: Node, what: str, check: Any, timeout: float = 60) -> Any:
    return eventually(check, timeout, what, lambda: pod_diagnostics(api, NS, node))


def test_node_is_ready_with_its_pod_cidr(node: Node, api: client.ApiClient) -> None:
    got = client.CoreV1Api(api).read_node(NODE_NAME)
    assert got.spec.pod_cidr == "10.244.0.0/24"
    assert [a.address for a in got.status.addresses if a.type == "InternalIP"] == [node.ns.node_ip]
    assert node.started_seconds > 0


def test_route_deployment_ready_behind_a_cluster_ip(node: Node, api: client.ApiClient) -> None:
    labels = {"app": "route"}
    client.AppsV1Api(api).create_namespaced_deployment(
        NS,
        {
            "metadata": {"name": "route"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": pod_spec(
                        ["route", "--port", "8081"],
                        readinessProbe=http_probe(8081),
                        ports=[{"containerPort": 8081}],
                    ),
                },
            },
        },
    )
    svc = client.CoreV1Api(api).create_namespaced_service(
        NS,
        {
            "metadata": {"name": "route"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8081}]},
        },
    )
    apps = client.AppsV1Api(api)
    wait(
        api,
        node,
        "route Deployment 2/2 ready",
        lambda: (apps.read_namespaced_deployment("route", NS).status.ready_replicas or 0) == 2,
        90,
    )
    doc = city_problem(8, 2, seed=3, time_limit=1)
    url = f"http://{svc.spec.cluster_ip}/route"
    status, body = wait(
        api,
        node,
        "POST /route through the ClusterIP",
        lambda: (
            (r := http(node, "POST", url, json.dumps(doc).encode(), JSON)) and r[0] == 200 and r
        ),
        30,
    )
    assert status == 200
    assert sum(len(r["stops"]) for r in json.loads(body)["routes"]) == 8

    # the process really runs as the chart says
    pod = client.CoreV1Api(api).list_namespaced_pod(NS, label_selector="app=route").items[0]
    out = kubectl(node, "exec", "-n", NS, pod.metadata.name, "--", "cat", "/proc/1/status")
    fields = dict(
        line.split(":", 1) for line in out.stdout.splitlines() if ":" in line
    )  # pid 1 is tini; its child is logistica, same credentials
    assert fields["Uid"].split()[0] == "10001"
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"
    touch = kubectl(node, "exec", "-n", NS, pod.metadata.name, "--", "touch", "/x", check=False)
    assert touch.returncode != 0 and "Read-only file system" in touch.stderr


def run_to_completion(api: client.ApiClient, node: Node, name: str, spec: dict[str, Any]) -> str:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, {"metadata": {"name": name}, "spec": spec})
    phase = wait(
        api,
        node,
        f"pod {name} finished",
        lambda: (
            (p := core.read_namespaced_pod(name, NS).status.phase) in ("Succeeded", "Failed") and p
        ),
        90,
    )
    log = str(core.read_namespaced_pod_log(name, NS))
    assert phase == "Succeeded", log[-3000:]
    return log


def test_help_solve_and_migrate_run_to_completion(
    node: Node, api: client.ApiClient, pod_database_url: str
) -> None:
    log = run_to_completion(api, node, "help", pod_spec(["--help"], restartPolicy="Never"))
    assert "solve" in log and "ingest" in log
    doc = city_problem(10, 2, seed=5, time_limit=1)
    client.CoreV1Api(api).create_namespaced_config_map(
        NS, {"metadata": {"name": "problem"}, "data": {"p.json": json.dumps(doc)}}
    )
    spec = pod_spec(
        ["solve", "/problem/p.json", "--plot", "/tmp/plan.svg"],
        restartPolicy="Never",
        volumeMounts=[{"name": "problem", "mountPath": "/problem"}],
        volumes=[{"name": "problem", "configMap": {"name": "problem"}}],
    )
    log = run_to_completion(api, node, "solve", spec)
    assert "logistica solve: 2 routes" in log and ", 0 unassigned" in log, log[-2000:]
    log = run_to_completion(
        api,
        node,
        "migrate",
        pod_spec(["migrate", "--database-url", pod_database_url], restartPolicy="Never"),
    )
    assert "error" not in log.lower()


def test_ingest_and_operator_become_ready(
    node: Node, api: client.ApiClient, database_url: str, pod_database_url: str
) -> None:
    asyncio.run(migrate(database_url))
    core = client.CoreV1Api(api)
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: gh}\nstringData: {k: s3cret}\n---\n"
        "apiVersion: logistica.dev/v1alpha1\nkind: WebhookSource\nmetadata: {name: github}\n"
        "spec: {provider: github, secretRef: {name: gh}}\n"
    )
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": "sources"}, "data": {"sources.yaml": manifest}}
    )
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": "ingest"},
            "spec": pod_spec(
                ["ingest", "-f", "/sources/sources.yaml", "--database-url", pod_database_url],
                readinessProbe=http_probe(8080),
                volumeMounts=[{"name": "sources", "mountPath": "/sources"}],
                volumes=[{"name": "sources", "configMap": {"name": "sources"}}],
            ),
        },
    )
    core.create_namespaced_service_account(NS, {"metadata": {"name": "op"}})
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
        {
            "metadata": {"name": "node-smoke-op"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": NS}],
        }
    )
    core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": "operator"},
            "spec": pod_spec(
                ["operator", "-n", NS],
                serviceAccountName="op",
                automount=True,
                env=[{"name": "LOGISTICA_PEERING", "value": ""}],
                readinessProbe=http_probe(8090, "/healthz"),
            ),
        },
    )

    def ready(name: str) -> bool:
        pod = core.read_namespaced_pod(name, NS)
        return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])

    wait(api, node, "ingest pod Ready", lambda: ready("ingest"), 90)
    wait(api, node, "operator pod Ready", lambda: ready("operator"), 90)
    ip = core.read_namespaced_pod("ingest", NS).status.pod_ip
    status, _ = http(node, "POST", f"http://{ip}:8080/ingest/github", b"{}", JSON)
    assert status == 401  # unsigned: refused by a live worker reading the mounted key
