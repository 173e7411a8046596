"""RoutingJob -> a solver Job, queued by a concurrency limit (oldest first), followed to the end.

Phases: Pending (accepted, waiting for its turn or its ConfigMap) -> Queued (the limit is reached)
-> Running (a Job exists) -> Succeeded | Failed; Suspended while ``spec.suspend`` (a running
solve is stopped gracefully and keeps its partial result; unsuspending queues it again).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import kopf
from pydantic import ValidationError

from logistica_operator import kube, metrics, traces
from logistica_operator.builders import solver_job, solver_rbac
from logistica_operator.conditions import now, set_condition
from logistica_operator.config import OperatorConfig
from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    Matrix,
    Problem,
    RoutingJobSpec,
    describe_errors,
)
from logistica_workers.runtime import tracing

PLURAL = "routingjobs"
CONFIG = OperatorConfig()
ACTIVE = {"Running"}
WAITING = {"Pending", "Queued"}
FINISHED = {"Succeeded", "Failed"}


class Scheduler:
    """Admission under the concurrency limit. The index lags behind our own writes, so the
    decisions of this process are remembered until the index shows them."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.started: dict[tuple[str, str], str] = {}  # key -> phase we wrote

    def note(self, key: tuple[str, str], phase: str) -> None:
        self.started[key] = phase

    def view(self, index: kopf.Index[str, Any]) -> dict[tuple[str, str], tuple[str, str, bool]]:
        """(namespace, name) -> (creationTimestamp, phase, held), ours overriding; held: suspended
        or not accepted yet (e.g. its ConfigMap is missing), so it takes no place in the queue."""
        out: dict[tuple[str, str], tuple[str, str, bool]] = {}
        for created, namespace, name, phase, held in index.get("all", []):
            out[(namespace, name)] = (created, phase, held)
        for key, phase in list(self.started.items()):
            if key not in out:
                continue
            if out[key][1] == phase:
                del self.started[key]  # the index caught up
            else:
                out[key] = (out[key][0], phase, out[key][2])
        return out


SCHEDULER = Scheduler()


@kopf.index(API_GROUP, API_VERSION, PLURAL)
def routingjobs(
    name: str,
    namespace: str | None,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    **_: Any,
) -> dict[str, tuple[str, str, str, str, bool]]:
    created = str(meta.get("creationTimestamp", ""))
    return {
        "all": (
            created,
            namespace or "",
            name,
            status.get("phase") or "Pending",
            bool(spec.get("suspend")) or not _accepted(status),
        )
    }


