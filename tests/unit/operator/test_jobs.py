"""Following a solver Job: its conditions to the RoutingJob's outcome and final status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from logistica_operator.routing_jobs.jobs import final_status, job_outcome
from logistica_operator.routing_jobs.ttl import seconds_left
from logistica_workers.api import Phase, Reason


def job(*conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "status": {"conditions": [{"type": t, "status": s, "reason": r} for t, s, r in conditions]}
    }


def test_job_outcomes() -> None:
    assert job_outcome(job()) is None
    assert job_outcome(job(("Suspended", "True", "JobSuspended"))) is None
    assert job_outcome(job(("Complete", "True", ""))) == (Phase.SUCCEEDED, Reason.JOB_COMPLETE)
    assert job_outcome(job(("Failed", "True", "DeadlineExceeded"))) == (
        Phase.FAILED,
        "DeadlineExceeded",
    )
    assert job_outcome(job(("Failed", "False", "x"), ("Complete", "False", ""))) is None
    assert job_outcome(None) == (Phase.FAILED, Reason.JOB_DELETED)


def body(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "rj", "generation": 2}, "status": status}


RESULT = {
    "routes": [],
    "unassigned": ["a"],
    "totalDistanceMeters": 0,
    "totalDurationSeconds": 0,
    "objective": 0,
    "partial": False,
    "solver": {"engine": "ortools", "status": "OPTIMAL", "wallSeconds": 0.1, "solutions": 1},
}


def test_complete_with_a_result_is_succeeded_with_the_complete_condition() -> None:
    running = {"type": "Running", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}
    status, conditions = final_status(
        body({"phase": "Running", "result": RESULT, "conditions": [running]}),
        Phase.SUCCEEDED,
        Reason.JOB_COMPLETE,
        "rj-solve-1",
    )
    assert status.phase is Phase.SUCCEEDED
    assert status.completion_time is not None
    by_type = {c.type: c for c in status.conditions}
    assert (by_type["Running"].status, by_type["Complete"].status) == ("False", "True")
    assert "Failed" not in by_type
    assert by_type["Complete"].observed_generation == 2
    assert {t for t, *_ in conditions.transitions} == {"Running", "Complete"}


def test_complete_without_a_result_is_failed_no_result() -> None:
    status, _ = final_status(body({"phase": "Running"}), Phase.SUCCEEDED, "JobComplete", "j")
    assert status.phase is Phase.FAILED
    failed = next(c for c in status.conditions if c.type == "Failed")
    assert (failed.status, failed.reason) == ("True", Reason.NO_RESULT)


def test_ttl_seconds_left() -> None:
    at = dt.datetime(2026, 1, 1, 0, 0, 10, tzinfo=dt.UTC)
    assert seconds_left(30, "2026-01-01T00:00:00Z", at) == 20
    assert seconds_left(5, "2026-01-01T00:00:00Z", at) == -5
