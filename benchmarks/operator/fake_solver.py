"""For the RoutingJob benchmark only: stands in for the kubelet, the Job controller and the solver
pod. For every solver Job in one namespace it writes a result to the RoutingJob's status (what
``logistica solve --routingjob`` writes, through the same ``RoutingJobStatus`` model) and then
marks the Job complete (status patched as the Job controller would), ``delay`` seconds after the
Job appeared. 1,000 real solver pods at concurrency 4 would take the 2-core test node ~20 min of
pod start-ups; this keeps the timing the operator's own."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes import client

from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    RoutingJobStatus,
    RoutingProgress,
    Solution,
    SolverInfo,
)

ROUTINGJOB_LABEL = "logistica.dev/routingjob"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def solution() -> Solution:
    return Solution(
        routes=[],
        unassigned=["s0"],
        total_distance_meters=0.0,
        total_duration_seconds=0.0,
        objective=0.0,
        partial=False,
        solver=SolverInfo(engine="fake", status="FEASIBLE", wall_seconds=0.0, solutions=1),
    )


class FakeSolver:
    def __init__(self, api: client.ApiClient, namespace: str, delay: float = 1.0) -> None:
        self.batch = client.BatchV1Api(api)
        self.crs = client.CustomObjectsApi(api)
        self.namespace, self.delay = namespace, delay
        self.requests = 0  # API requests this stand-in issued (to subtract from the server's)
        self.errors: list[str] = []
        self.paused = threading.Event()
        self.paused.set()
        self.first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-solver")

    def start(self) -> None:
        self._thread.start()

    def resume(self) -> None:
        self.paused.clear()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.paused.is_set():
                try:
                    self._sync()
                except Exception as exc:  # keep going; the benchmark reports the errors
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.2)

    def _sync(self) -> None:
        self.requests += 1
        jobs = self.batch.list_namespaced_job(self.namespace, label_selector=ROUTINGJOB_LABEL)
        now = time.monotonic()
        for job in jobs.items:
            if any(c.type == "Complete" for c in job.status.conditions or []):
                continue
            seen = self.first_seen.setdefault(job.metadata.name, now)
            if now - seen >= self.delay:
                self._complete(job)

    def _complete(self, job: Any) -> None:
        owner = job.metadata.labels[ROUTINGJOB_LABEL]
        done = RoutingJobStatus(
            result=solution(),
            progress=RoutingProgress(best_objective=0.0, solutions_found=1, elapsed_seconds=0.0),
        )
        self.crs.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, self.namespace, "routingjobs", owner, {"status": done.patch()}
        )
        started = _now()
        self.batch.patch_namespaced_job_status(
            job.metadata.name,
            self.namespace,
            {
                "status": {
                    "startTime": started,
                    "completionTime": started,
                    "succeeded": 1,
                    "conditions": [
                        {"type": t, "status": "True", "reason": "CompletionsReached",
                         "lastTransitionTime": started, "lastProbeTime": started}
                        for t in ("SuccessCriteriaMet", "Complete")
                    ],
                }
            },
        )  # fmt: skip
        self.requests += 2
