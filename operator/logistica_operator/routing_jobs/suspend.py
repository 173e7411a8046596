"""``spec.suspend``: a running solve is stopped (its Job suspended: the solver gets SIGTERM and
writes its best routes as a partial result); unsuspending queues the RoutingJob again and the
next admission starts a new attempt."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import kopf

from logistica_operator import kube, metrics
from logistica_operator.routing_jobs.admission import ADMISSION, Entry
from logistica_operator.routing_jobs.status import PLURAL, Conditions, Key, get, write
from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    Phase,
    Reason,
    RoutingJobCondition,
    RoutingJobStatus,
)


async def _suspend(key: Key, entry: Entry) -> Phase | None:
    namespace, _ = key
    if entry.phase.finished or entry.phase is Phase.SUSPENDED:
        return None
    if entry.phase is Phase.RUNNING and entry.job_name:
        await kube.patch("batch/v1", "Job", entry.job_name, namespace, {"spec": {"suspend": True}})
    body = await get(*key)
    if body is None:
        return None
    conditions = Conditions(body, RoutingJobStatus.read(body.get("status")))
    conditions.set(RoutingJobCondition.SUSPENDED, True, Reason.SUSPENDED, "spec.suspend is true")
    if entry.phase is Phase.RUNNING:
        conditions.set(RoutingJobCondition.RUNNING, False, Reason.SUSPENDED, "spec.suspend is true")
    await write(
        key,
        RoutingJobStatus(
            phase=Phase.SUSPENDED,
            message="suspended; the best solution is kept",
            conditions=conditions.items,
        ),
        conditions,
    )
    return Phase.SUSPENDED


async def _resume(key: Key, entry: Entry) -> Phase | None:
    if entry.phase is not Phase.SUSPENDED:
        return None
    body = await get(*key)
    if body is None:
        return None
    conditions = Conditions(body, RoutingJobStatus.read(body.get("status")))
    conditions.set(RoutingJobCondition.SUSPENDED, False, Reason.RESUMED, "spec.suspend is false")
    await write(
        key,
        RoutingJobStatus(
            phase=Phase.PENDING,
            message="unsuspended: waiting for a solver slot",
            conditions=conditions.items,
        ),
        conditions,
    )
    return Phase.PENDING


@kopf.on.update(API_GROUP, API_VERSION, PLURAL, field="spec.suspend")
@metrics.reconciled("RoutingJob", "suspend")
async def suspend_changed(new: Any, name: str, namespace: str | None, **kwargs: Any) -> None:
    assert namespace is not None
    key = (namespace, name)
    ADMISSION.kick(kwargs["routingjobs"])
    async with ADMISSION.scheduler.lock:
        entry = ADMISSION.entries().get(key)
        if entry is None:
            return
        phase = await (_suspend if new else _resume)(key, entry)
        if phase is not None:
            ADMISSION.scheduler.note(key, replace(entry, phase=phase))
    ADMISSION.wake.set()
