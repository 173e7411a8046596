"""WebhookSource -> ingest Deployment, Service and PodDisruptionBudget, with status."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import kopf
from pydantic import ValidationError

from logistica_operator import kube
from logistica_operator.builders import endpoint, ingest_objects, ingest_service_name
from logistica_operator.conditions import announce, set_condition
from logistica_operator.config import OperatorConfig
from logistica_operator.metrics import reconciled
from logistica_operator.names import MANAGED_BY, SOURCE_LABEL, spec_hash
from logistica_workers.api import API_GROUP, API_VERSION, WebhookSourceSpec, describe_errors

PLURAL = "webhooksources"
CONFIG = OperatorConfig()


async def _secret_condition(spec: WebhookSourceSpec, namespace: str) -> tuple[bool, str, str]:
    secret = await kube.get("v1", "Secret", spec.secret_ref.name, namespace)
    if secret is None:
        return False, "SecretNotFound", f"Secret {spec.secret_ref.name} does not exist"
    keys = sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})
    if not keys:
        return False, "SecretEmpty", f"Secret {spec.secret_ref.name} has no keys"
    return True, "KeysFound", f"{len(keys)} signing key(s): {', '.join(keys)}"


async def reconcile(
    body: kopf.Body | dict[str, Any],
    *,
    apply: bool,
    deployment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Converge owned objects (when ``apply``) and compute the status to write.

    Without ``apply`` (a Deployment event, whose body is ``deployment``) the Secret's condition
    is kept as the last full reconcile found it; the resync re-checks it. (Long: one pass from
    spec to status, each condition in the order ``Ready`` depends on them.)
    """
    meta = body["metadata"]
    name, namespace, generation = meta["name"], meta["namespace"], meta.get("generation", 0)
    status = dict(body.get("status") or {})
    conditions = status.get("conditions") or []
    transitions: list[tuple[str, bool, str, str]] = []

    def cond(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conditions
        born = not any(c.get("type") == type_ for c in conditions)
        conditions, changed = set_condition(conditions, type_, ok, reason, message, generation)
        if changed and not (born and not ok and type_ != "SecretResolved"):
            transitions.append((type_, ok, reason, message))  # not-ready-yet at birth: no Event

    try:
        spec = WebhookSourceSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        cond("Ready", False, "InvalidSpec", str(describe_errors(exc, prefix="spec")))
        return _finish(
            body, {"conditions": conditions, "observedGeneration": generation}, transitions
        )

    known = next((c for c in conditions if c.get("type") == "SecretResolved"), None)
    if apply or known is None:
        ok, reason, message = await _secret_condition(spec, namespace)
    else:
        ok = known.get("status") == "True"
        reason, message = str(known.get("reason", "")), str(known.get("message", ""))
    cond("SecretResolved", ok, reason, message)
    if apply:
        applied = await _apply_owned(meta, spec, int(status.get("replicas") or 0))
        deployment = deployment or applied  # the apply's answer has the status: no second read
    if deployment is None:
        deployment = await kube.get("apps/v1", "Deployment", ingest_service_name(name), namespace)
    ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
    if spec.replicas == 0:
        cond("Available", False, "ScaledToZero", "spec.replicas is 0")
    elif ready >= 1:
        cond("Available", True, "MinimumReplicasAvailable", f"{ready}/{spec.replicas} ready")
    else:
        cond("Available", False, "NoReadyReplicas", f"0/{spec.replicas} ready")
    secret_ok = ok
    available = spec.replicas > 0 and ready >= 1
    if secret_ok and available:
        cond("Ready", True, "Ready", "accepting webhooks")
    else:
        cond(
            "Ready",
            False,
            "SecretUnresolved" if not secret_ok else "Unavailable",
            message if not secret_ok else "no ready ingest worker",
        )
    return _finish(
        body,
        {
            "observedGeneration": generation,
            "endpoint": endpoint(name, namespace),
            "readyReplicas": ready,
            "replicas": spec.replicas,
            "replicasSummary": f"{ready}/{spec.replicas}",
            "specHash": spec_hash(spec.model_dump(mode="json", by_alias=True)),
            "conditions": conditions,
        },
        transitions,
    )


async def _apply_owned(
    meta: Any, spec: WebhookSourceSpec, replicas_before: int
) -> dict[str, Any] | None:
    """Server-side apply the owned objects; the Deployment as the server returned it."""
    name, namespace = meta["name"], meta["namespace"]
    deployment = None
    for obj in ingest_objects(name, namespace, meta["uid"], spec, CONFIG):
        applied = await kube.apply(obj)
        if obj["kind"] == "Deployment":
            deployment = applied
    if spec.replicas <= 1 and replicas_before > 1:  # a PDB was made
        await kube.delete("policy/v1", "PodDisruptionBudget", ingest_service_name(name), namespace)
    return deployment


def _finish(
    body: Any, status: dict[str, Any], transitions: list[tuple[str, bool, str, str]]
) -> dict[str, Any]:
    announce(body, transitions)
    return status


def _changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    old = old or {}
    return any(old.get(k) != v for k, v in new.items())


# One status computation per object at a time, from fresh reads: the create/update handler,
# the resync timer and Deployment events race otherwise, and a slower one would write a
# stale "not ready" over a newer "ready".
_LOCKS: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)


