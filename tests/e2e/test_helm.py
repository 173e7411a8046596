"""The Helm chart on the real node: lint, server-side dry runs of rendered manifests, install
with the built image (the migration hook Job runs, the operator pod runs as its own
ServiceAccount under the chart's RBAC and reconciles a WebhookSource with no Forbidden in its
log), upgrade runs the migration hook again, uninstall removes everything but the CRDs."""

from __future__ import annotations

import asyncio
import filecmp
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from logistica_workers.db.migrate import migrate
from tests.e2e.operator_harness import OperatorProcess, eventually, get_cr
from tests.e2e.workloads import PodWatch, pod_diagnostics
from tests.platform.binaries import binary
from tests.platform.kube import ControlPlane
from tests.platform.kubeclient import api_client, install_crds
from tests.platform.node import Node

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "logistica"
NS = "logistica-system"
DB_SECRET = ["--set", "database.existingSecret=logistica-database"]
# release, chart, namespace and the values both install and upgrade pass
RELEASE = [
    *("logistica", str(CHART), "-n", NS, *DB_SECRET),
    *("--set", "operator.resyncSeconds=1", "--timeout", "120s"),
    # the image built here and imported into the node's containerd
    *("--set", "image.repository=localhost/logistica", "--set", "image.tag=test"),
    *("--set", "image.pullPolicy=Never"),
]


