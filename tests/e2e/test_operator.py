"""The operator end to end on the real node: kubectl-apply-style objects in, worker pods of the
built image Ready, signed webhooks through the Service's ClusterIP into Postgres, solver Jobs run
by the real Job controller with results in status, owned objects removed by the real garbage
collector. The operator itself runs on the host (its RBAC is test_helm's subject)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from logistica_workers.api import API_GROUP, API_VERSION, SOLVER_EXIT_INTERRUPTED
from logistica_workers.db.migrate import migrate
from tests.e2e.operator_harness import OperatorProcess, custom, eventually, get_cr
from tests.e2e.workloads import IMAGE, PodWatch, http, kubectl, pod_diagnostics
from tests.platform.kubeclient import api_client, install_crds
from tests.platform.node import Node
from tests.support.feasibility import check, haversine_m
from tests.support.ingest import signed, source
from tests.support.otlp import ReceivedSpan, ThreadedReceiver
from tests.support.problems import city_problem

NS = "ops"


class Env:
    def __init__(
        self,
        api: client.ApiClient,
        node: Node,
        pods: PodWatch,
        operator: OperatorProcess,
        dsn: str,
        traces: ThreadedReceiver,
    ) -> None:
        self.api, self.node, self.pods, self.operator, self.dsn = api, node, pods, operator, dsn
        self.traces = traces
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)

    def diagnostics(self) -> str:
        return (
            f"operator log:\n{self.operator.tail()}\n"
            f"{pod_diagnostics(self.api, NS, self.node)[-6000:]}"
        )

    def create(self, plural: str, body: dict[str, Any]) -> None:
        custom(self.api).create_namespaced_custom_object(API_GROUP, API_VERSION, NS, plural, body)

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> None:
        custom(self.api).patch_namespaced_custom_object(
            API_GROUP, API_VERSION, NS, plural, name, body
        )

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return get_cr(self.api, plural, NS, name)

    def wait(self, what: str, check: Any, timeout: float = 60) -> Any:
        return eventually(check, timeout, what, self.diagnostics)


@pytest.fixture(scope="module")
def env(
    node: Node,
    database_url: str,
    pod_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    asyncio.run(migrate(database_url))
    api = api_client(node.control_plane.kubeconfig)
    install_crds(api)
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    core.create_namespaced_secret(
        NS, {"metadata": {"name": "logistica-database"}, "stringData": {"url": pod_database_url}}
    )
    pods = PodWatch(api, NS)
    pods.start()
    work = tmp_path_factory.mktemp("operator")
    # traces: the operator, the ingest workers and the solver pods it creates export to this
    # receiver, on the host address the pods reach (as they reach Postgres)
    traces = ThreadedReceiver(node.host_ip)
    endpoint = traces.start().url
    operator = OperatorProcess(
        node.control_plane,
        NS,
        work / "operator.log",
        LOGISTICA_SOLVER_CONCURRENCY="1",
        LOGISTICA_IMAGE=IMAGE,
        LOGISTICA_IMAGE_PULL_POLICY="Never",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    operator.start()
    e = Env(api, node, pods, operator, database_url, traces)
    try:
        yield e
    finally:
        operator.stop()
        traces.stop()
        pods.stop()
        api.close()


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None
    )


def whs(name: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "WebhookSource",
        "metadata": {"name": name},
        "spec": {
            "provider": "github",
            "secretRef": {"name": secret},
            "replicas": 1,
            "terminationGracePeriodSeconds": 10,
            **spec,
        },
    }


def post_signed(env: Env, service: str, name: str, key: str, doc: dict[str, Any]) -> int:
    """A signed POST through the Service's ClusterIP, from inside the node."""
    ip = env.core.read_namespaced_service(service, NS).spec.cluster_ip
    body, headers = signed(source(name, "github", {"k": key}), doc)
    return http(env.node, "POST", f"http://{ip}/ingest/{name}", body, headers)[0]


def pod_uids(env: Env, source_name: str) -> set[str]:
    pods = env.core.list_namespaced_pod(
        NS, label_selector=f"logistica.dev/webhooksource={source_name}"
    ).items
    return {p.metadata.uid for p in pods if p.metadata.deletion_timestamp is None}


