"""The Kubernetes API for handlers: server-side apply and reads, run off the event loop."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from logistica_operator import metrics
from logistica_operator.names import MANAGED_BY
from logistica_workers.api import API_GROUP, API_VERSION


def load_config() -> None:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


# Connections kept open to the API server: one per executor thread (main.py starts 32). With
# urllib3's default of 4, a burst of calls opened and dropped a TLS connection per request.
POOL_SIZE = 32


@cache
def dynamic() -> DynamicClient:
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = POOL_SIZE
    return DynamicClient(client.ApiClient(configuration))  # type: ignore[no-untyped-call]


def _resource(api_version: str, kind: str) -> Any:
    return dynamic().resources.get(api_version=api_version, kind=kind)


def _apply_sync(obj: dict[str, Any]) -> dict[str, Any]:
    res = _resource(obj["apiVersion"], obj["kind"])
    meta = obj["metadata"]
    out = res.server_side_apply(
        body=obj,
        name=meta["name"],
        namespace=meta.get("namespace"),
        field_manager=MANAGED_BY,
        force_conflicts=True,
    )
    return dict(out.to_dict())


async def apply(obj: dict[str, Any]) -> dict[str, Any]:
    """Create or converge ``obj`` (server-side apply: idempotent, repairs drift)."""
    try:
        out = await asyncio.to_thread(_apply_sync, obj)
    except BaseException:
        metrics.applied(obj.get("kind", "?"), ok=False)
        raise
    metrics.applied(obj.get("kind", "?"), ok=True)
    return out


def _get_sync(api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        return dict(_resource(api_version, kind).get(name=name, namespace=namespace).to_dict())
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def get(api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    return await asyncio.to_thread(_get_sync, api_version, kind, name, namespace)


def _delete_sync(api_version: str, kind: str, name: str, namespace: str) -> None:
    try:
        _resource(api_version, kind).delete(
            name=name,
            namespace=namespace,
            body={"propagationPolicy": "Background"},
        )
    except ApiException as exc:
        if exc.status != 404:
            raise


async def delete(api_version: str, kind: str, name: str, namespace: str) -> None:
    await asyncio.to_thread(_delete_sync, api_version, kind, name, namespace)


def _patch_sync(
    api_version: str, kind: str, name: str, namespace: str, patch: dict[str, Any]
) -> None:
    _resource(api_version, kind).patch(
        name=name,
        namespace=namespace,
        body=patch,
        content_type="application/merge-patch+json",
    )


async def patch(
    api_version: str, kind: str, name: str, namespace: str, body: dict[str, Any]
) -> None:
    await asyncio.to_thread(_patch_sync, api_version, kind, name, namespace, body)


def _patch_status_sync(plural: str, name: str, namespace: str, status: dict[str, Any]) -> None:
    client.CustomObjectsApi(dynamic().client).patch_namespaced_custom_object_status(
        API_GROUP, API_VERSION, namespace, plural, name, {"status": status}
    )


async def patch_status(plural: str, name: str, namespace: str, status: dict[str, Any]) -> None:
    """Merge-patch a custom resource's status; a vanished object is not an error."""
    try:
        await asyncio.to_thread(_patch_status_sync, plural, name, namespace, status)
    except ApiException as exc:
        if exc.status != 404:
            raise