def run(cp: ControlPlane, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(cmd),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={"KUBECONFIG": str(cp.kubeconfig), "HOME": str(cp.root), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, f"{cmd[:3]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def helm(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return run(cp, binary("helm"), *args)


def test_chart_crds_are_the_top_level_crds() -> None:
    top = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert top == sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    for name in top:
        assert filecmp.cmp(REPO / "crds" / name, CHART / "crds" / name, shallow=False), name


def test_lint_strict(control_plane: ControlPlane) -> None:
    out = helm(control_plane, "lint", "--strict", str(CHART), *DB_SECRET)
    assert "0 chart(s) failed" in out.stdout


def test_template_requires_the_database_secret(control_plane: ControlPlane) -> None:
    proc = subprocess.run(
        [binary("helm"), "template", "x", str(CHART)], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "database.existingSecret is required" in proc.stderr


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    a = api_client(control_plane.kubeconfig)
    install_crds(a)
    core = client.CoreV1Api(a)
    for ns in (NS, "dryrun", "tenant-a", "tenant-b"):
        try:
            core.create_namespace({"metadata": {"name": ns}})
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    yield a
    a.close()


@pytest.mark.parametrize(
    "values",
    [
        [],
        [
            "--set",
            "operator.clusterWide=true",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "route.replicas=3",
            "--set",
            "image.tag=9.9.9",
        ],
        [
            "--set",
            "operator.watchNamespaces={tenant-a,tenant-b}",
            "--set",
            "route.enabled=false",
            "--set",
            "migrations.enabled=false",
        ],
    ],
    ids=["defaults", "cluster-wide", "two-namespaces"],
)
def test_rendered_manifests_pass_a_server_side_dry_run(
    control_plane: ControlPlane, api: client.ApiClient, values: list[str]
) -> None:
    rendered = helm(
        control_plane, "template", "logistica", str(CHART), "-n", "dryrun", *DB_SECRET, *values
    ).stdout
    out = run(
        control_plane,
        binary("kubectl"),
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        stdin=rendered,
    ).stdout
    assert "deployment.apps/logistica-operator created (server dry run)" in out
    assert "deployment.apps/logistica-events created (server dry run)" in out
    assert "secret/logistica-events-token created (server dry run)" in out
    for doc in rendered.split("\n---"):
        if "kind: Deployment" in doc or "kind: Job" in doc:
            assert "runAsNonRoot: true" in doc and "readOnlyRootFilesystem: true" in doc
            assert "RuntimeDefault" in doc and "- ALL" in doc


@pytest.fixture(scope="module")
def installed(
    control_plane: ControlPlane,
    api: client.ApiClient,
    database_url: str,
    pod_database_url: str,
) -> Iterator[PodWatch]:
    asyncio.run(migrate(database_url))
    client.CoreV1Api(api).create_namespaced_secret(
        NS, {"metadata": {"name": "logistica-database"}, "stringData": {"url": pod_database_url}}
    )
    pods = PodWatch(api, NS)
    pods.start()
    try:
        helm(control_plane, "install", *RELEASE)
        yield pods
    finally:
        pods.stop()


def operator_pod(api: client.ApiClient) -> Any:
    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=operator")
        .items
    )
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    return live[0] if len(live) == 1 else None


def test_install_runs_migrations_and_the_operator_reconciles(
    node: Node, api: client.ApiClient, installed: PodWatch
) -> None:
    def diagnostics() -> str:
        return pod_diagnostics(api, NS, node)

    # helm waited for the pre-install hook; the Job's pod really ran and exited 0
    eventually(
        lambda: installed.exit_codes("logistica-migrate-1") == [0],
        30,
        "migration hook pod exited 0",
        diagnostics,
    )
    pod = eventually(
        lambda: (p := operator_pod(api)) and p.status.phase == "Running" and p,
        90,
        "operator pod Running",
        diagnostics,
    )
    assert pod.spec.service_account_name == "logistica-operator"
    assert pod.spec.containers[0].image == "localhost/logistica:test"
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(NS, {"metadata": {"name": "gh"}, "stringData": {"k": "v"}})
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "logistica.dev",
        "v1alpha1",
        NS,
        "webhooksources",
        {
            "apiVersion": "logistica.dev/v1alpha1",
            "kind": "WebhookSource",
            "metadata": {"name": "github"},
            "spec": {"provider": "github", "secretRef": {"name": "gh"}, "replicas": 1},
        },
    )

    def ready() -> dict[str, Any] | None:
        obj = get_cr(api, "webhooksources", NS, "github")
        conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
        return obj if conds.get("Ready") == "True" else None

    obj = eventually(ready, 90, "WebhookSource Ready through the chart's operator", diagnostics)
    assert obj["status"]["endpoint"].startswith("http://github-ingest.logistica-system.svc")
    log = core.read_namespaced_pod_log(pod.metadata.name, NS)
    assert "Forbidden" not in log, log[-4000:]


def test_upgrade_runs_the_migration_hook(
    node: Node, control_plane: ControlPlane, api: client.ApiClient, installed: PodWatch
) -> None:
    helm(
        control_plane,
        "upgrade",
        *RELEASE,
        "--set",
        "operator.solverConcurrency=3",
    )
    eventually(
        lambda: installed.exit_codes("logistica-migrate-2") == [0],
        30,
        "second migration hook pod exited 0",
        lambda: pod_diagnostics(api, NS, node),
    )
    dep = client.AppsV1Api(api).read_namespaced_deployment("logistica-operator", NS)
    env = {e.name: e.value for e in dep.spec.template.spec.containers[0].env}
    assert env["LOGISTICA_SOLVER_CONCURRENCY"] == "3"
    assert dep.spec.strategy.type == "Recreate"
    eventually(
        lambda: (
            (p := operator_pod(api))
            and p.status.phase == "Running"
            and {e.name: e.value for e in p.spec.containers[0].env}["LOGISTICA_SOLVER_CONCURRENCY"]
            == "3"
        ),
        90,
        "the upgraded operator pod Running",
        lambda: pod_diagnostics(api, NS, node),
    )


def test_uninstall_removes_everything_but_the_crds(
    control_plane: ControlPlane, api: client.ApiClient, installed: PodWatch
) -> None:
    helm(control_plane, "uninstall", "logistica", "-n", NS, "--timeout", "60s")
    apps = client.AppsV1Api(api)
    left = [
        d.metadata.name
        for d in apps.list_namespaced_deployment(
            NS,
            label_selector="app.kubernetes.io/instance=logistica,app.kubernetes.io/managed-by=Helm",
        ).items
    ]
    assert left == []
    rbac = client.RbacAuthorizationV1Api(api)
    assert [
        r.metadata.name
        for r in rbac.list_namespaced_role(NS).items
        if r.metadata.name.startswith("logistica-operator")
    ] == []
    assert [
        r.metadata.name
        for r in rbac.list_cluster_role().items
        if r.metadata.name.startswith("logistica-operator")
    ] == []  # the scan ClusterRole of namespaced mode goes too
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert {"webhooksources.logistica.dev", "routingjobs.logistica.dev"} <= {
        c.metadata.name for c in crds
    }
    status = json.loads(helm(control_plane, "list", "-n", NS, "-o", "json").stdout)
    assert status == []


SCAN_NS = "rbac-scan"


def _sa_kubeconfig(cp: ControlPlane, api: client.ApiClient, sa: str, path: Path) -> Path:
    """A kubeconfig holding only a token of ServiceAccount ``sa``: the operator runs as the
    chart makes it run, not as the test's admin."""
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(sa, SCAN_NS, {"spec": {"expirationSeconds": 3600}})
        .status.token
    )
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": cp.url,
                            "certificate-authority": str(cp.pki.ca_cert),
                        },
                    }
                ],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
                "current-context": "c",
            }
        )
    )
    return path