def stored_ids(dsn: str, source_name: str) -> set[str]:
    async def q() -> set[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT event_id FROM external_events WHERE namespace=$1 AND source=$2",
                NS,
                source_name,
            )
            return {r["event_id"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(q())


def span_named(
    env: Env, name: str, *, service: str | None = None, parent: str | None = None
) -> ReceivedSpan | None:
    for span in env.traces.spans():
        if span.name != name or (service and span.service != service):
            continue
        if parent is None or span.parent_id == parent:
            return span
    return None


def test_webhooksource_becomes_ready_and_stores_signed_events(env: Env) -> None:
    env.core.create_namespaced_secret(
        NS, {"metadata": {"name": "gh"}, "stringData": {"first": "key-one"}}
    )
    env.create("webhooksources", whs("github", "gh"))
    obj = env.wait(
        "Ready=True",
        lambda: (
            (o := env.get("webhooksources", "github"))
            and (condition(o, "Ready") or {}).get("status") == "True"
            and o
        ),
    )
    st = obj["status"]
    assert st["endpoint"] == "http://github-ingest.ops.svc:80/ingest/github"
    assert st["observedGeneration"] == obj["metadata"]["generation"]
    assert (condition(obj, "SecretResolved") or {})["status"] == "True"
    assert st["readyReplicas"] == 1
    # kube-proxy programs the ClusterIP within a moment of the endpoint becoming ready
    env.wait(
        "signed POST through the ClusterIP stored",
        lambda: post_signed(env, "github-ingest", "github", "key-one", {"order": 1}) == 202,
        30,
    )
    assert len(stored_ids(env.dsn, "github")) == 1
    # the worker pod got the operator's OTEL_* settings: request -> batch -> INSERT, one trace
    request = env.wait(
        "the worker's request span",
        lambda: span_named(env, "POST /ingest/{source}", service="logistica-ingest"),
    )
    batch = env.wait(
        "its batch span",
        lambda: span_named(env, "ingest batch", parent=request.span_id),
    )
    assert (request.trace_id, request.span_id) in batch.links
    insert = env.wait(
        "the INSERT span", lambda: span_named(env, "INSERT external_events", parent=batch.span_id)
    )
    assert insert.trace_id == request.trace_id
    dep = env.apps.read_namespaced_deployment("github-ingest", NS)
    owner = dep.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("WebhookSource", "github", True)
    svc = env.core.read_namespaced_service("github-ingest", NS)
    assert svc.metadata.owner_references[0].uid == obj["metadata"]["uid"]
    labels = dep.metadata.labels
    assert labels["app.kubernetes.io/managed-by"] == "logistica-operator"
    pod = dep.spec.template.spec
    assert pod.termination_grace_period_seconds == 10
    env_vars = {e.name: e.value for e in pod.containers[0].env}
    assert env_vars["LOGISTICA_GRACE_SECONDS"] == "10"
    assert pod.containers[0].volume_mounts[0].read_only is True


def test_rotated_secret_is_used_without_restart(env: Env) -> None:
    pods_before = pod_uids(env, "github")
    assert len(pods_before) == 1
    env.core.patch_namespaced_secret("gh", NS, {"stringData": {"second": "key-two"}})
    env.wait(
        "new key accepted",
        lambda: post_signed(env, "github-ingest", "github", "key-two", {"rotated": True}) == 202,
        30,
    )
    assert post_signed(env, "github-ingest", "github", "key-one", {"old": True}) == 202
    env.core.replace_namespaced_secret(
        "gh", NS, {"metadata": {"name": "gh"}, "stringData": {"second": "key-two"}}
    )
    env.wait(
        "old key refused",
        lambda: post_signed(env, "github-ingest", "github", "key-one", {"gone": True}) == 401,
        30,
    )
    assert pod_uids(env, "github") == pods_before  # the kubelet swapped the files in place


def test_missing_secret_is_a_condition_not_a_crash(env: Env) -> None:
    env.create("webhooksources", whs("nosecret", "does-not-exist"))
    obj = env.wait(
        "SecretResolved=False",
        lambda: (
            (o := env.get("webhooksources", "nosecret"))
            and (condition(o, "SecretResolved") or {}).get("reason") == "SecretNotFound"
            and o
        ),
    )
    assert (condition(obj, "Ready") or {})["status"] == "False"
    env.core.create_namespaced_secret(
        NS, {"metadata": {"name": "does-not-exist"}, "stringData": {"k": "v"}}
    )
    env.wait(
        "Ready after the Secret appears",
        lambda: (
            (condition(env.get("webhooksources", "nosecret"), "Ready") or {}).get("status")
            == "True"
        ),
    )
    events = env.core.list_namespaced_event(NS, field_selector="involvedObject.name=nosecret")
    reasons = {e.reason for e in events.items}
    assert {"SecretNotFound", "KeysFound"} <= reasons


def test_spec_change_rolls_the_workers_and_drift_is_repaired(env: Env) -> None:
    before = env.apps.read_namespaced_deployment("github-ingest", NS)
    old_hash = before.spec.template.metadata.annotations["logistica.dev/spec-hash"]
    env.patch("webhooksources", "github", {"spec": {"replicas": 2, "toleranceSeconds": 60}})
    dep = env.wait(
        "rolled",
        lambda: (
            (d := env.apps.read_namespaced_deployment("github-ingest", NS))
            and d.spec.template.metadata.annotations["logistica.dev/spec-hash"] != old_hash
            and d
        ),
    )
    assert dep.spec.replicas == 2
    pdb = env.wait(
        "PDB",
        lambda: client.PolicyV1Api(env.api).read_namespaced_pod_disruption_budget(
            "github-ingest", NS
        ),
    )
    assert pdb.metadata.owner_references[0].name == "github"
    env.wait(
        "Ready with 2 replicas",
        lambda: env.get("webhooksources", "github")["status"].get("replicasSummary") == "2/2",
        90,
    )
    # a real rollout: every pod now runs the new template
    env.wait(
        "old pods gone",
        lambda: all(
            p.metadata.labels.get("pod-template-hash") == new_rs_hash(env)
            for p in env.core.list_namespaced_pod(
                NS, label_selector="logistica.dev/webhooksource=github"
            ).items
        ),
        60,
    )
    # drift: someone scales the Deployment by hand; the operator puts it back
    env.apps.patch_namespaced_deployment("github-ingest", NS, {"spec": {"replicas": 5}})
    env.wait(
        "drift repaired",
        lambda: env.apps.read_namespaced_deployment("github-ingest", NS).spec.replicas == 2,
    )


def new_rs_hash(env: Env) -> str:
    dep = env.apps.read_namespaced_deployment("github-ingest", NS)
    rss = env.apps.list_namespaced_replica_set(
        NS, label_selector="logistica.dev/webhooksource=github"
    ).items
    current = [
        rs
        for rs in rss
        if rs.metadata.annotations.get("deployment.kubernetes.io/revision")
        == dep.metadata.annotations.get("deployment.kubernetes.io/revision")
    ]
    return str(current[0].metadata.labels["pod-template-hash"]) if current else ""


def test_deletion_removes_the_owned_objects_through_the_garbage_collector(env: Env) -> None:
    env.wait(
        "nosecret pods exist",
        lambda: pod_uids(env, "nosecret"),
        60,
    )
    custom(env.api).delete_namespaced_custom_object(
        API_GROUP, API_VERSION, NS, "webhooksources", "nosecret"
    )
    selector = "logistica.dev/webhooksource=nosecret"

    def all_gone() -> bool:
        return not (
            env.apps.list_namespaced_deployment(NS, label_selector=selector).items
            or env.apps.list_namespaced_replica_set(NS, label_selector=selector).items
            or env.core.list_namespaced_pod(NS, label_selector=selector).items
            or env.core.list_namespaced_service(NS, label_selector=selector).items
        )

    env.wait("Deployment, ReplicaSet, pods and Service removed", all_gone, 90)


def rj(name: str, doc: dict[str, Any], **spec: Any) -> dict[str, Any]:
    problem = {"origin": doc["origin"], "stops": doc["stops"], "couriers": doc["couriers"]}
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "RoutingJob",
        "metadata": {"name": name},
        "spec": {"problem": problem, "options": doc["options"], **spec},
    }


def test_routingjob_runs_to_succeeded_with_a_feasible_result(env: Env) -> None:
    doc = city_problem(25, 3, seed=21, capacity=12, time_limit=2)
    env.create("routingjobs", rj("first", doc))
    obj = env.wait(
        "Succeeded",
        lambda: (
            (o := env.get("routingjobs", "first"))
            and o.get("status", {}).get("phase") in ("Succeeded", "Failed")
            and o
        ),
        90,
    )
    st = obj["status"]
    assert st["phase"] == "Succeeded", st
    assert (st["stops"], st["couriers"]) == (25, 3)
    assert check(doc, st["result"]) == []
    assert st["result"]["partial"] is False
    assert st["progress"]["solutionsFound"] >= 1
    job = env.batch.read_namespaced_job(st["jobName"], NS)
    assert job.metadata.owner_references[0].name == "first"
    assert job.spec.backoff_limit == 1
    assert job.spec.active_deadline_seconds == 2 * 2 + 120
    assert job.spec.template.spec.service_account_name == "logistica-solver"
    role = client.RbacAuthorizationV1Api(env.api).read_namespaced_role("logistica-solver", NS)
    assert [(r.resources, r.verbs) for r in role.rules] == [
        (["routingjobs"], ["get"]),
        (["routingjobs/status"], ["patch"]),
    ]
    # the operator's /metrics shows what it did (the phase gauge is read from its live index)
    port = env.operator.env["LOGISTICA_OPERATOR_HEALTH_PORT"]
    wanted = {
        ("logistica_operator_routingjobs", (("phase", "Succeeded"),)),
        (
            "logistica_operator_reconciles_total",
            (("handler", "accept"), ("kind", "RoutingJob"), ("outcome", "success")),
        ),
        ("logistica_operator_applies_total", (("kind", "Job"), ("outcome", "ok"))),
    }

    def scraped() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        seen = {
            (s.name, tuple(sorted(s.labels.items())))
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.value >= 1
        }
        return wanted <= seen

    eventually(scraped, 30, "/metrics to show the Succeeded RoutingJob", env.operator.tail)
    # one trace: the operator admits it -> starts the Job -> the solver pod solves it
    annotations = obj["metadata"].get("annotations") or {}
    _, trace_id, admitted, _ = annotations["logistica.dev/traceparent"].split("-")
    start = env.wait(
        "the Job start span in the RoutingJob's trace",
        lambda: span_named(env, "start solver Job", parent=admitted),
    )
    assert start.trace_id == trace_id
    solve = env.wait(
        "the solver pod's span",
        lambda: span_named(
            env, "solve RoutingJob", service="logistica-solve", parent=start.span_id
        ),
    )
    assert solve.trace_id == trace_id and solve.attributes["logistica.routingjob"] == f"{NS}/first"
    env_vars = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
    assert env_vars["TRACEPARENT"].split("-")[1:3] == [trace_id, start.span_id]


def test_kubectl_wait_for_complete_and_failed(env: Env) -> None:
    """kstatus conditions: ``kubectl wait`` returns when a RoutingJob finishes, either way, and
    the condition names the generation it describes."""
    env.create("routingjobs", rj("waited", city_problem(8, 2, seed=60, time_limit=1)))
    done = kubectl(
        env.node, "wait", "-n", NS, "--for=condition=Complete", "--timeout=90s",
        "routingjob/waited", check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n{env.diagnostics()}"
    obj = env.get("routingjobs", "waited")
    assert obj["status"]["phase"] == "Succeeded"
    complete = condition(obj, "Complete")
    assert complete is not None
    assert complete["observedGeneration"] == obj["metadata"]["generation"]
    assert (condition(obj, "Running") or {}).get("status") == "False"
    assert condition(obj, "Failed") is None
    env.create(
        "routingjobs",
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "RoutingJob",
            "metadata": {"name": "bad-problem"},
            "spec": {"problemFrom": {"configMapKeyRef": {"name": "bad-problem", "key": "p"}}},
        },
    )
    env.core.create_namespaced_config_map(
        NS, {"metadata": {"name": "bad-problem"}, "data": {"p": "{not json"}}
    )
    failed = kubectl(
        env.node, "wait", "-n", NS, "--for=condition=Failed", "--timeout=60s",
        "routingjob/bad-problem", check=False,
    )  # fmt: skip
    assert failed.returncode == 0, f"{failed.stderr}\n{env.diagnostics()}"
    obj = env.get("routingjobs", "bad-problem")
    assert obj["status"]["phase"] == "Failed"
    assert (condition(obj, "Failed") or {}).get("reason") == "InvalidProblem"


def test_queue_runs_in_order_under_concurrency_one(env: Env) -> None:
    names = ["q1", "q2", "q3"]
    for i, name in enumerate(names):
        env.create("routingjobs", rj(name, city_problem(15, 2, seed=30 + i, time_limit=2)))
    seen_queued = set()
    max_running = 0

    def all_done() -> bool:
        nonlocal max_running
        phases = {n: env.get("routingjobs", n).get("status", {}).get("phase") for n in names}
        seen_queued.update(n for n, p in phases.items() if p == "Queued")
        max_running = max(max_running, sum(p == "Running" for p in phases.values()))
        return all(p == "Succeeded" for p in phases.values())

    env.wait("all three succeeded", all_done, 120)
    assert max_running == 1
    assert seen_queued >= {"q3"}
    starts = [env.get("routingjobs", n)["status"]["startTime"] for n in names]
    assert starts == sorted(starts)  # oldest first


def test_metrics_show_the_phases_of_the_routingjobs(env: Env) -> None:
    """The operator's /metrics gauge agrees with the RoutingJobs' phases in the API server."""
    port = env.operator.env["LOGISTICA_OPERATOR_HEALTH_PORT"]

    def agree() -> bool:
        items = custom(env.api).list_namespaced_custom_object(
            API_GROUP, API_VERSION, NS, "routingjobs"
        )["items"]
        phases = [(o.get("status") or {}).get("phase") for o in items]
        want = {p: float(phases.count(p)) for p in set(phases) if p}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        got = {
            s.labels["phase"]: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "logistica_operator_routingjobs" and s.value
        }
        return bool(want) and got == want and want.get("Succeeded", 0) >= 1

    eventually(agree, 30, "the phase gauge to equal the API's phases", env.operator.tail)


def test_suspend_keeps_a_partial_result_and_unsuspend_completes(env: Env) -> None:
    doc = city_problem(120, 4, seed=40, capacity=40, time_limit=60)
    env.create("routingjobs", rj("long", doc))
    env.wait(
        "solving with progress",
        lambda: (
            env.get("routingjobs", "long")
            .get("status", {})
            .get("progress", {})
            .get("solutionsFound", 0)
            >= 1
        ),
        90,
    )
    env.patch("routingjobs", "long", {"spec": {"suspend": True}})
    obj = env.wait(
        "partial result",
        lambda: (
            (o := env.get("routingjobs", "long"))
            and o["status"].get("phase") == "Suspended"
            and (o["status"].get("result") or {}).get("partial")
            and o
        ),
        60,
    )
    assert check(doc, obj["status"]["result"]) == []
    first_job = obj["status"]["jobName"]
    env.wait("solver pod exited 0 on SIGTERM", lambda: env.pods.exit_codes(first_job) == [0], 60)
    env.patch(
        "routingjobs", "long", {"spec": {"suspend": False, "options": {"timeLimitSeconds": 3}}}
    )
    obj = env.wait(
        "completes",
        lambda: (
            (o := env.get("routingjobs", "long")) and o["status"].get("phase") == "Succeeded" and o
        ),
        120,
    )
    assert obj["status"]["jobName"] != first_job
    assert obj["status"]["result"]["partial"] is False
    assert check(doc, obj["status"]["result"]) == []


def test_operator_killed_and_restarted_makes_no_duplicates(env: Env) -> None:
    env.core.create_namespaced_secret(
        NS, {"metadata": {"name": "restart"}, "stringData": {"k": "v"}}
    )
    env.create("webhooksources", whs("restart", "restart"))
    env.create("routingjobs", rj("restart", city_problem(10, 2, seed=50, time_limit=2)))
    env.operator.kill()  # mid-reconcile, quite likely
    env.operator.start()
    env.wait(
        "source ready",
        lambda: (
            (condition(env.get("webhooksources", "restart"), "Ready") or {}).get("status") == "True"
        ),
        60,
    )
    env.wait(
        "job done",
        lambda: env.get("routingjobs", "restart")["status"].get("phase") == "Succeeded",
        90,
    )
    deps = env.apps.list_namespaced_deployment(
        NS, label_selector="logistica.dev/webhooksource=restart"
    ).items
    jobs = env.batch.list_namespaced_job(
        NS, label_selector="logistica.dev/routingjob=restart"
    ).items
    assert len(deps) == 1
    assert len(jobs) == 1
    # earlier objects' status survived the restart
    assert env.get("routingjobs", "first")["status"]["phase"] == "Succeeded"
    assert (condition(env.get("webhooksources", "github"), "Ready") or {})["status"] == "True"


def test_routingjob_result_in_postgres(env: Env) -> None:
    async def q() -> list[Any]:
        conn = await asyncpg.connect(env.dsn)
        try:
            return list(
                await conn.fetch(
                    "SELECT name, partial, solution FROM routing_results WHERE name = 'first'"
                )
            )
        finally:
            await conn.close()

    rows = asyncio.run(q())
    assert rows and rows[0]["partial"] is False
    assert json.loads(rows[0]["solution"])["routes"]


def test_problem_from_configmap_and_ttl_cleanup(env: Env) -> None:
    doc = city_problem(12, 2, seed=60, time_limit=2)
    env.core.create_namespaced_config_map(
        NS, {"metadata": {"name": "big-problem"}, "data": {"problem.json": json.dumps(doc)}}
    )
    env.create(
        "routingjobs",
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "RoutingJob",
            "metadata": {"name": "from-cm"},
            "spec": {
                "problemFrom": {"configMapKeyRef": {"name": "big-problem", "key": "problem.json"}},
                "options": {"timeLimitSeconds": 2},
                "ttlSecondsAfterFinished": 3,
            },
        },
    )
    obj = env.wait(
        "Succeeded",
        lambda: (
            (o := env.get("routingjobs", "from-cm"))
            and o.get("status", {}).get("phase") == "Succeeded"
            and o
        ),
        90,
    )
    assert (obj["status"]["stops"], obj["status"]["couriers"]) == (12, 2)
    assert check(doc, obj["status"]["result"]) == []

    def gone() -> bool:
        try:
            env.get("routingjobs", "from-cm")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    env.wait("deleted after its TTL", gone, 30)


