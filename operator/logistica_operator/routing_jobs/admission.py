"""Admission: which waiting RoutingJobs get a solver slot, oldest first, under the limit.

One loop per operator decides for every RoutingJob at once from the in-memory index (no API
reads while nothing changes), woken by any RoutingJob event and by finished Jobs, with a slow
fallback tick. The decision itself (:func:`decide`) is a pure function of the entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import kopf
from pydantic import ValidationError

from logistica_operator import kube, metrics, traces
from logistica_operator.builders import solver_job, solver_rbac
from logistica_operator.config import OperatorConfig
from logistica_operator.routing_jobs.status import PLURAL, Conditions, Key, get, write
from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    Phase,
    Reason,
    RoutingJobCondition,
    RoutingJobSpec,
    RoutingJobStatus,
    describe_errors,
)
from logistica_workers.api.conditions import find, now
from logistica_workers.runtime import tracing

log = logging.getLogger("logistica.operator.admission")
CONFIG = OperatorConfig()
FALLBACK_SECONDS = 10.0  # a missed wake-up costs at most this long


@dataclass(frozen=True)
class Entry:
    """What admission needs to know of one RoutingJob."""

    created: str  # metadata.creationTimestamp: the queue order
    phase: Phase
    held: bool = False  # suspended, or not accepted (e.g. its ConfigMap is missing)
    job_name: str | None = None
    unseen: bool = False  # `accept` has not run yet: it keeps its place, younger ones wait


@dataclass(frozen=True)
class Decision:
    start: list[Key]  # give these a solver slot now, in this order
    queue: list[Key]  # still waiting and not yet shown as Queued


def decide(entries: Mapping[Key, Entry], limit: int) -> Decision:
    """Oldest first (creation time, then namespace/name) into the free slots; the rest queue."""
    running = sum(1 for e in entries.values() if e.phase is Phase.RUNNING)
    waiting = sorted(
        (k for k, e in entries.items() if e.phase.waiting and not e.held),
        key=lambda k: (entries[k].created, k),
    )
    ready = next((i for i, k in enumerate(waiting) if entries[k].unseen), len(waiting))
    free = max(0, limit - running)
    start = waiting[: min(free, ready)]
    return Decision(
        start=start,
        queue=[
            k
            for k in waiting[len(start) :]
            if entries[k].phase is Phase.PENDING and not entries[k].unseen
        ],
    )


def entry_of(meta: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any]) -> Entry:
    """The index entry of a RoutingJob body (no spec parsing: this runs on every event)."""
    head = ("phase", "jobName", "conditions")  # not the result: it may be large
    current = RoutingJobStatus.read({k: status[k] for k in head if k in status})
    accepted = find(current.conditions, RoutingJobCondition.ACCEPTED)
    return Entry(
        created=str(meta.get("creationTimestamp") or ""),
        phase=current.phase or Phase.PENDING,
        held=bool(spec.get("suspend")) or (accepted is not None and accepted.status != "True"),
        job_name=current.job_name,
        unseen=accepted is None and not spec.get("suspend"),
    )


@kopf.index(API_GROUP, API_VERSION, PLURAL)
def routingjobs(
    name: str,
    namespace: str | None,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    **_: Any,
) -> dict[str, tuple[Key, Entry]]:
    return {"all": ((namespace or "", name), entry_of(meta, spec, status))}


class Scheduler:
    """The index lags behind this process's own writes: its decisions are remembered (and
    override the index) until the index shows them, so no slot is given twice."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.noted: dict[Key, Entry] = {}

    def note(self, key: Key, entry: Entry) -> None:
        self.noted[key] = entry

    def view(self, items: Iterable[tuple[Key, Entry]]) -> dict[Key, Entry]:
        out = dict(items)
        for key, ours in list(self.noted.items()):
            seen = out.get(key)
            if seen is None or (seen.phase is ours.phase and seen.job_name == ours.job_name):
                del self.noted[key]  # deleted (decisions come from the index), or caught up
            else:
                out[key] = replace(seen, phase=ours.phase, job_name=ours.job_name)
        return out