def _accepted(status: kopf.Status | dict[str, Any]) -> bool:
    """True once `accept` has resolved the problem (its Accepted condition is True)."""
    return any(
        c.get("type") == "Accepted" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


async def _problem(spec: RoutingJobSpec, namespace: str) -> tuple[Problem | None, str, str]:
    """The problem (with its matrixFrom matrix), or None with (reason, message) when it
    cannot be had (yet)."""
    problem, reason, message = await _problem_only(spec, namespace)
    if problem is None or spec.matrix_from is None:
        return problem, reason, message
    ref = spec.matrix_from.config_map_key_ref
    if problem.matrix is not None:
        return None, "InvalidMatrix", "spec.matrixFrom is set and the problem has a matrix too"
    cm = await kube.get("v1", "ConfigMap", ref.name, namespace)
    if cm is None:
        return None, "ConfigMapNotFound", f"ConfigMap {ref.name} (matrixFrom) does not exist"
    text = (cm.get("data") or {}).get(ref.key)
    if text is None:
        return None, "KeyNotFound", f"ConfigMap {ref.name} has no key {ref.key} (matrixFrom)"
    where = f"{ref.name}/{ref.key}"
    try:
        matrix = Matrix.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        return None, "InvalidMatrix", f"{where} is not JSON: {exc}"
    except ValidationError as exc:
        return None, "InvalidMatrix", f"{where}: {describe_errors(exc, prefix='matrix')}"
    try:
        return problem.with_matrix(matrix), reason, f"{message}, matrix {where}"
    except ValueError as exc:
        return None, "InvalidMatrix", f"{where}: {exc}"


async def _problem_only(spec: RoutingJobSpec, namespace: str) -> tuple[Problem | None, str, str]:
    inline = spec.inline_problem()
    if inline is not None:
        return inline, "Inline", "spec.problem"
    assert spec.problem_from is not None
    ref = spec.problem_from.config_map_key_ref
    cm = await kube.get("v1", "ConfigMap", ref.name, namespace)
    if cm is None:
        return None, "ConfigMapNotFound", f"ConfigMap {ref.name} does not exist"
    text = (cm.get("data") or {}).get(ref.key)
    if text is None:
        return None, "KeyNotFound", f"ConfigMap {ref.name} has no key {ref.key}"
    try:
        doc = json.loads(text)
        return Problem.model_validate(doc), "ConfigMap", f"{ref.name}/{ref.key}"
    except json.JSONDecodeError as exc:
        return None, "InvalidProblem", f"{ref.name}/{ref.key} is not JSON: {exc}"
    except ValidationError as exc:
        return None, "InvalidProblem", f"{ref.name}/{ref.key}: {describe_errors(exc)}"


def _conditions(body: kopf.Body, type_: str, ok: bool, reason: str, message: str) -> list[Any]:
    generation = int(body.get("metadata", {}).get("generation", 0))
    out, changed = set_condition(
        (body.get("status") or {}).get("conditions"), type_, ok, reason, message, generation
    )
    if changed:
        (kopf.info if ok else kopf.warn)(body, reason=reason, message=f"{type_}: {message}")
    return out


@kopf.on.create(API_GROUP, API_VERSION, PLURAL)
@metrics.reconciled("RoutingJob", "accept")
async def accept(
    body: kopf.Body, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch, **_: Any
) -> None:
    """Validate, resolve the problem's size for `kubectl get`, and wait for a turn."""
    assert namespace is not None  # the CRD is namespaced
    try:
        parsed = RoutingJobSpec.model_validate(dict(spec))
    except ValidationError as exc:
        patch.status.update(
            phase="Failed",
            message=str(describe_errors(exc, prefix="spec")),
            conditions=_conditions(
                body, "Accepted", False, "InvalidSpec", "the spec does not validate"
            ),
        )
        return
    problem, reason, message = await _problem(parsed, namespace)
    if problem is None and reason in {"InvalidProblem", "InvalidMatrix"}:
        patch.status.update(
            phase="Failed",
            message=message,
            conditions=_conditions(body, "Accepted", False, reason, message),
        )
        return
    if problem is None:  # the ConfigMap may still come: stay Pending and retry
        patch.status.update(
            phase="Pending",
            message=message,
            conditions=_conditions(body, "Accepted", False, reason, message),
        )
        raise kopf.TemporaryError(message, delay=5)
    patch.status.update(
        phase="Suspended" if parsed.suspend else "Pending",
        stops=len(problem.stops),
        couriers=len(problem.couriers),
        observedGeneration=body.get("metadata", {}).get("generation", 0),
        message="waiting for a solver slot",
        conditions=_conditions(body, "Accepted", True, reason, message),
    )


async def _start(
    body: kopf.Body, spec: RoutingJobSpec, namespace: str, name: str, patch: kopf.Patch
) -> None:
    status = body.get("status") or {}
    attempt = int(status.get("attempt") or 0) + 1
    for obj in solver_rbac(namespace, CONFIG):
        await kube.apply(obj)
    with tracing.span(
        tracing.tracer("logistica.operator"),
        "start solver Job",
        context=traces.parent(body),
        attributes={"k8s.namespace.name": namespace, "k8s.object.name": name},
    ):
        job = solver_job(
            name, namespace, body["metadata"]["uid"], spec, attempt, CONFIG, tracing.traceparent()
        )
        await kube.apply(job)
    old = status.get("jobName")
    if old and old != job["metadata"]["name"]:
        await kube.delete("batch/v1", "Job", old, namespace)
    patch.status.update(
        phase="Running",
        jobName=job["metadata"]["name"],
        attempt=attempt,
        startTime=now(),
        completionTime=None,
        message=f"solving in Job {job['metadata']['name']}",
        conditions=_conditions(body, "Running", True, "JobCreated", job["metadata"]["name"]),
    )


def _job_outcome(job: dict[str, Any] | None) -> tuple[str, str] | None:
    """("Succeeded"|"Failed", reason) once the Job has finished, else None."""
    if job is None:
        return "Failed", "JobDeleted"
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("status") != "True":
            continue
        if c.get("type") == "Complete":
            return "Succeeded", "JobComplete"
        if c.get("type") == "Failed":
            return "Failed", str(c.get("reason") or "JobFailed")
    return None


@kopf.timer(API_GROUP, API_VERSION, PLURAL, interval=1.0, initial_delay=0.5)
@metrics.reconciled("RoutingJob", "drive")
async def drive(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    name: str,
    namespace: str | None,
    patch: kopf.Patch,
    **kwargs: Any,
) -> None:
    assert namespace is not None  # the CRD is namespaced
    index = kwargs["routingjobs"]  # the index below, injected by kopf; live, read at scrape
    metrics.ROUTING_JOBS.watch(lambda: SCHEDULER.view(index))
    phase = status.get("phase")
    if phase is None:  # not accepted yet
        return
    if phase == "Failed" and not status.get("completionTime"):  # rejected at creation
        patch.status["completionTime"] = now()
        return
    if phase in FINISHED:  # only the TTL is left; no need to parse a large problem every tick
        await _expire(spec.get("ttlSecondsAfterFinished"), status, name, namespace)
        return
    try:
        parsed = RoutingJobSpec.model_validate(dict(spec))
    except ValidationError:
        return
    key = (namespace, name)
    if parsed.suspend and phase != "Suspended":
        if phase == "Running" and status.get("jobName"):
            await kube.patch(
                "batch/v1", "Job", status["jobName"], namespace, {"spec": {"suspend": True}}
            )
        SCHEDULER.note(key, "Suspended")
        patch.status.update(
            phase="Suspended",
            message="suspended; the best solution is kept",
            conditions=_conditions(body, "Running", False, "Suspended", "spec.suspend is true"),
        )
        return
    if phase == "Suspended":
        if not parsed.suspend:
            SCHEDULER.note(key, "Pending")
            patch.status.update(phase="Pending", message="unsuspended: waiting for a slot")
        return
    if phase == "Running":
        job = await kube.get("batch/v1", "Job", status.get("jobName", ""), namespace)
        outcome = _job_outcome(job)
        if outcome is None:
            return
        final, reason = outcome
        if (
            final == "Succeeded"
            and not (status.get("result") or {}).get("routes")
            and not (status.get("result") or {}).get("unassigned")
        ):
            final, reason = "Failed", "NoResult"
        SCHEDULER.note(key, final)
        patch.status.update(
            phase=final,
            completionTime=now(),
            message=reason,
            conditions=_conditions(body, "Running", False, reason, f"Job finished: {reason}"),
        )
        return
    if not _accepted(status):  # `accept` still waits for the problem (e.g. its ConfigMap)
        return
    async with SCHEDULER.lock:  # Pending or Queued: admit the oldest first
        view = SCHEDULER.view(index)
        running = sum(1 for _, ph, _s in view.values() if ph in ACTIVE)
        waiting = sorted(
            (created, ns, nm)
            for (ns, nm), (created, ph, held) in view.items()
            if ph in WAITING and not held
        )
        position = next(
            (i for i, (_, ns, nm) in enumerate(waiting) if (ns, nm) == key), len(waiting)
        )
        if running + position < CONFIG.solver_concurrency:
            SCHEDULER.note(key, "Running")
            await _start(body, parsed, namespace, name, patch)
            return
    message = (
        f"queued: {position + 1} of {len(waiting)} waiting, {running} running "
        f"(limit {CONFIG.solver_concurrency})"
    )
    if phase != "Queued" or status.get("message") != message:
        SCHEDULER.note(key, "Queued")
        patch.status.update(phase="Queued", message=message)


async def _expire(ttl: int | None, status: kopf.Status, name: str, namespace: str) -> None:
    done = status.get("completionTime")
    if ttl is None or not done:
        return
    finished = dt.datetime.strptime(done, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    if dt.datetime.now(dt.UTC) >= finished + dt.timedelta(seconds=ttl):
        await kube.delete(f"{API_GROUP}/{API_VERSION}", "RoutingJob", name, namespace)
