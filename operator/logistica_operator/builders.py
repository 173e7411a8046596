"""Desired objects for each custom resource, as plain dicts (pure functions, unit-tested)."""

from __future__ import annotations

from typing import Any

from logistica_operator.config import OperatorConfig
from logistica_operator.names import (
    ROUTINGJOB_LABEL,
    SOURCE_LABEL,
    SPEC_HASH,
    labels,
    short,
    spec_hash,
)
from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    SOLVER_EXIT_INTERRUPTED,
    RoutingJobSpec,
    WebhookSourceSpec,
)
from logistica_workers.api.ingest_config import IngestSource, sources_to_json
from logistica_workers.runtime.tracing import TRACEPARENT_ANNOTATION

SECRET_MOUNT = "/etc/logistica/secrets"
PROBLEM_MOUNT = "/etc/logistica/problem"
MATRIX_MOUNT = "/etc/logistica/matrix"

RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def ingest_service_name(source: str) -> str:
    return short(source, "ingest")


def endpoint(source: str, namespace: str) -> str:
    return f"http://{ingest_service_name(source)}.{namespace}.svc:80/ingest/{source}"


def telemetry(cfg: OperatorConfig) -> list[dict[str, str]]:
    """The operator's ``OTEL_*`` settings as container env (empty when tracing is off)."""
    return [{"name": k, "value": v} for k, v in cfg.telemetry_env]


