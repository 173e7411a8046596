"""Runs the real operator as a host process against the test control plane, and waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client

from logistica_workers.api import API_GROUP, API_VERSION
from logistica_workers.db.embedded import free_port
from tests.platform.kube import ControlPlane
from tests.support.wait import wait_for

T = TypeVar("T")


class OperatorProcess:
    def __init__(self, cp: ControlPlane, namespace: str, log: Path, **env: str) -> None:
        self.cp, self.namespace, self.log = cp, namespace, log
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cp.kubeconfig),
            "LOGISTICA_RESYNC_SECONDS": "1",
            "LOGISTICA_PEERING": "",
            "LOGISTICA_OPERATOR_HEALTH_PORT": str(free_port()),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "logistica_workers", "operator", "-n", self.namespace],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: the operator gets no chance to finish what it was doing."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


#: the e2e tests' name for the one polling helper (``diagnostics``: operator and pod logs)
eventually = wait_for


def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def get_cr(api: client.ApiClient, plural: str, namespace: str, name: str) -> dict[str, Any]:
    return dict(
        custom(api).get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, name)
    )