def test_matrix_from_waits_for_its_key_then_routes_on_the_matrix(env: Env) -> None:
    """spec.matrixFrom: Pending (KeyNotFound) until the ConfigMap has the key (here gzip under
    binaryData); the solver Job mounts it and routes on it: a null cell leaves its stop
    unassigned."""
    doc = city_problem(8, 2, seed=61, capacity=20, time_limit=2)
    size = 1 + 8 + 2
    pts = [doc["origin"], *doc["stops"], *doc["couriers"]]
    dist: list[list[float | None]] = [
        [0.0 if i == j else round(1.4 * haversine_m(a, b), 1) for j, b in enumerate(pts)]
        for i, a in enumerate(pts)
    ]
    for i in range(size):  # nothing reaches stop s5 (location 6)
        if i != 6:
            dist[i][6] = None
    env.core.create_namespaced_config_map(NS, {"metadata": {"name": "roads"}, "data": {}})
    env.create("routingjobs", rj("on-roads", doc, matrixFrom={
        "configMapKeyRef": {"name": "roads", "key": "matrix.json"}
    }))  # fmt: skip
    obj = env.wait(
        "Pending until the matrix key exists",
        lambda: (
            (o := env.get("routingjobs", "on-roads"))
            and (condition(o, "Accepted") or {}).get("reason") == "KeyNotFound"
            and o
        ),
    )
    assert obj["status"]["phase"] == "Pending" and "matrix.json" in obj["status"]["message"]
    # gzip-compressed under binaryData (room for 4x the locations of a text key)
    blob = gzip.compress(json.dumps({"distances": dist}).encode())
    env.core.patch_namespaced_config_map(
        "roads", NS, {"binaryData": {"matrix.json": base64.b64encode(blob).decode()}}
    )
    obj = env.wait(
        "Succeeded on the matrix",
        lambda: (
            (o := env.get("routingjobs", "on-roads"))
            and o.get("status", {}).get("phase") == "Succeeded"
            and o
        ),
        120,
    )
    result = obj["status"]["result"]
    assert result["unassigned"] == ["s5"]
    assert check({**doc, "matrix": {"distances": dist}}, result) == []


