"""The Helm chart on the real node: lint, server-side dry runs of rendered manifests, and a
trial install with NO values (the default images, imported into the node's containerd under
the chart's default names; the bundled Postgres on a PersistentVolume made here): the
post-install migration hook runs against it, the operator pod runs as its own ServiceAccount
under the chart's RBAC and reconciles a WebhookSource with no Forbidden in its log, `helm test`
passes, upgrade runs the migration hook again and keeps the database password, uninstall
removes everything but the CRDs."""

from __future__ import annotations

import asyncio
import base64
import filecmp
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from kubernetes import client

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
EXTERNAL = ["--set", "database.mode=external", *DB_SECRET]
_CHART = yaml.safe_load((CHART / "Chart.yaml").read_text())
_VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
# the chart's default image references, which `helm install` with no values runs
APP_IMAGE = f"{_VALUES['image']['repository']}:{_CHART['appVersion']}"
_PG = _VALUES["database"]["bundled"]["image"]
PG_IMAGE = f"{_PG['repository']}:{_PG['tag']}"
PG_UID = _VALUES["database"]["bundled"]["podSecurityContext"]["runAsUser"]
PV = "logistica-e2e-postgres"
INSTANCE = "app.kubernetes.io/instance=logistica"
INSTALL_OUTPUT: list[str] = []  # helm install's stdout (the NOTES)


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


@pytest.mark.parametrize("values", [[], EXTERNAL], ids=["bundled", "external"])
def test_lint_strict(control_plane: ControlPlane, values: list[str]) -> None:
    out = helm(control_plane, "lint", "--strict", str(CHART), *values)
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "database.mode=external"], "/database/existingSecret"),
        (["--set", "database.mode=embedded"], "'bundled', 'external'"),
        (["--set", "database.bundled.persistence.size=lots"], "/database/bundled/persistence/size"),
        (["--set", "database.bundled.user=Robert'); DROP"], "/database/bundled/user"),
    ],
    ids=["external-without-secret", "bad-mode", "bad-size", "bad-user"],
)
def test_values_schema_names_the_bad_database_value(values: list[str], message: str) -> None:
    proc = subprocess.run(
        [binary("helm"), "template", "x", str(CHART), *values],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


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
            *EXTERNAL,
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
            "database.bundled.persistence.enabled=false",
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
        control_plane, "template", "logistica", str(CHART), "-n", "dryrun", *values
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
    bundled = "database.mode=external" not in values
    assert ("statefulset.apps/logistica-postgres created (server dry run)" in out) == bundled
    if "operator.watchNamespaces={tenant-a,tenant-b}" in values:
        # the DSN Secret in every namespace whose workers read it
        assert out.count("secret/logistica-database created (server dry run)") == 3
    for doc in rendered.split("\n---"):
        if any(f"kind: {k}" in doc for k in ("Deployment", "Job", "StatefulSet", "Pod\n")):
            assert "runAsNonRoot: true" in doc and "readOnlyRootFilesystem: true" in doc
            assert "RuntimeDefault" in doc and "- ALL" in doc


def release_diagnostics(api: client.ApiClient, node: Node) -> str:
    """pod_diagnostics plus what it leaves out here: init containers, claims, volumes."""
    core = client.CoreV1Api(api)
    out = [pod_diagnostics(api, NS, node)]
    for pod in core.list_namespaced_pod(NS).items:
        for init in pod.status.init_container_statuses or []:
            out.append(f"--- init {pod.metadata.name}/{init.name} {init.state}")
            try:
                log = core.read_namespaced_pod_log(
                    pod.metadata.name, NS, container=init.name, tail_lines=20
                )
                out.append(log)
            except client.ApiException as exc:
                out.append(f"(no log: {exc.status})")
    for pvc in core.list_namespaced_persistent_volume_claim(NS).items:
        out.append(f"--- pvc {pvc.metadata.name} {pvc.status.phase} -> {pvc.spec.volume_name}")
    for pv in core.list_persistent_volume().items:
        out.append(f"--- pv {pv.metadata.name} {pv.status.phase}")
    if node.dns is not None:
        out.append(f"--- cluster DNS queries answered: {node.dns.queries}")
    return "\n".join(out)


def postgres_volume(node: Node, api: client.ApiClient) -> None:
    """What a provisioner would make for the chart's claim: a PersistentVolume without a
    class (the node has no default StorageClass) on a directory the database's uid owns."""
    path = node.root / "pv" / PV
    path.mkdir(parents=True)
    os.chown(path, PG_UID, PG_UID)
    client.CoreV1Api(api).create_persistent_volume(
        {
            "metadata": {"name": PV},
            "spec": {
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "Directory"},
            },
        }
    )


