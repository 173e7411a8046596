"""A real Kubernetes control plane (etcd + kube-apiserver), envtest-style.

RBAC is on; the test client is an admin (system:masters) by client certificate. On its own it
serves on loopback with no kubelet, scheduler or controller manager; with ``for_node`` it serves
on the host side of a node's veth with what a kubelet needs (Node authorization,
NodeRestriction, the ServiceAccount admission plugin, a kubelet client cert): see node.py.
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
from tests.platform.certs import Pki, issue_client, make_pki
from tests.support.wait import wait_for


@dataclass
class ControlPlane:
    root: Path
    address: str = "127.0.0.1"
    for_node: bool = False
    # a /24 holds 254 Services: the operator benchmark creates one per WebhookSource
    service_cidr: str = "10.0.0.0/24"
    pki: Pki = field(init=False)
    url: str = field(init=False)
    kubeconfig: Path = field(init=False)
    _procs: list[Popen[bytes]] = field(default_factory=list)

    def start(self, timeout: float = 120) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(self.root / "pki", extra_ips=(self.address,))
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
        wait_for(
            lambda: urllib.request.urlopen(f"{etcd_url}/health", timeout=1).status == 200,
            timeout,
            "etcd",
            processes.log_tail(etcd_log),
            process=etcd,
        )
        self.url = f"https://{self.address}:{api_port}"
        api_log = self.root / "kube-apiserver.log"
        api = processes.start(
            [
                binary("kube-apiserver"),
                "--etcd-servers",
                etcd_url,
                "--bind-address",
                self.address,
                "--advertise-address",
                self.address,
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
                *self._authz_flags(),
                "--service-cluster-ip-range",
                self.service_cidr,
                "--allow-privileged=true",
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
        wait_for(
            lambda: (
                urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=2).status == 200
            ),
            timeout,
            "kube-apiserver",
            processes.log_tail(api_log),
            process=api,
            interval=0.25,
        )

    def _authz_flags(self) -> list[str]:
        if not self.for_node:
            return ["--authorization-mode", "RBAC", "--disable-admission-plugins", "ServiceAccount"]
        crt, key = issue_client(self.pki, "apiserver-kubelet-client", "kube-apiserver-kubelet")
        return [
            "--authorization-mode",
            "Node,RBAC",
            "--enable-admission-plugins",
            "NodeRestriction",
            "--kubelet-client-certificate",
            str(crt),
            "--kubelet-client-key",
            str(key),
            "--kubelet-preferred-address-types",
            "InternalIP",
        ]

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return ctx

    def _write_kubeconfig(self) -> None:
        self.kubeconfig = self.root / "kubeconfig"
        self._write_config(self.kubeconfig, "admin", self.pki.admin_cert, self.pki.admin_key)

    def component_kubeconfig(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a component that authenticates as ``user`` in ``groups``."""
        crt, key = issue_client(self.pki, name, user, groups)
        path = self.root / f"{name}.kubeconfig"
        self._write_config(path, name, crt, key)
        return path

    def _write_config(self, path: Path, user: str, crt: Path, key: Path) -> None:
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
                    "name": user,
                    "user": {"client-certificate": str(crt), "client-key": str(key)},
                }
            ],
            "contexts": [
                {
                    "name": "test",
                    "context": {"cluster": "test", "user": user, "namespace": "default"},
                }
            ],
            "current-context": "test",
        }
        path.write_text(yaml.safe_dump(config))

    def stop(self) -> None:
        for proc in reversed(self._procs):
            processes.stop(proc)
        self._procs.clear()