def test_deleted_worker_pod_drains_under_signed_load(env: Env) -> None:
    """``kubectl delete pod`` of an ingest worker while signed requests flow through the
    ClusterIP (a new connection each): every 2xx is in Postgres, no request fails, and the pod
    is gone within its grace period. The grace period leaves the default 5 s drain delay (a
    third of the budget at most): endpoint removal must reach kube-proxy before the worker stops
    accepting, or a new connection can be sent to a pod that no longer listens."""
    grace = 20
    env.core.create_namespaced_secret(
        NS, {"metadata": {"name": "graceful"}, "stringData": {"k": "key-g"}}
    )
    env.create(
        "webhooksources",
        whs("graceful", "graceful", replicas=2, terminationGracePeriodSeconds=grace),
    )
    env.wait(
        "graceful Ready 2/2",
        lambda: (
            env.get("webhooksources", "graceful").get("status", {}).get("replicasSummary") == "2/2"
        ),
        90,
    )
    ip = env.core.read_namespaced_service("graceful-ingest", NS).spec.cluster_ip
    env.wait(
        "ClusterIP answers",
        lambda: post_signed(env, "graceful-ingest", "graceful", "key-g", {"warm": 1}) == 202,
        30,
    )
    src = source("graceful", "github", {"k": "key-g"})
    results: list[tuple[str, int | None, str | None]] = []
    stop = threading.Event()
    deleted_at: float | None = None

    async def load() -> None:
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http_:

            async def worker(w: int) -> None:
                i = 0
                while not stop.is_set():
                    eid = f"g{w}-{i}"
                    i += 1
                    body, headers = signed(src, {"n": eid}, delivery_id=eid)
                    started = time.monotonic()
                    try:
                        async with http_.post(
                            f"http://{ip}/ingest/graceful", data=body, headers=headers
                        ) as r:
                            await r.read()
                            results.append((eid, r.status, None))
                    except Exception as exc:  # when it was sent, relative to the deletion
                        since = started - (deleted_at or started)
                        results.append((eid, None, f"{exc!r} sent at {since:+.2f}s"))
                    await asyncio.sleep(0.02)

            await asyncio.gather(*(worker(w) for w in range(4)))

    loader = threading.Thread(
        target=env.node.call, args=(lambda: asyncio.run(load()),), kwargs={"timeout": 120}
    )
    loader.start()
    try:
        env.wait("load flowing", lambda: sum(s == 202 for _, s, _ in results) >= 20, 30)
        victim = sorted(live_pod_names(env, "graceful"))[0]
        deleted_at = time.monotonic()
        env.core.delete_namespaced_pod(victim, NS)

        def gone() -> bool:
            try:
                env.core.read_namespaced_pod(victim, NS)
            except client.ApiException as exc:
                return exc.status == 404
            return False

        env.wait(f"pod {victim} gone", gone, grace + 10)
        gone_after = time.monotonic() - deleted_at
        before = len(results)
        env.wait("load still flowing", lambda: len(results) >= before + 20, 30)
    finally:
        stop.set()
        loader.join(30)
    assert gone_after < grace, f"pod took {gone_after:.1f}s, grace is {grace}s"
    errors = [r for r in results if r[1] is None or r[1] >= 500]
    assert errors == [], errors[:10]
    acknowledged = {eid for eid, s, _ in results if s is not None and 200 <= s < 300}
    missing = acknowledged - stored_ids(env.dsn, "graceful")
    assert not missing, (
        f"{len(missing)} acknowledged events not in Postgres: {sorted(missing)[:10]}"
    )