def test_namespaced_operator_under_the_charts_rbac_starts_without_forbidden(
    control_plane: ControlPlane, api: client.ApiClient, tmp_path: Path
) -> None:
    """The chart's namespaced RBAC applied for real; the operator runs with its
    ServiceAccount's token: no Forbidden at start-up and a first reconcile within seconds
    (before the scan ClusterRole it retried Forbidden for ~54 s)."""
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": SCAN_NS}})
    rendered = helm(
        control_plane,
        *("template", "scan", str(CHART), "-n", SCAN_NS, *DB_SECRET),
        *("--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml"),
    ).stdout
    kubectl = binary("kubectl")
    run(control_plane, kubectl, "apply", "-n", SCAN_NS, "-f", "-", stdin=rendered)
    operator: OperatorProcess | None = None
    try:
        rbac = client.RbacAuthorizationV1Api(api)
        scan = rbac.read_cluster_role("scan-logistica-operator-scan")
        assert sorted((tuple(r.resources), tuple(r.verbs)) for r in scan.rules) == [
            (("customresourcedefinitions",), ("list", "watch")),
            (("namespaces",), ("list", "watch")),
        ]
        sa = "system:serviceaccount:rbac-scan:scan-logistica-operator"

        def can_i(verb: str, what: str) -> str:
            out = subprocess.run(
                [kubectl, "auth", "can-i", verb, what, "-A", "--as", sa],
                capture_output=True,
                text=True,
                check=False,
                env={
                    "KUBECONFIG": str(control_plane.kubeconfig),
                    "HOME": str(control_plane.root),
                    "PATH": "/usr/bin:/bin",
                },
            )
            return out.stdout.strip()

        for verb, what in [("list", "namespaces"), ("watch", "customresourcedefinitions")]:
            assert can_i(verb, what) == "yes", (verb, what)
        for verb, what in [("get", "secrets"), ("create", "namespaces"), ("delete", "crds")]:
            assert can_i(verb, what) == "no", (verb, what)

        kubeconfig = _sa_kubeconfig(
            control_plane, api, "scan-logistica-operator", tmp_path / "sa.kubeconfig"
        )
        core.create_namespaced_secret(
            SCAN_NS, {"metadata": {"name": "gh"}, "stringData": {"k": "v"}}
        )
        operator = OperatorProcess(
            control_plane, SCAN_NS, tmp_path / "operator.log", KUBECONFIG=str(kubeconfig)
        )
        operator.start()
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "logistica.dev",
            "v1alpha1",
            SCAN_NS,
            "webhooksources",
            {
                "apiVersion": "logistica.dev/v1alpha1",
                "kind": "WebhookSource",
                "metadata": {"name": "github"},
                "spec": {"provider": "github", "secretRef": {"name": "gh"}, "replicas": 1},
            },
        )

        def reconciled() -> bool | None:
            deps = client.AppsV1Api(api).list_namespaced_deployment(SCAN_NS).items
            return True if any(d.metadata.name == "github-ingest" for d in deps) else None

        eventually(
            reconciled, 15, "the operator's first reconcile under its own RBAC", operator.tail
        )
        log = operator.tail()
        assert "Forbidden" not in log and "APIForbiddenError" not in log, log
    finally:
        if operator is not None:
            operator.stop()
        run(
            control_plane,
            kubectl,
            "delete",
            "-n",
            SCAN_NS,
            "--wait=false",
            "-f",
            "-",
            stdin=rendered,
        )
        core.delete_namespace(SCAN_NS)
