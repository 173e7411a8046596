"""``spec.ttlSecondsAfterFinished``: a finished RoutingJob is deleted that long after its
completion (its Job goes with it by ownerReference). One sleeping daemon per finished RoutingJob
with a TTL: no API call until it expires."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf

from logistica_operator import kube, metrics
from logistica_operator.routing_jobs.status import PLURAL
from logistica_workers.api import API_GROUP, API_VERSION, Phase


def seconds_left(ttl: int, completion_time: str, now: dt.datetime) -> float:
    """Seconds until a RoutingJob completed at ``completion_time`` expires (≤ 0: expired)."""
    done = dt.datetime.strptime(completion_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return (done + dt.timedelta(seconds=ttl) - now).total_seconds()


def _expiring(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    finished = status.get("phase") in (Phase.SUCCEEDED, Phase.FAILED)
    return (
        finished
        and spec.get("ttlSecondsAfterFinished") is not None
        and bool(status.get("completionTime"))
    )


@kopf.daemon(API_GROUP, API_VERSION, PLURAL, when=_expiring, cancellation_timeout=1.0)
@metrics.reconciled("RoutingJob", "expire")
async def expire(
    stopped: kopf.DaemonStopped,
    spec: kopf.Spec,
    status: kopf.Status,
    name: str,
    namespace: str | None,
    **_: Any,
) -> None:
    assert namespace is not None
    left = seconds_left(
        int(spec["ttlSecondsAfterFinished"]), str(status["completionTime"]), dt.datetime.now(dt.UTC)
    )
    if left > 0:
        await stopped.wait(left)
    if not stopped:
        await kube.delete(f"{API_GROUP}/{API_VERSION}", "RoutingJob", name, namespace)