def live_pod_names(env: Env, source_name: str) -> set[str]:
    pods = env.core.list_namespaced_pod(
        NS, label_selector=f"logistica.dev/webhooksource={source_name}"
    ).items
    return {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None}


def test_deleted_solver_pod_keeps_a_partial_result_and_the_job_solves_again(env: Env) -> None:
    """``kubectl delete pod`` of a solver mid-search (not a suspend): SIGTERM from the kubelet,
    the best plan so far written as a partial result, exit ``SOLVER_EXIT_INTERRUPTED`` within
    the grace period; the Job's podFailurePolicy ignores that exit, a new pod solves again, and
    the RoutingJob ends Succeeded with a whole (not partial) plan."""
    doc = city_problem(120, 4, seed=41, capacity=40, time_limit=20)
    env.create("routingjobs", rj("evicted", doc))
    env.wait(
        "solving with progress",
        lambda: (
            env.get("routingjobs", "evicted")
            .get("status", {})
            .get("progress", {})
            .get("solutionsFound", 0)
            >= 1
        ),
        90,
    )
    job_name = env.get("routingjobs", "evicted")["status"]["jobName"]
    pod = env.core.list_namespaced_pod(NS, label_selector=f"job-name={job_name}").items[0]
    grace = pod.spec.termination_grace_period_seconds
    deleted_at = time.monotonic()
    env.core.delete_namespaced_pod(pod.metadata.name, NS)
    env.wait(
        f"the solver pod exited {SOLVER_EXIT_INTERRUPTED} on SIGTERM",
        lambda: SOLVER_EXIT_INTERRUPTED in env.pods.exit_codes(job_name),
        grace + 10,
    )
    assert time.monotonic() - deleted_at < grace
    obj = env.wait(
        "Succeeded after the Job ran the solve again",
        lambda: (
            (o := env.get("routingjobs", "evicted"))
            and o.get("status", {}).get("phase") in ("Succeeded", "Failed")
            and o
        ),
        120,
    )
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert obj["status"]["result"]["partial"] is False
    assert check(doc, obj["status"]["result"]) == []
    assert env.batch.read_namespaced_job(job_name, NS).status.succeeded == 1