class Admission:
    """The operator-wide admission loop (started by the first RoutingJob or Job event, when
    kopf has filled the index)."""

    def __init__(self) -> None:
        self.scheduler = Scheduler()
        self.index: kopf.Index[str, tuple[Key, Entry]] | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.rbac_applied: set[str] = set()

    def entries(self) -> dict[Key, Entry]:
        return self.scheduler.view(self.index.get("all", []) if self.index is not None else [])

    def kick(self, index: kopf.Index[str, tuple[Key, Entry]]) -> None:
        if self.task is None:
            self.index = index
            self.wake = asyncio.Event()
            self.task = asyncio.create_task(self._loop(), name="routingjob-admission")
            metrics.ROUTING_JOBS.watch(
                lambda: {k: (e.created, e.phase.value, e.held) for k, e in self.entries().items()}
            )
        self.wake.set()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), FALLBACK_SECONDS)
            self.wake.clear()
            try:
                await self.step()
            except Exception:  # an API error: log it and try again shortly
                log.exception("admission step failed")
                await asyncio.sleep(1.0)
                self.wake.set()

    async def step(self) -> None:
        async with self.scheduler.lock:
            entries = self.entries()
            decision = decide(entries, CONFIG.solver_concurrency)
            for key in decision.start:
                await self.start(key, entries[key])
            if decision.queue:
                message = f"waiting for a solver slot (limit {CONFIG.solver_concurrency})"
                for key in decision.queue:
                    await write(key, RoutingJobStatus(phase=Phase.QUEUED, message=message))
                    self.scheduler.note(key, replace(entries[key], phase=Phase.QUEUED))

    async def fail(self, key: Key, entry: Entry, body: dict[str, Any], message: str) -> None:
        conditions = Conditions(body, RoutingJobStatus.read(body.get("status"))).set(
            RoutingJobCondition.FAILED, True, Reason.INVALID_SPEC, message
        )
        failed = RoutingJobStatus(
            phase=Phase.FAILED, message=message, completion_time=now(), conditions=conditions.items
        )
        await write(key, failed, conditions)
        self.scheduler.note(key, replace(entry, phase=Phase.FAILED))

    async def start(self, key: Key, entry: Entry) -> None:
        """Create the next attempt's Job (and the solver's RBAC) and mark the RoutingJob Running."""
        namespace, name = key
        body = await get(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        current = RoutingJobStatus.read(body.get("status"))
        try:
            spec = RoutingJobSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:  # the CRD's schema lets little through; be safe
            await self.fail(key, entry, body, str(describe_errors(exc, prefix="spec")))
            return
        if namespace not in self.rbac_applied:
            for obj in solver_rbac(namespace, CONFIG):
                await kube.apply(obj)
            self.rbac_applied.add(namespace)
        attempt = (current.attempt or 0) + 1
        with tracing.span(
            tracing.tracer("logistica.operator"),
            "start solver Job",
            context=traces.parent(body),
            attributes={"k8s.namespace.name": namespace, "k8s.object.name": name},
        ):
            job = solver_job(
                name,
                namespace,
                body["metadata"]["uid"],
                spec,
                attempt,
                CONFIG,
                tracing.traceparent(),
            )
            await kube.apply(job)
        job_name = str(job["metadata"]["name"])
        if current.job_name and current.job_name != job_name:
            await kube.delete("batch/v1", "Job", current.job_name, namespace)
        conditions = Conditions(body, current).set(
            RoutingJobCondition.RUNNING, True, Reason.JOB_CREATED, job_name
        )
        await write(
            key,
            RoutingJobStatus(
                phase=Phase.RUNNING,
                job_name=job_name,
                attempt=attempt,
                start_time=now(),
                completion_time=None,
                message=f"solving in Job {job_name}",
                conditions=conditions.items,
            ),
            conditions,
        )
        self.scheduler.note(key, replace(entry, phase=Phase.RUNNING, job_name=job_name))


ADMISSION = Admission()


@kopf.on.event(API_GROUP, API_VERSION, PLURAL)
async def routingjob_changed(**kwargs: Any) -> None:
    """Any RoutingJob event (created, accepted, suspended, deleted) may free or need a slot."""
    ADMISSION.kick(kwargs["routingjobs"])
