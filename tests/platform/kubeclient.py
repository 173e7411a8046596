"""Thin helpers over the official client for tests: apply manifests, install CRDs, wait."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from tests.support.wait import wait_for

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def dynamic(api: client.ApiClient) -> DynamicClient:
    return DynamicClient(api)


def resource_for(dyn: DynamicClient, obj: dict[str, Any]) -> Any:
    return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])


def create(dyn: DynamicClient, obj: dict[str, Any], namespace: str = "default") -> Any:
    res = resource_for(dyn, obj)
    return res.create(body=obj, namespace=namespace if res.namespaced else None)


def load_docs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]


def install_crds(api: client.ApiClient, timeout: float = 60) -> list[str]:
    ext = client.ApiextensionsV1Api(api)
    names = []
    for crd in load_docs(sorted((REPO / "crds").glob("*.yaml"))):
        name = crd["metadata"]["name"]
        names.append(name)
        try:
            ext.create_custom_resource_definition(crd)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            current = ext.read_custom_resource_definition(name)
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, crd)

    def established() -> bool:
        for name in names:
            conds = ext.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conds):
                return False
        return True

    wait_for(established, timeout, "CRDs Established", interval=0.1)
    return names
