"""A real Kubernetes control plane (etcd + kube-apiserver) on loopback, envtest-style.

RBAC is on; the test client is an admin (system:masters) by client certificate. There is no
kubelet, scheduler or controller manager: tests/e2e/pod_runner.py stands in where needed.
"""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import yaml

from logistica_workers.db.embedded import free_port
from tests.platform import processes
from tests.platform.binaries import binary
from tests.platform.certs import Pki, make_pki


@dataclass
class ControlPlane:
    root: Path
    pki: Pki = field(init=False)
    url: str = field(init=False)
    kubeconfig: Path = field(init=False)
    _procs: list[Popen[bytes]] = field(default_factory=list)

    def start(self, timeout: float = 120) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(self.root / "pki")
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd_log = self.root / "etcd.log"
        etcd = processes.start(
            [
                binary("etcd"),
                "--data-dir",
                str(self.root / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
            etcd_log,
        )
        self._procs.append(etcd)
        processes.wait_for(
            lambda: urllib.request.urlopen(f"{etcd_url}/health", timeout=1).status == 200,
            timeout,
            "etcd",
            etcd,
            etcd_log,
        )
        self.url = f"https://127.0.0.1:{api_port}"
        api_log = self.root / "kube-apiserver.log"
        api = processes.start(
            [
                binary("kube-apiserver"),
                "--etcd-servers",
                etcd_url,
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--secure-port",
                str(api_port),
                "--tls-cert-file",
                str(self.pki.serving_cert),
                "--tls-private-key-file",
                str(self.pki.serving_key),
                "--client-ca-file",
                str(self.pki.ca_cert),
                "--service-account-key-file",
                str(self.pki.sa_pub),
                "--service-account-signing-key-file",
                str(self.pki.sa_key),
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--authorization-mode",
                "RBAC",
                "--service-cluster-ip-range",
                "10.0.0.0/24",
                "--allow-privileged=true",
                "--disable-admission-plugins",
                "ServiceAccount",
                "--cert-dir",
                str(self.root / "certs"),
                "-v",
                "1",
            ],
            api_log,
        )
        self._procs.append(api)
        self._write_kubeconfig()
        ctx = self.ssl_context()
        processes.wait_for(
            lambda: (
                urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=2).status == 200
            ),
            timeout,
            "kube-apiserver",
            api,
            api_log,
            interval=0.25,
        )

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return ctx

    def _write_kubeconfig(self) -> None:
        self.kubeconfig = self.root / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(self.pki.admin_cert),
                        "client-key": str(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "test",
                    "context": {"cluster": "test", "user": "admin", "namespace": "default"},
                }
            ],
            "current-context": "test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))

    def stop(self) -> None:
        for proc in reversed(self._procs):
            processes.stop(proc)
        self._procs.clear()
