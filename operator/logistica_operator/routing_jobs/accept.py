"""Acceptance: the spec validated and the problem resolved once per generation.

On creation the spec is validated and the problem read (inline, or from its ConfigMap: a missing
one keeps the RoutingJob Pending and is retried); ``status.observedGeneration`` records the
generation that passed. A later spec change (options, suspend, TTL) is validated once, by the
update handler; admission and the Job follower never parse the spec again to decide anything.
"""

from __future__ import annotations

import json
from typing import Any

import kopf
from pydantic import ValidationError

from logistica_operator import kube, metrics
from logistica_operator.routing_jobs.status import PLURAL, Conditions
from logistica_workers.api import (
    API_GROUP,
    API_VERSION,
    Matrix,
    Phase,
    Problem,
    Reason,
    RoutingJobCondition,
    RoutingJobSpec,
    RoutingJobStatus,
    describe_errors,
)
from logistica_workers.api.conditions import now
from logistica_workers.api.documents import DocumentError, configmap_document
from logistica_workers.api.routing import ConfigMapKeyRef, MatrixKeyRef

RETRY_SECONDS = 5  # a missing ConfigMap is looked for again this often


async def resolve_problem(
    spec: RoutingJobSpec, namespace: str
) -> tuple[Problem | None, Reason, str]:
    """The problem (with its matrixFrom matrix), or None with (reason, message) when it cannot
    be had (yet)."""
    problem, reason, message = await _problem_only(spec, namespace)
    if problem is None or spec.matrix_from is None:
        return problem, reason, message
    ref = spec.matrix_from.config_map_key_ref
    if problem.matrix is not None:
        return (
            None,
            Reason.INVALID_MATRIX,
            "spec.matrixFrom is set and the problem has a matrix too",
        )
    text, why, detail = await _document(ref, namespace, Reason.INVALID_MATRIX, " (matrixFrom)")
    if text is None:
        return None, why, detail
    where = f"{ref.name}/{ref.key}"
    try:
        matrix = Matrix.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        return None, Reason.INVALID_MATRIX, f"{where} is not JSON: {exc}"
    except ValidationError as exc:
        return None, Reason.INVALID_MATRIX, f"{where}: {describe_errors(exc, prefix='matrix')}"
    try:
        return problem.with_matrix(matrix), reason, f"{message}, matrix {where}"
    except ValueError as exc:
        return None, Reason.INVALID_MATRIX, f"{where}: {exc}"


async def _document(
    ref: ConfigMapKeyRef | MatrixKeyRef, namespace: str, invalid: Reason, label: str
) -> tuple[str | None, Reason, str]:
    """The text under a ConfigMap key (``data``, or ``binaryData`` maybe gzipped), or None with
    (reason, message): the ConfigMap or key missing (retried), or bytes that are no document."""
    cm = await kube.get("v1", "ConfigMap", ref.name, namespace)
    if cm is None:
        return None, Reason.CONFIG_MAP_NOT_FOUND, f"ConfigMap {ref.name}{label} does not exist"
    try:
        text = configmap_document(cm, ref.key)
    except DocumentError as exc:
        return None, invalid, f"{ref.name}/{ref.key}{label}: {exc}"
    if text is None:
        return None, Reason.KEY_NOT_FOUND, f"ConfigMap {ref.name} has no key {ref.key}{label}"
    return text, invalid, ""


async def _problem_only(spec: RoutingJobSpec, namespace: str) -> tuple[Problem | None, Reason, str]:
    inline = spec.inline_problem()
    if inline is not None:
        return inline, Reason.INLINE, "spec.problem"
    assert spec.problem_from is not None
    ref = spec.problem_from.config_map_key_ref
    text, why, detail = await _document(ref, namespace, Reason.INVALID_PROBLEM, "")
    if text is None:
        return None, why, detail
    try:
        return Problem.model_validate(json.loads(text)), Reason.CONFIG_MAP, f"{ref.name}/{ref.key}"
    except json.JSONDecodeError as exc:
        return None, Reason.INVALID_PROBLEM, f"{ref.name}/{ref.key} is not JSON: {exc}"
    except ValidationError as exc:
        return None, Reason.INVALID_PROBLEM, f"{ref.name}/{ref.key}: {describe_errors(exc)}"


def rejected(body: kopf.Body, reason: Reason, message: str) -> RoutingJobStatus:
    """A spec or problem that can never run: Failed at once (``kubectl wait`` sees it).
    Called from handlers: the transitions are announced as Events."""
    current = RoutingJobStatus.read(body.get("status"))
    conditions = (
        Conditions(body, current)
        .set(RoutingJobCondition.ACCEPTED, False, reason, message)
        .set(RoutingJobCondition.FAILED, True, reason, message)
    )
    conditions.announce()
    return RoutingJobStatus(
        phase=Phase.FAILED,
        message=message,
        completion_time=now(),
        observed_generation=conditions.generation,
        conditions=conditions.items,
    )


@kopf.on.create(API_GROUP, API_VERSION, PLURAL)
@metrics.reconciled("RoutingJob", "accept")
async def accept(
    body: kopf.Body, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch, **_: Any
) -> None:
    """Validate, resolve the problem's size for ``kubectl get``, and join the queue."""
    assert namespace is not None  # the CRD is namespaced
    try:
        parsed = RoutingJobSpec.model_validate(dict(spec))
    except ValidationError as exc:
        message = str(describe_errors(exc, prefix="spec"))
        patch.status.update(rejected(body, Reason.INVALID_SPEC, message).patch())
        return
    problem, reason, message = await resolve_problem(parsed, namespace)
    if problem is None and reason in (Reason.INVALID_PROBLEM, Reason.INVALID_MATRIX):
        patch.status.update(rejected(body, reason, message).patch())
        return
    current = RoutingJobStatus.read(body.get("status"))
    if problem is None:  # the ConfigMap may still come: stay Pending and retry
        conditions = Conditions(body, current).set(
            RoutingJobCondition.ACCEPTED, False, reason, message
        )
        patch.status.update(
            RoutingJobStatus(
                phase=Phase.PENDING, message=message, conditions=conditions.items
            ).patch()
        )
        conditions.announce()
        raise kopf.TemporaryError(message, delay=RETRY_SECONDS)
    conditions = Conditions(body, current).set(RoutingJobCondition.ACCEPTED, True, reason, message)
    if parsed.suspend:
        conditions.set(
            RoutingJobCondition.SUSPENDED, True, Reason.SUSPENDED, "spec.suspend is true"
        )
    patch.status.update(
        RoutingJobStatus(
            phase=Phase.SUSPENDED if parsed.suspend else Phase.PENDING,
            stops=len(problem.stops),
            couriers=len(problem.couriers),
            observed_generation=conditions.generation,
            message="waiting for a solver slot",
            conditions=conditions.items,
        ).patch()
    )
    conditions.announce()


@kopf.on.update(API_GROUP, API_VERSION, PLURAL, field="spec")
@metrics.reconciled("RoutingJob", "revalidate")
async def revalidate(body: kopf.Body, spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
    """A new generation (options, suspend, TTL; the problem is immutable): validated once."""
    current = RoutingJobStatus.read(body.get("status"))
    generation = int(body.get("metadata", {}).get("generation") or 0)
    if current.phase is None or current.phase.finished:
        return
    try:
        RoutingJobSpec.model_validate(dict(spec))
    except ValidationError as exc:
        message = str(describe_errors(exc, prefix="spec"))
        patch.status.update(rejected(body, Reason.INVALID_SPEC, message).patch())
        return
    patch.status.update(RoutingJobStatus(observed_generation=generation).patch())