@pytest.fixture(scope="module")
def installed(node: Node, control_plane: ControlPlane, api: client.ApiClient) -> Iterator[PodWatch]:
    """``helm install`` with no values at all (the chart's default image names resolve to the
    images built here, already in the node's containerd: nothing is pulled)."""
    node.tag_image("localhost/logistica:test", APP_IMAGE)
    node.tag_image("localhost/logistica-postgres:test", PG_IMAGE)
    postgres_volume(node, api)
    pods = PodWatch(api, NS)
    pods.start()
    try:
        try:
            out = helm(
                control_plane, "install", "logistica", str(CHART), "-n", NS, "--timeout", "240s"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{release_diagnostics(api, node)}") from None
        INSTALL_OUTPUT.append(out.stdout)
        yield pods
    finally:
        pods.stop()
        try:
            client.CoreV1Api(api).delete_persistent_volume(PV)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def live_pod(api: client.ApiClient, component: str) -> Any:
    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(NS, label_selector=f"app.kubernetes.io/component={component}")
        .items
    )
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    return live[0] if len(live) == 1 else None


def operator_pod(api: client.ApiClient) -> Any:
    return live_pod(api, "operator")


def running(api: client.ApiClient, component: str) -> Any:
    pod = live_pod(api, component)
    if pod is None or pod.status.phase != "Running":
        return None
    statuses = pod.status.container_statuses or []
    return pod if statuses and all(c.ready for c in statuses) else None


def test_install_with_no_values_brings_everything_up(
    node: Node, api: client.ApiClient, installed: PodWatch
) -> None:
    def diagnostics() -> str:
        return pod_diagnostics(api, NS, node)

    # helm waited for the post-install hook; its pod waited for the bundled database, then
    # migrated it and exited 0
    eventually(
        lambda: installed.exit_codes("logistica-migrate-1") == [0],
        30,
        "migration hook pod exited 0",
        diagnostics,
    )
    db = eventually(lambda: running(api, "postgres"), 60, "bundled Postgres Ready", diagnostics)
    assert db.spec.containers[0].image == PG_IMAGE
    assert db.spec.security_context.run_as_non_root is True
    assert db.spec.containers[0].security_context.read_only_root_filesystem is True
    core = client.CoreV1Api(api)
    pvc = core.read_namespaced_persistent_volume_claim("data-logistica-postgres-0", NS)
    assert pvc.status.phase == "Bound" and pvc.spec.volume_name == PV
    assert (node.root / "pv" / PV / "pgdata" / "PG_VERSION").read_text().strip() == "15"
    for component in ("route", "events"):
        pod = eventually(
            lambda c=component: running(api, c), 90, f"{component} pod Ready", diagnostics
        )
        assert pod.spec.containers[0].image == APP_IMAGE
    notes = INSTALL_OUTPUT[0]
    assert "TRIAL DATABASE — NOT FOR PRODUCTION" in notes, notes
    assert "helm test logistica -n logistica-system" in notes, notes
    # the DSN Secret the workers read points at the bundled database's Service
    dsn = base64.b64decode(core.read_namespaced_secret("logistica-database", NS).data["url"])
    assert dsn.decode().endswith("@logistica-postgres.logistica-system.svc:5432/logistica")


def test_the_operator_reconciles_under_the_charts_rbac(
    node: Node, api: client.ApiClient, installed: PodWatch
) -> None:
    def diagnostics() -> str:
        return pod_diagnostics(api, NS, node)

    pod = eventually(
        lambda: (p := operator_pod(api)) and p.status.phase == "Running" and p,
        90,
        "operator pod Running",
        diagnostics,
    )
    assert pod.spec.service_account_name == "logistica-operator"
    assert pod.spec.containers[0].image == APP_IMAGE
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


def bundled_db_rows(node: Node, api: client.ApiClient, sql: str) -> list[Any]:
    """``sql`` on the bundled database, straight to its pod (password from its Secret)."""
    core = client.CoreV1Api(api)
    password = base64.b64decode(
        core.read_namespaced_secret("logistica-postgres", NS).data["password"]
    )
    ip = core.read_namespaced_pod("logistica-postgres-0", NS).status.pod_ip

    async def query() -> list[Any]:
        conn = await asyncpg.connect(
            host=ip, user="logistica", password=password.decode(), database="logistica", timeout=10
        )
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return node.call(lambda: asyncio.run(query()), timeout=30)


