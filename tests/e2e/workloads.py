"""Pods of the logistica image on the test node, under the chart's security contexts, and
HTTP to ClusterIPs / pod IPs from inside the node's network namespace."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, watch

from tests.platform.binaries import binary
from tests.platform.node import Node

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/logistica:test"
_VALUES = yaml.safe_load((REPO / "helm" / "logistica" / "values.yaml").read_text())
POD_SECURITY: dict[str, Any] = _VALUES["podSecurityContext"]
CONTAINER_SECURITY: dict[str, Any] = _VALUES["securityContext"]


def pod_spec(args: list[str], **container: Any) -> dict[str, Any]:
    """One logistica container under the chart's securityContext, a tmpfs ``/tmp``."""
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, *container.pop("volumeMounts", [])]
    volumes = [{"name": "tmp", "emptyDir": {"medium": "Memory"}}, *container.pop("volumes", [])]
    return {
        "securityContext": POD_SECURITY,
        "terminationGracePeriodSeconds": container.pop("grace", 10),
        "automountServiceAccountToken": container.pop("automount", False),
        "serviceAccountName": container.pop("serviceAccountName", "default"),
        "restartPolicy": container.pop("restartPolicy", "Always"),
        "containers": [
            {
                "name": "main",
                "image": IMAGE,
                "imagePullPolicy": "Never",
                "args": args,
                "securityContext": CONTAINER_SECURITY,
                "volumeMounts": mounts,
                **container,
            }
        ],
        "volumes": volumes,
    }


def http_probe(port: int, path: str = "/readyz") -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }


def http(node: Node, method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:  # fmt: skip
    """One HTTP request from inside the node's network namespace: (status, body)."""

    def go() -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return int(r.status), r.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    return node.call(go, timeout=timeout + 5)


def kubectl(node: Node, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [binary("kubectl"), "--kubeconfig", str(node.control_plane.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return proc


def pod_diagnostics(api: client.ApiClient, namespace: str, node: Node) -> str:
    """Pods' phases, container states and log tails, and the kubelet's log tail."""
    core = client.CoreV1Api(api)
    out = []
    for pod in core.list_namespaced_pod(namespace).items:
        states = [json.dumps(api.sanitize_for_serialization(s.state)) for s in
                  pod.status.container_statuses or []]  # fmt: skip
        out.append(f"--- pod {pod.metadata.name} {pod.status.phase} {states}")
        try:
            out.append(core.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=30))
        except client.ApiException as exc:
            out.append(f"(no log: {exc.status})")
    events = core.list_namespaced_event(namespace).items[-15:]
    out += [f"event {e.involved_object.name}: {e.reason} {e.message}" for e in events]
    out.append(f"--- kubelet\n{node.logs('kubelet', 3000)}")
    return "\n".join(out)


class PodWatch:
    """Watches a namespace's pods and keeps each container's exit code as last seen, also for
    pods already deleted (the DELETED event carries the final status)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.exits: dict[str, tuple[dict[str, str], int]] = {}  # pod uid -> (labels, code)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pod-watch")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                w = watch.Watch()
                for event in w.stream(
                    self.core.list_namespaced_pod, self.namespace, timeout_seconds=2
                ):
                    pod = event["object"]
                    for st in pod.status.container_statuses or []:
                        term = st.state.terminated if st.state else None
                        if term is not None:
                            self.exits[pod.metadata.uid] = (
                                dict(pod.metadata.labels or {}),
                                int(term.exit_code),
                            )
                    if self._stop.is_set():
                        w.stop()
            except Exception:  # a dropped watch: start again
                self._stop.wait(0.2)

    def exit_codes(self, job_name: str) -> list[int]:
        """Exit codes of the terminated containers of a Job's pods."""
        return [c for labels, c in self.exits.values() if labels.get("job-name") == job_name]
