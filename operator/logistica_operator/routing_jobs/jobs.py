"""Following the solver Jobs: their watch events (not polling) finish the owning RoutingJob.

A Job's ``Complete`` or ``Failed`` condition, or its deletion, moves the RoutingJob whose current
Job it is to Succeeded or Failed and wakes admission for the next in the queue. Events of an
older attempt's Job, or for a RoutingJob already finished, change nothing, so the listing kopf
replays after a restart is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import kopf

from logistica_operator import kube, metrics
from logistica_operator.names import MANAGED_BY, ROUTINGJOB_LABEL
from logistica_operator.routing_jobs.admission import ADMISSION
from logistica_operator.routing_jobs.status import PLURAL, Conditions, Key, get, write
from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    Phase,
    Reason,
    RoutingJobCondition,
    RoutingJobStatus,
)
from logistica_workers.api.conditions import now


def job_outcome(job: Mapping[str, Any] | None) -> tuple[Phase, str] | None:
    """(Succeeded | Failed, reason) once the Job has finished (or is gone), else None."""
    if job is None:
        return Phase.FAILED, Reason.JOB_DELETED
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("status") != "True":
            continue
        if c.get("type") == "Complete":
            return Phase.SUCCEEDED, Reason.JOB_COMPLETE
        if c.get("type") == "Failed":
            return Phase.FAILED, str(c.get("reason") or Reason.JOB_FAILED)
    return None


def final_status(
    body: Mapping[str, Any], phase: Phase, reason: str, job_name: str
) -> tuple[RoutingJobStatus, Conditions]:
    """The finished status: a Job that completed without writing a result is a failure."""
    current = RoutingJobStatus.read(body.get("status"))
    if phase is Phase.SUCCEEDED and not current.has_result:
        phase, reason = Phase.FAILED, Reason.NO_RESULT
    message = f"Job {job_name} finished: {reason}"
    conditions = Conditions(body, current).set(RoutingJobCondition.RUNNING, False, reason, message)
    if phase is Phase.SUCCEEDED:
        conditions.set(RoutingJobCondition.COMPLETE, True, reason, message)
    else:
        conditions.set(RoutingJobCondition.FAILED, True, reason, message)
    status = RoutingJobStatus(
        phase=phase, completion_time=now(), message=reason, conditions=conditions.items
    )
    return status, conditions


async def finish(key: Key, job_name: str, phase: Phase, reason: str) -> None:
    """Finish the RoutingJob if ``job_name`` is still its current Job, then wake admission."""
    async with ADMISSION.scheduler.lock:
        entry = ADMISSION.entries().get(key)
        if entry is None or entry.phase is not Phase.RUNNING or entry.job_name != job_name:
            return  # an older attempt's Job, or handled already
        body = await get(*key)
        if body is None:
            return
        status, conditions = final_status(body, phase, reason, job_name)
        await write(key, status, conditions)
        assert status.phase is not None
        ADMISSION.scheduler.note(key, replace(entry, phase=status.phase))
    ADMISSION.wake.set()


@kopf.on.event(
    "batch",
    "v1",
    "jobs",
    labels={"app.kubernetes.io/managed-by": MANAGED_BY, ROUTINGJOB_LABEL: kopf.PRESENT},
)
@metrics.reconciled("Job", "job_changed")
async def job_changed(
    type: str | None, body: kopf.Body, name: str, namespace: str | None, **kwargs: Any
) -> None:
    owner = body.get("metadata", {}).get("labels", {}).get(ROUTINGJOB_LABEL)
    if not owner or not namespace:
        return
    ADMISSION.kick(kwargs["routingjobs"])
    outcome = job_outcome(None if type == "DELETED" else body)
    if outcome is not None:
        await finish((namespace, owner), name, *outcome)


def _running(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") == Phase.RUNNING


@kopf.on.resume(API_GROUP, API_VERSION, PLURAL, when=_running)
@metrics.reconciled("RoutingJob", "resume_running")
async def resume_running(
    status: kopf.Status, name: str, namespace: str | None, **kwargs: Any
) -> None:
    """After a restart: a Job deleted while the operator was away sent no event we saw."""
    assert namespace is not None
    ADMISSION.kick(kwargs["routingjobs"])
    job_name = str(status.get("jobName") or "")
    if await kube.get("batch/v1", "Job", job_name, namespace) is None:
        await finish((namespace, name), job_name, Phase.FAILED, Reason.JOB_DELETED)