def test_helm_test_passes_and_cleans_up(
    node: Node, control_plane: ControlPlane, api: client.ApiClient, installed: PodWatch
) -> None:
    eventually(lambda: running(api, "route"), 90, "route pod Ready")
    # no --logs: helm cannot read the logs of a Pod its hook-succeeded policy already deleted
    # (helm/helm#9098); the hook-output-log-policy annotation prints them instead
    proc = subprocess.run(
        [binary("helm"), "test", "logistica", "-n", NS, "--timeout", "240s"],
        capture_output=True,
        text=True,
        check=False,
        env={
            "KUBECONFIG": str(control_plane.kubeconfig),
            "HOME": str(control_plane.root),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert proc.returncode == 0, (
        f"helm test failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}\n"
        + release_diagnostics(api, node)
    )
    assert re.search(r"TEST SUITE:\s+logistica-test\n", proc.stdout), proc.stdout
    assert re.search(r"Phase:\s+Succeeded", proc.stdout), proc.stdout
    # the Pod's own report, printed by helm (hook-output-log-policy) before it was deleted
    said = proc.stdout + proc.stderr
    for step in ("ok: POST http://logistica-test-ingest.", "ok: stored as external_events row"):
        assert step in said, said
    assert "ok: POST http://logistica-route." in said and "PASS:" in said, said
    # the Pod exited 0 after doing the real thing: its event is in the bundled database
    exits = [code for labels, code in installed.exits.values() if labels.get(
        "app.kubernetes.io/component") == "helm-test"]  # fmt: skip
    assert exits == [0]
    rows = bundled_db_rows(
        node, api, "SELECT event_id FROM external_events WHERE source = 'logistica-test'"
    )
    assert len(rows) == 1 and rows[0]["event_id"].startswith("helm-test-"), rows
    # hook-delete-policy hook-succeeded: the test's Pod, WebhookSource and Secret are gone
    core = client.CoreV1Api(api)
    eventually(
        lambda: (
            not [
                p for p in core.list_namespaced_pod(NS).items if p.metadata.name == "logistica-test"
            ]
        ),
        30,
        "the test Pod deleted",
    )
    sources = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "logistica.dev", "v1alpha1", NS, "webhooksources"
    )["items"]
    assert [s["metadata"]["name"] for s in sources] == ["github"]
    assert not [
        s for s in core.list_namespaced_secret(NS).items if "test-signing" in s.metadata.name
    ]


def test_upgrade_runs_the_migration_hook_and_keeps_the_password(
    node: Node, control_plane: ControlPlane, api: client.ApiClient, installed: PodWatch
) -> None:
    core = client.CoreV1Api(api)
    before = core.read_namespaced_secret("logistica-postgres", NS).data["password"]
    db_pod = running(api, "postgres")
    assert db_pod is not None
    helm(
        control_plane,
        *("upgrade", "logistica", str(CHART), "-n", NS, "--reuse-values", "--timeout", "240s"),
        *("--set", "operator.solverConcurrency=3"),
    )
    eventually(
        lambda: installed.exit_codes("logistica-migrate-2") == [0],
        30,
        "second migration hook pod exited 0",
        lambda: pod_diagnostics(api, NS, node),
    )
    # lookup kept the generated password: same Secret, same database pod (not restarted)
    assert core.read_namespaced_secret("logistica-postgres", NS).data["password"] == before
    after = running(api, "postgres")
    assert after is not None and after.metadata.uid == db_pod.metadata.uid
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
    helm(control_plane, "uninstall", "logistica", "-n", NS, "--wait", "--timeout", "120s")
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    helm_made = f"{INSTANCE},app.kubernetes.io/managed-by=Helm"
    assert [
        d.metadata.name for d in apps.list_namespaced_deployment(NS, label_selector=helm_made).items
    ] == []
    assert [s.metadata.name for s in apps.list_namespaced_stateful_set(NS).items] == []
    assert [
        s.metadata.name for s in core.list_namespaced_secret(NS, label_selector=helm_made).items
    ] == []
    assert [
        s.metadata.name for s in core.list_namespaced_service(NS, label_selector=helm_made).items
    ] == []
    # the claim goes with the StatefulSet (persistentVolumeClaimRetentionPolicy whenDeleted: Delete)
    eventually(
        lambda: not core.list_namespaced_persistent_volume_claim(NS).items,
        60,
        "the database's PersistentVolumeClaim deleted",
    )
    eventually(
        lambda: (
            not [
                p.metadata.name
                for p in core.list_namespaced_pod(NS).items
                if p.metadata.name.startswith("logistica-")
            ]
        ),
        60,
        "the release's pods gone",
    )
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
