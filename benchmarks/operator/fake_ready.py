"""For the operator benchmark only: marks every Deployment the operator creates in one
namespace ready (status patched as the Deployment controller would) without running any pod,
so the timing is the operator's, not N ingest workers' start-up. The e2e tests use a real node
(tests/platform/node.py) instead."""

from __future__ import annotations

import threading
import time

from kubernetes import client

MANAGED = "app.kubernetes.io/managed-by=logistica-operator"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FakeReady:
    def __init__(self, api: client.ApiClient, namespace: str, interval: float = 0.5) -> None:
        self.apps = client.AppsV1Api(api)
        self.namespace = namespace
        self.interval = interval
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-ready")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as exc:  # keep going; the benchmark reports the errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval)

    def _sync(self) -> None:
        for d in self.apps.list_namespaced_deployment(self.namespace, label_selector=MANAGED).items:
            replicas = d.spec.replicas or 1
            status = d.status
            if (status.ready_replicas or 0) == replicas and (
                status.observed_generation == d.metadata.generation
            ):
                continue
            self.apps.patch_namespaced_deployment_status(
                d.metadata.name,
                self.namespace,
                {
                    "status": {
                        "observedGeneration": d.metadata.generation,
                        "replicas": replicas,
                        "updatedReplicas": replicas,
                        "readyReplicas": replicas,
                        "availableReplicas": replicas,
                        "conditions": [
                            {
                                "type": "Available",
                                "status": "True",
                                "reason": "FakeReady",
                                "lastUpdateTime": _now(),
                                "lastTransitionTime": _now(),
                            }
                        ],
                    }
                },
            )
