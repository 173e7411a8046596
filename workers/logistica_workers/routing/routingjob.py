"""``logistica solve --routingjob NAMESPACE/NAME``: the solver Job's process.

Reads the RoutingJob (its problem inline, or the ConfigMap key the operator mounted at
``$LOGISTICA_PROBLEM_FILE``; a matrixFrom matrix at ``$LOGISTICA_MATRIX_FILE``), solves with progress written to ``status.progress`` (at most once
a second), and writes the solution to ``status.result`` (and ``routing_results`` when
``$LOGISTICA_DATABASE_URL`` is set). SIGTERM (suspend, deadline, eviction) stops the search and
the best solution so far is written with ``partial: true``; unless the RoutingJob is suspended,
the process then ends with ``SOLVER_EXIT_INTERRUPTED`` so that the Job runs the solve again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
from kubernetes import client, config
from pydantic import ValidationError

from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    Matrix,
    Problem,
    RoutingJobSpec,
    RoutingJobStatus,
    RoutingProgress,
    Solution,
    describe_errors,
)
from logistica_workers.api.documents import document_text
from logistica_workers.routing import replan
from logistica_workers.routing.portfolio import Portfolio, Progress, has_room
from logistica_workers.runtime.settings import env_optional

log = logging.getLogger("logistica.solve")
PLURAL = "routingjobs"


class RoutingJobError(Exception):
    pass


class Interrupted(Exception):
    """SIGTERM stopped the search and the RoutingJob is not suspended (an evicted or deleted
    pod): the partial plan is written, and the solve should run again."""


def _load_kube_config() -> None:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


def load_problem(spec: RoutingJobSpec) -> Problem:
    problem = _load_problem(spec)
    if spec.matrix_from is None:
        return problem
    if problem.matrix is not None:
        raise RoutingJobError("spec.matrixFrom is set and the problem has a matrix too")
    path = env_optional("LOGISTICA_MATRIX_FILE")
    if not path:
        raise RoutingJobError("spec.matrixFrom is set but LOGISTICA_MATRIX_FILE is not")
    try:
        doc = json.loads(document_text(Path(path).read_bytes()))
    except (OSError, ValueError) as exc:  # DocumentError is a ValueError
        raise RoutingJobError(f"cannot read the matrix from {path}: {exc}") from None
    try:
        return problem.with_matrix(Matrix.model_validate(doc))
    except ValidationError as exc:
        raise RoutingJobError(f"{path}: {describe_errors(exc, prefix='matrix')}") from None
    except ValueError as exc:
        raise RoutingJobError(f"{path}: {exc}") from None


def _load_problem(spec: RoutingJobSpec) -> Problem:
    inline = spec.inline_problem()
    if inline is not None:
        return inline
    path = env_optional("LOGISTICA_PROBLEM_FILE")
    if not path:
        raise RoutingJobError("spec.problemFrom is set but LOGISTICA_PROBLEM_FILE is not")
    try:
        doc = json.loads(document_text(Path(path).read_bytes()))
    except (OSError, ValueError) as exc:  # DocumentError is a ValueError
        raise RoutingJobError(f"cannot read the problem from {path}: {exc}") from None
    try:
        problem = Problem.model_validate(doc)
    except ValidationError as exc:
        raise RoutingJobError(f"{path}: {describe_errors(exc)}") from None
    return problem.model_copy(update={"options": spec.options})  # the RoutingJob's options win


class StatusWriter:
    def __init__(self, namespace: str, name: str, min_interval: float = 1.0) -> None:
        self.api = client.CustomObjectsApi()
        self.namespace, self.name = namespace, name
        self.min_interval = min_interval
        self._last = 0.0

    def patch(self, status: RoutingJobStatus) -> None:
        """Merge-patch only the fields set on ``status`` (the operator owns the others)."""
        self.api.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, self.namespace, PLURAL, self.name, {"status": status.patch()}
        )

    def suspended_or_gone(self) -> bool:
        """Whether the RoutingJob asks for no more solving: suspended, or deleted. An API error
        counts as neither (solving again is the safe side)."""
        try:
            rj = self.api.get_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, PLURAL, self.name
            )
        except client.ApiException as exc:
            return bool(exc.status == 404)
        spec = rj.get("spec") if isinstance(rj, dict) else None
        return bool(isinstance(spec, dict) and spec.get("suspend"))

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self.min_interval:
            return
        self._last = now
        try:
            self.patch(
                RoutingJobStatus(
                    progress=RoutingProgress(
                        best_objective=round(p.best_objective, 3),
                        solutions_found=p.solutions,
                        elapsed_seconds=round(p.elapsed, 3),
                    )
                )
            )
        except client.ApiException as exc:  # progress is best effort; the result is not
            log.warning("progress not written", extra={"status": exc.status})


async def store_result(dsn: str, rj: dict[str, Any], solution: Solution) -> None:
    meta = rj["metadata"]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO routing_results (namespace, name, uid, generation, partial,
                 total_distance_meters, total_duration_seconds, objective, solution)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
            meta["namespace"],
            meta["name"],
            meta["uid"],
            int(meta.get("generation", 0)),
            solution.partial,
            solution.total_distance_meters,
            solution.total_duration_seconds,
            solution.objective,
            solution.model_dump_json(by_alias=True),
        )
    finally:
        await conn.close()


def solve_routingjob(ref: str, time_limit: float | None) -> Solution:
    namespace, _, name = ref.partition("/")
    if not namespace or not name:
        raise RoutingJobError(f"--routingjob takes NAMESPACE/NAME, got {ref!r}")
    _load_kube_config()
    writer = StatusWriter(namespace, name)
    try:
        rj: dict[str, Any] = dict(
            writer.api.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name)
        )  # type: ignore[call-overload]
    except client.ApiException as exc:
        raise RoutingJobError(f"cannot read RoutingJob {ref}: {exc.status} {exc.reason}") from None
    try:
        spec = RoutingJobSpec.model_validate(rj.get("spec"))
    except ValidationError as exc:
        raise RoutingJobError(str(describe_errors(exc, prefix="spec"))) from None
    problem = load_problem(spec)
    inst, rp = replan.prepare(problem, time_limit)
    warm = rp.warm_start(inst) if rp is not None else None
    portfolio = Portfolio(inst, on_progress=writer.progress, initial=warm, lean=True)
    signal.signal(signal.SIGTERM, lambda *_: portfolio.stop())
    signal.signal(signal.SIGINT, lambda *_: portfolio.stop())
    solution = portfolio.run()
    if rp is not None:
        solution = rp.finish(solution)
    try:
        writer.patch(
            RoutingJobStatus(
                result=solution,
                progress=RoutingProgress(
                    best_objective=solution.objective,
                    solutions_found=solution.solver.solutions,
                    elapsed_seconds=solution.solver.wall_seconds,
                ),
            )
        )
    except client.ApiException as exc:
        gone = " (the RoutingJob was deleted)" if exc.status == 404 else ""
        raise RoutingJobError(
            f"cannot write the result to RoutingJob {ref}: {exc.status} {exc.reason}{gone}"
        ) from None
    dsn = env_optional("LOGISTICA_DATABASE_URL")
    if dsn:
        asyncio.run(store_result(dsn, rj, solution))
    if solution.partial and not writer.suspended_or_gone():
        raise Interrupted(f"stopped by SIGTERM after {solution.solver.wall_seconds:.1f} s")
    if not solution.routes and has_room(inst):
        raise RoutingJobError(
            f"no solution: every stop unassigned (status {solution.solver.status}) although "
            "couriers have room; raise spec.options.timeLimitSeconds"
        )
    return solution