def ingest_objects(
    name: str, namespace: str, uid: str, spec: WebhookSourceSpec, cfg: OperatorConfig
) -> list[dict[str, Any]]:
    """Deployment + Service (+ PodDisruptionBudget when replicas > 1) for one WebhookSource."""
    lab = labels("ingest", name) | {SOURCE_LABEL: name}
    selector = {
        "app.kubernetes.io/instance": name,
        SOURCE_LABEL: name,
        "app.kubernetes.io/component": "ingest",
    }
    owner = [owner_reference("WebhookSource", name, uid)]
    obj_name = ingest_service_name(name)
    secret_dir = f"{SECRET_MOUNT}/{spec.secret_ref.name}"
    source = IngestSource(name=name, namespace=namespace, spec=spec, secret_dir=secret_dir)
    spec_json = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    grace = spec.termination_grace_period_seconds
    port = cfg.ingest_port
    metadata = {"name": obj_name, "namespace": namespace, "labels": lab, "ownerReferences": owner}
    container: dict[str, Any] = {
        "name": "ingest",
        "image": cfg.image,
        "imagePullPolicy": cfg.image_pull_policy,
        "args": ["ingest", "--port", str(port)],
        "env": [
            {"name": "LOGISTICA_SOURCES", "value": sources_to_json([source])},
            {"name": "LOGISTICA_GRACE_SECONDS", "value": str(grace)},
            {
                "name": "LOGISTICA_DATABASE_URL",
                "valueFrom": {
                    "secretKeyRef": {"name": cfg.database_secret, "key": cfg.database_secret_key}
                },
            },
            *telemetry(cfg),
        ],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "volumeMounts": [{"name": "signing-keys", "mountPath": secret_dir, "readOnly": True}],
        "securityContext": RESTRICTED_CONTAINER,
    }
    if spec.resources is not None:
        container["resources"] = spec.resources.model_dump(mode="json", exclude_none=True)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": dict(metadata),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": lab,
                    "annotations": {SPEC_HASH: spec_hash(spec_json)},
                },
                "spec": {
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": RESTRICTED_POD,
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    # optional: a missing Secret is a condition on the WebhookSource,
                    # and the kubelet fills the volume in when the Secret appears
                    "volumes": [
                        {
                            "name": "signing-keys",
                            "secret": {"secretName": spec.secret_ref.name, "optional": True},
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(metadata),
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    out = [deployment, service]
    if spec.replicas > 1:
        out.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": dict(metadata),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
            }
        )
    return out


def solver_grace_seconds(spec: RoutingJobSpec) -> int:
    """Time to stop the search and write the best solution: a few seconds, more for long solves."""
    return min(60, 10 + spec.options.time_limit_seconds // 30)


def solver_deadline_seconds(spec: RoutingJobSpec) -> int:
    if spec.active_deadline_seconds is not None:
        return spec.active_deadline_seconds
    return 2 * spec.options.time_limit_seconds + 120  # start-up, retries of a lost pod


def solver_rbac(namespace: str, cfg: OperatorConfig) -> list[dict[str, Any]]:
    """The solver's identity: get routingjobs, patch routingjobs/status, nothing else."""
    name = cfg.solver_service_account
    lab = labels("solver", name)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": lab},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace, "labels": lab},
            "rules": [
                {"apiGroups": [API_GROUP], "resources": ["routingjobs"], "verbs": ["get"]},
                {"apiGroups": [API_GROUP], "resources": ["routingjobs/status"], "verbs": ["patch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace, "labels": lab},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def job_name(rj_name: str, attempt: int) -> str:
    return short(rj_name, f"solve-{attempt}")


def solver_job(
    name: str,
    namespace: str,
    uid: str,
    spec: RoutingJobSpec,
    attempt: int,
    cfg: OperatorConfig,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """The solver Job; ``traceparent`` (W3C) makes its ``solve`` span join that trace."""
    lab = labels("solver", name) | {ROUTINGJOB_LABEL: name}
    grace = solver_grace_seconds(spec)
    env: list[dict[str, Any]] = [
        {"name": "LOGISTICA_GRACE_SECONDS", "value": str(grace)},
        {"name": "MPLCONFIGDIR", "value": "/tmp"},
        *([{"name": "TRACEPARENT", "value": traceparent}] if traceparent else []),
        *telemetry(cfg),
        {
            "name": "LOGISTICA_DATABASE_URL",
            "valueFrom": {
                "secretKeyRef": {
                    "name": cfg.database_secret,
                    "key": cfg.database_secret_key,
                    "optional": True,
                }
            },
        },
    ]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if spec.problem_from is not None:
        ref = spec.problem_from.config_map_key_ref
        env.append({"name": "LOGISTICA_PROBLEM_FILE", "value": f"{PROBLEM_MOUNT}/{ref.key}"})
        mounts.append({"name": "problem", "mountPath": PROBLEM_MOUNT, "readOnly": True})
        volumes.append({"name": "problem", "configMap": {"name": ref.name}})
    if spec.matrix_from is not None:
        mref = spec.matrix_from.config_map_key_ref
        env.append({"name": "LOGISTICA_MATRIX_FILE", "value": f"{MATRIX_MOUNT}/{mref.key}"})
        mounts.append({"name": "matrix", "mountPath": MATRIX_MOUNT, "readOnly": True})
        volumes.append({"name": "matrix", "configMap": {"name": mref.name}})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, attempt),
            "namespace": namespace,
            "labels": lab,
            "ownerReferences": [owner_reference("RoutingJob", name, uid)],
            **({"annotations": {TRACEPARENT_ANNOTATION: traceparent}} if traceparent else {}),
        },
        "spec": {
            "backoffLimit": 1,
            # an interrupted solve (evicted or deleted pod, not a suspend) runs again without
            # using up the one retry a failing solver gets
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "Ignore",
                        "onExitCodes": {
                            "containerName": "solve",
                            "operator": "In",
                            "values": [SOLVER_EXIT_INTERRUPTED],
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "activeDeadlineSeconds": solver_deadline_seconds(spec),
            "suspend": False,
            "template": {
                "metadata": {"labels": lab},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": cfg.solver_service_account,
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": RESTRICTED_POD,
                    "containers": [
                        {
                            "name": "solve",
                            "image": cfg.image,
                            "imagePullPolicy": cfg.image_pull_policy,
                            "args": ["solve", "--routingjob", f"{namespace}/{name}"],
                            "env": env,
                            "volumeMounts": mounts,
                            "securityContext": RESTRICTED_CONTAINER,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
