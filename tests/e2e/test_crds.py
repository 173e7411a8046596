"""The CRDs on a real kube-apiserver: established, examples accepted, bad objects rejected
with the field named, immutability enforced, printer columns served."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.crs import InvalidCase, example_objects, invalid_cases
from tests.platform.kube import ControlPlane
from tests.platform.kubeclient import api_client, create, dynamic, install_crds

NAMESPACE = "crd-tests"


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = api_client(control_plane.kubeconfig)
    install_crds(api)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    yield api
    api.close()


@pytest.fixture(scope="module")
def dyn(api: client.ApiClient) -> DynamicClient:
    return dynamic(api)


def test_crds_are_established_with_names_and_categories(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    whs = ext.read_custom_resource_definition("webhooksources.logistica.dev")
    rj = ext.read_custom_resource_definition("routingjobs.logistica.dev")
    assert whs.spec.names.short_names == ["whs"]
    assert rj.spec.names.short_names == ["rj"]
    assert whs.spec.names.categories == ["logistica"] == rj.spec.names.categories
    for crd in (whs, rj):
        assert crd.spec.versions[0].subresources.status is not None


def test_every_example_is_accepted(api: client.ApiClient, dyn: DynamicClient) -> None:
    examples = example_objects()
    assert examples
    core = client.CoreV1Api(api)
    namespaces = {NAMESPACE}
    for label, obj in examples:
        # each example file is applied on its own, as a user would: one namespace per file
        ns = label.split(":")[0].removesuffix(".yaml").replace("_", "-")
        if ns not in namespaces:
            core.create_namespace({"metadata": {"name": ns}})
            namespaces.add(ns)
        created = create(dyn, obj, ns)
        assert created.metadata.name == obj["metadata"]["name"], label


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda c: c.name)
def test_invalid_object_is_rejected_naming_the_field(dyn: DynamicClient, case: InvalidCase) -> None:
    with pytest.raises(client.ApiException) as info:
        create(dyn, case.obj, NAMESPACE)
    assert info.value.status == 422, info.value.body
    message = json.loads(info.value.body)["message"]
    assert case.field in message, message
    if case.message:
        assert case.message in message


def _routing_job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "logistica.dev/v1alpha1",
        "kind": "RoutingJob",
        "metadata": {"name": name},
        "spec": {
            "problem": {
                "origin": {"lat": 1, "lng": 1},
                "stops": [{"id": "s", "lat": 1.1, "lng": 1.1, "priority": 5}],
                "couriers": [{"id": "c", "lat": 1, "lng": 1, "capacity": 1}],
            }
        },
    }


def test_problem_is_immutable_but_suspend_is_not(dyn: DynamicClient) -> None:
    rj = dyn.resources.get(api_version="logistica.dev/v1alpha1", kind="RoutingJob")
    created = create(dyn, _routing_job("immutable"), NAMESPACE)
    assert created.spec.options.timeLimitSeconds == 30  # defaults applied by the schema
    patched = rj.patch(
        name="immutable",
        namespace=NAMESPACE,
        body={"spec": {"suspend": True}},
        content_type="application/merge-patch+json",
    )
    assert patched.spec.suspend is True
    with pytest.raises(client.ApiException) as info:
        rj.patch(
            name="immutable",
            namespace=NAMESPACE,
            body={"spec": {"problem": {"origin": {"lat": 2, "lng": 2}}}},
            content_type="application/merge-patch+json",
        )
    assert info.value.status == 422
    assert "spec.problem is immutable" in json.loads(info.value.body)["message"]


def _table(cp: ControlPlane, plural: str) -> dict[str, Any]:
    """What ``kubectl get`` asks for: the server-side Table rendering."""
    req = urllib.request.Request(
        f"{cp.url}/apis/logistica.dev/v1alpha1/namespaces/{NAMESPACE}/{plural}",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    with urllib.request.urlopen(req, context=cp.ssl_context(), timeout=10) as resp:
        return dict(json.loads(resp.read()))


def test_printer_columns_in_table_response(
    control_plane: ControlPlane, api: client.ApiClient, dyn: DynamicClient
) -> None:
    create(dyn, _routing_job("columns"), NAMESPACE)
    status = {
        "phase": "Succeeded",
        "stops": 1,
        "couriers": 1,
        "result": {"totalDistanceMeters": 1234.5},
        "jobName": "columns-solve-1",
        "message": "JobComplete",
        "conditions": [{"type": "Complete", "status": "True", "reason": "JobComplete"}],
    }
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        "logistica.dev", "v1alpha1", NAMESPACE, "routingjobs", "columns", {"status": status}
    )
    rj = _table(control_plane, "routingjobs")
    assert [c["name"] for c in rj["columnDefinitions"]] == [
        "Name",
        "Phase",
        "Stops",
        "Couriers",
        "Distance",
        "Complete",
        "Job",
        "Message",
        "Age",
    ]
    row = next(r for r in rj["rows"] if r["cells"][0] == "columns")
    assert row["cells"][1:8] == [
        "Succeeded",
        1,
        1,
        1234.5,
        "True",
        "columns-solve-1",
        "JobComplete",
    ]

    create(
        dyn,
        {
            "apiVersion": "logistica.dev/v1alpha1",
            "kind": "WebhookSource",
            "metadata": {"name": "columns"},
            "spec": {"provider": "shopify", "secretRef": {"name": "s"}},
        },
        NAMESPACE,
    )
    whs = _table(control_plane, "webhooksources")
    assert [c["name"] for c in whs["columnDefinitions"]] == [
        "Name",
        "Provider",
        "Ready",
        "Replicas",
        "Endpoint",
        "Age",
    ]
    row = next(r for r in whs["rows"] if r["cells"][0] == "columns")
    assert row["cells"][1] == "shopify"