# readyReplicas last written per WebhookSource: a Deployment event that does not change it
# (its creation, a rollout step) needs no refresh at all.
_READY: dict[tuple[str, str], int] = {}


async def refresh(
    name: str,
    namespace: str,
    *,
    apply: bool,
    deployment: dict[str, Any] | None = None,
    fresh: dict[str, Any] | None = None,
) -> None:
    """Recompute and write the status of one WebhookSource.

    ``fresh``: a body known to be current (a creation's first attempt: nothing else has written
    its status yet), read instead of a GET.
    """
    async with _LOCKS[(namespace, name)]:
        ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
        if deployment is not None and _READY.get((namespace, name)) == ready:
            return  # e.g. the Deployment's creation, seen while the status was being written
        current = fresh or await kube.get(
            f"{API_GROUP}/{API_VERSION}", "WebhookSource", name, namespace
        )
        if current is None or current.get("metadata", {}).get("deletionTimestamp"):
            _READY.pop((namespace, name), None)
            return
        new = await reconcile(current, apply=apply, deployment=deployment)
        if _changed(current.get("status"), new):
            await kube.patch_status(PLURAL, name, namespace, new)
        _READY[(namespace, name)] = int(new.get("readyReplicas") or 0)


@kopf.on.resume(API_GROUP, API_VERSION, PLURAL)
@kopf.on.create(API_GROUP, API_VERSION, PLURAL)
@kopf.on.update(API_GROUP, API_VERSION, PLURAL, field="spec")
@reconciled("WebhookSource", "converge")
async def converge(
    body: kopf.Body, name: str, namespace: str | None, reason: str, retry: int, **_: Any
) -> None:
    assert namespace is not None  # the CRD is namespaced
    # A creation's first attempt runs before its Deployment exists, so no Deployment event can
    # have written a status yet: kopf's body is current and saves a GET. Otherwise, read.
    first_create = reason == kopf.Reason.CREATE and retry == 0 and not body.get("status")
    await refresh(name, namespace, apply=True, fresh=dict(body) if first_create else None)


@kopf.timer(
    API_GROUP,
    API_VERSION,
    PLURAL,
    interval=CONFIG.resync_seconds,
    initial_delay=CONFIG.resync_seconds,
    idle=CONFIG.resync_seconds,
)
@reconciled("WebhookSource", "resync")
async def resync(name: str, namespace: str | None, **_: Any) -> None:
    """Repairs drift in owned objects and notices Secrets created, emptied or deleted later."""
    assert namespace is not None
    await refresh(name, namespace, apply=True)


@kopf.on.event(
    "apps",
    "v1",
    "deployments",
    labels={"app.kubernetes.io/managed-by": MANAGED_BY, SOURCE_LABEL: kopf.PRESENT},
)
@reconciled("Deployment", "deployment_changed")
async def deployment_changed(body: kopf.Body, namespace: str | None, **_: Any) -> None:
    """Ready replicas changed: refresh the owner's status at once, without re-applying."""
    owner = body.get("metadata", {}).get("labels", {}).get(SOURCE_LABEL)
    if not owner or not namespace:
        return
    await refresh(owner, namespace, apply=False, deployment=dict(body))
