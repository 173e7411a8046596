"""A RoutingJob's ``status``: the one model the operator and the solver both write and read.

The operator owns ``phase``, the conditions and the bookkeeping (job, attempt, times); the solver
writes ``progress`` and ``result``. Each writes a merge patch of only its own fields
(:meth:`RoutingJobStatus.patch`), so neither overwrites the other.

Phases: Pending (accepted, waiting for its turn or its ConfigMap) -> Queued (the concurrency limit
is reached) -> Running (a Job exists) -> Succeeded | Failed; Suspended while ``spec.suspend``.
Conditions for ``kubectl wait``: ``Complete`` (True once Succeeded) and ``Failed`` (True once
Failed), plus ``Accepted``, ``Running`` and ``Suspended``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from logistica_workers.api.conditions import Condition, StatusModel
from logistica_workers.api.routing import Solution

SOLVER_EXIT_INTERRUPTED = 75
"""The solver's exit code when SIGTERM stopped it and the RoutingJob is not suspended (an
evicted or deleted pod): its partial plan is written, and the Job runs the solve again (the
Job's ``podFailurePolicy`` ignores this exit, so it does not count against ``backoffLimit``).
75 is sysexits' EX_TEMPFAIL."""


class Phase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)

    @property
    def waiting(self) -> bool:
        """Waiting for a solver slot (once accepted and unless suspended)."""
        return self in (Phase.PENDING, Phase.QUEUED)


class RoutingJobCondition(StrEnum):
    ACCEPTED = "Accepted"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    COMPLETE = "Complete"
    FAILED = "Failed"


class Reason(StrEnum):
    """Condition reasons (CamelCase, as Kubernetes writes them)."""

    # Accepted
    INLINE = "Inline"
    CONFIG_MAP = "ConfigMap"
    CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
    KEY_NOT_FOUND = "KeyNotFound"
    INVALID_PROBLEM = "InvalidProblem"
    INVALID_MATRIX = "InvalidMatrix"
    INVALID_SPEC = "InvalidSpec"
    # Running / Suspended
    JOB_CREATED = "JobCreated"
    SUSPENDED = "Suspended"
    RESUMED = "Resumed"
    # Complete / Failed
    JOB_COMPLETE = "JobComplete"
    JOB_FAILED = "JobFailed"
    JOB_DELETED = "JobDeleted"
    NO_RESULT = "NoResult"


class RoutingProgress(StatusModel):
    best_objective: float
    solutions_found: int
    elapsed_seconds: float


class RoutingJobStatus(StatusModel):
    phase: Phase | None = None
    message: str | None = None
    observed_generation: int | None = None
    job_name: str | None = None
    attempt: int | None = None
    stops: int | None = None
    couriers: int | None = None
    start_time: str | None = None
    completion_time: str | None = None
    progress: RoutingProgress | None = None
    result: Solution | None = None
    conditions: list[Condition] = []

    @classmethod
    def read(cls, status: Any) -> RoutingJobStatus:
        """The status of a RoutingJob as read from the API (``{}`` or absent: empty)."""
        return cls.model_validate(dict(status or {}))

    def patch(self) -> dict[str, Any]:
        """A merge patch of the fields set on this instance (an explicit None clears one);
        the fields inside them are written whole."""
        return self.model_dump(mode="json", by_alias=True, include=set(self.model_fields_set))

    @property
    def has_result(self) -> bool:
        return self.result is not None and bool(self.result.routes or self.result.unassigned)