def test_missing_configmap_waits_in_pending_without_a_solver_slot(env: Env) -> None:
    env.create(
        "routingjobs",
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "RoutingJob",
            "metadata": {"name": "no-cm"},
            "spec": {"problemFrom": {"configMapKeyRef": {"name": "not-yet", "key": "p.json"}}},
        },
    )
    obj = env.wait(
        "Pending with a reason",
        lambda: (
            (o := env.get("routingjobs", "no-cm"))
            and (condition(o, "Accepted") or {}).get("reason") == "ConfigMapNotFound"
            and o
        ),
    )
    assert obj["status"]["phase"] == "Pending"
    assert "not-yet" in obj["status"]["message"]
    # concurrency is 1: a RoutingJob created after it still runs, so the unaccepted one
    # neither took the slot nor created a Job
    doc = city_problem(6, 2, seed=5, capacity=6, time_limit=1)
    env.create("routingjobs", rj("after-no-cm", doc))
    env.wait(
        "the later RoutingJob Succeeded",
        lambda: env.get("routingjobs", "after-no-cm")["status"].get("phase") == "Succeeded",
        90,
    )
    assert env.get("routingjobs", "no-cm")["status"]["phase"] == "Pending"
    jobs = env.batch.list_namespaced_job(NS).items
    assert not [j.metadata.name for j in jobs if j.metadata.name.startswith("no-cm-")]
