"""``logistica operator``: run the kopf operator with logistica's handlers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

import kopf
from kubernetes import config

from logistica_operator import kube
from logistica_operator.config import RunSettings


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = "logistica.dev/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="logistica.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="logistica.dev", key="last-handled-configuration"
    )
    # kopf's own log lines become Events only from WARNING up: an INFO "Handler ... succeeded"
    # Event per handler run was most of the Event POSTs and tells a user nothing the status
    # does not. Our condition transitions are posted whatever this level (conditions.announce).
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    # Deleting an object stops its timers first. A timer caught mid-tick (the TTL timer is
    # the one that issues the delete) is re-polled only every cancellation_polling seconds,
    # 60 by default: a minute of delay on every TTL deletion. Wait briefly, poll often.
    settings.background.instant_exit_timeout = 2.0
    settings.background.cancellation_polling = 1.0
    settings.peering.priority = RunSettings().peering_priority
    # the Kubernetes client is synchronous: give its calls enough threads
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="kube")
    )
    await asyncio.to_thread(kube.load_config)


def credentials_problem() -> str | None:
    """Why no Kubernetes API credentials can be loaded, or None when they can.

    kopf would otherwise retry its login forever (a traceback a minute, health port closed).
    """
    try:
        kube.load_config()
    except (config.ConfigException, OSError, ValueError) as exc:
        detail = str(exc).strip() or type(exc).__name__
        return (
            "no Kubernetes credentials: not in a pod with a service account token and no "
            f"usable kubeconfig (KUBECONFIG or ~/.kube/config): {detail}"
        )
    return None


def run_operator(namespaces: list[str] | None, all_namespaces: bool) -> int:
    from logistica_operator import routing_jobs, webhook_sources  # noqa: F401 - registers handlers

    run_settings = RunSettings()
    namespaces = namespaces or ([] if all_namespaces else run_settings.watch_namespaces)
    peering = run_settings.peering
    port = run_settings.health_port
    asyncio.run(_operate(namespaces, peering, port))
    return 0


async def _operate(namespaces: list[str], peering: str, port: int) -> None:
    """kopf's operator plus our health port (/healthz and /metrics) in one event loop."""
    from logistica_operator import health

    ready = asyncio.Event()
    runner = await health.serve(health.health_app(ready), "0.0.0.0", port)
    try:
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=not peering,
            peering_name=peering or None,
            ready_flag=ready,
        )
    finally:
        await runner.cleanup()
        from logistica_workers.runtime import tracing

        await asyncio.to_thread(tracing.shutdown, 5.0)  # kopf stopped: export what is left
