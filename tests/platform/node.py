"""One real single-node Kubernetes cluster for the e2e session.

On the host: etcd + kube-apiserver (serving on the host end of the node's veth, Node,RBAC
authorization, NodeRestriction), kube-controller-manager (service-account credentials, node
CIDRs) and kube-scheduler. Inside the node's own network + mount namespace (netns.py):
containerd + runc, CNI (bridge, host-local, loopback, portmap), the kubelet and kube-proxy
(iptables). Every path, cgroup (cgroups.py) and subnet is this session's own; ``stop`` leaves
no process, mount, namespace, cgroup or veth behind and says so if it cannot.

Pods resolve Services by name (``<svc>.<ns>.svc``) through a small cluster DNS (dns.py) on the
node's address. Pods reach the host at ``host_ip`` (the API server via the ``kubernetes`` Service, Postgres
directly); tests reach ClusterIPs and pod IPs with ``call`` (runs a function in the node's
network namespace).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any, TypeVar

import yaml
from kubernetes import client

from logistica_workers.db.embedded import free_port
from tests.platform import processes
from tests.platform.binaries import binary
from tests.platform.cgroups import CgroupTree
from tests.platform.dns import CLUSTER_DOMAIN, ClusterDns, bind_udp
from tests.platform.kube import ControlPlane
from tests.platform.kubeclient import api_client
from tests.platform.netns import NodeNamespace
from tests.support.wait import Abort, wait_for

T = TypeVar("T")
NODE_NAME = "logistica-node"
CLUSTER_CIDR = "10.244.0.0/16"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.0.0.0/24"
PAUSE_IMAGE = "localhost/logistica-pause:1"
CNI_BIN = "/usr/lib/cni"
# what the kubelet sets host-wide unless it finds them so (kubelet's setupKernelTunables)
KUBELET_TUNABLES = {
    "/proc/sys/vm/overcommit_memory": "1",
    "/proc/sys/vm/panic_on_oom": "0",
    "/proc/sys/kernel/panic": "10",
    "/proc/sys/kernel/panic_on_oops": "1",
    "/proc/sys/kernel/keys/root_maxkeys": "1000000",
    "/proc/sys/kernel/keys/root_maxbytes": "25000000",
}


def images_dir() -> Path:
    """The directory with the OCI archives to import (``LOGISTICA_IMAGES_DIR``, else the
    last line of ``tools/build-images.sh``)."""
    explicit = os.environ.get("LOGISTICA_IMAGES_DIR")
    if explicit:
        return Path(explicit)
    script = Path(__file__).resolve().parents[2] / "tools" / "build-images.sh"
    if not script.exists():
        raise RuntimeError("set LOGISTICA_IMAGES_DIR to a directory of *.oci.tar images")
    out = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Node:
    root: Path
    images: Path
    ns: NodeNamespace = field(init=False)
    cgroups: CgroupTree = field(init=False)
    control_plane: ControlPlane = field(init=False)
    dns: ClusterDns | None = field(init=False, default=None)
    started_seconds: float = field(init=False, default=0.0)
    _host: list[Popen[bytes]] = field(default_factory=list)  # controller-manager, scheduler
    _inside: dict[str, Popen[bytes]] = field(default_factory=dict)  # containerd, kubelet, ...

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 120) -> None:
        began = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        self.ns = NodeNamespace(self.root / "ns")
        masked = {p: v for p, v in KUBELET_TUNABLES.items() if _read(p) != v}
        self.ns.start(
            [
                ("tmpfs", "/run/netns"),
                ("tmpfs", "/run/containerd"),
                ("tmpfs", "/var/lib/cni"),
                (str(self.root / "pod-logs"), "/var/log/pods"),
                (str(self.root / "container-logs"), "/var/log/containers"),
            ],
            masked,
        )
        self.cgroups = CgroupTree(f"lnode-{self.ns.index}")
        self.cgroups.create()
        self._start_containerd(timeout)
        imported: list[BaseException] = []
        importer = threading.Thread(target=self._import_images, args=(imported,), daemon=True)
        importer.start()
        self.control_plane = ControlPlane(
            self.root / "kube", address=self.ns.host_ip, for_node=True
        )
        self.control_plane.start(timeout)
        self._start_controllers()
        self._start_dns()
        importer.join(timeout)
        if importer.is_alive() or imported:
            raise RuntimeError(f"image import failed: {imported or 'timed out'}")
        self._start_kubelet()
        self._start_kube_proxy()
        self._wait_node_ready(timeout)
        self.started_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop everything and check that nothing is left; raise naming what is."""
        errors: list[str] = []
        for name in ("kubelet", "kube-proxy"):
            if name in self._inside:
                processes.stop(self._inside.pop(name), timeout=10)
        if hasattr(self, "cgroups"):
            try:
                self.cgroups.destroy()  # containers, shims, containerd
            except RuntimeError as exc:
                errors.append(str(exc))
        for proc in self._inside.values():
            processes.stop(proc, timeout=5)
        self._inside.clear()
        for proc in reversed(self._host):
            processes.stop(proc)
        self._host.clear()
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        if hasattr(self, "control_plane"):
            self.control_plane.stop()
        if hasattr(self, "ns"):
            self.ns.stop()
            errors += self.leftovers()
        if errors:
            raise RuntimeError("node teardown left things behind: " + "; ".join(errors))

    def leftovers(self) -> list[str]:
        """What of this node is still visible on the host (empty when clean)."""
        found = []
        mounts = Path("/proc/self/mountinfo").read_text()
        if str(self.root) in mounts:
            found.append(f"mounts under {self.root}")
        if self.ns.host_veth and Path(f"/sys/class/net/{self.ns.host_veth}").exists():
            found.append(f"veth {self.ns.host_veth}")
        if hasattr(self, "cgroups"):
            found += [f"cgroup {d}" for d in self.cgroups.dirs if d.exists()]
        return found

    # --- for tests -----------------------------------------------------------------------

    @property
    def host_ip(self) -> str:
        return self.ns.host_ip

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 120) -> T:
        """``fn(*args)`` in the node's network namespace (ClusterIPs and pod IPs reachable)."""
        return self.ns.call(fn, *args, timeout=timeout)

    def tag_image(self, image: str, *names: str) -> None:
        """Give an imported image more names (as if pulled under them: a chart's default
        references with ``imagePullPolicy: IfNotPresent`` then never reach a registry)."""
        for name in names:
            self._ctr("images", "rm", name)
            out = self._ctr("images", "tag", image, name)
            if out.returncode != 0:
                raise RuntimeError(f"ctr images tag {image} {name}: {out.stderr.strip()}")

    def logs(self, name: str, chars: int = 4000) -> str:
        path = self.root / "log" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # --- components ----------------------------------------------------------------------

    def _inside_start(self, name: str, cmd: list[str]) -> Popen[bytes]:
        proc = processes.start([*self.ns.enter(self.root), *cmd], self.root / "log" / f"{name}.log")
        self.cgroups.adopt(proc.pid)
        self._inside[name] = proc
        return proc

    def _start_containerd(self, timeout: float) -> None:
        base = self.root / "containerd"
        (cni_conf := self.root / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-lnode.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "lnode",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": "cni0",
                            "isGateway": True,
                            "ipMasq": True,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                }
            )
        )
        self.sock = base / "containerd.sock"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "{self.sock}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{cni_conf}"
"""
        base.mkdir(parents=True, exist_ok=True)
        (base / "config.toml").write_text(config)
        proc = self._inside_start(
            "containerd", ["containerd", "--config", str(base / "config.toml")]
        )
        wait_for(
            lambda: self._ctr("version").returncode == 0,
            timeout,
            "containerd",
            processes.log_tail(self.root / "log" / "containerd.log"),
            process=proc,
            interval=0.1,
        )

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.ns.enter(self.root), "ctr", "--address", str(self.sock), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def _import_images(self, errors: list[BaseException]) -> None:
        try:
            archives = sorted(self.images.glob("*.oci.tar"))
            if not archives:
                raise RuntimeError(f"no *.oci.tar in {self.images}")
            for archive in archives:
                out = self._ctr("images", "import", str(archive))
                if out.returncode != 0:
                    raise RuntimeError(f"ctr import {archive}: {out.stderr.strip()}")
            names = self._ctr("images", "ls", "-q").stdout.split()
            if PAUSE_IMAGE not in names:
                raise RuntimeError(f"{PAUSE_IMAGE} not among the imported images {names}")
        except BaseException as exc:  # reported by start()
            errors.append(exc)

    def _start_controllers(self) -> None:
        cp = self.control_plane
        log = self.root / "log"
        cm = processes.start(
            [
                binary("kube-controller-manager"),
                "--kubeconfig",
                str(
                    cp.component_kubeconfig("controller-manager", "system:kube-controller-manager")
                ),
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(free_port()),
                "--leader-elect=false",
                "--use-service-account-credentials",
                "--service-account-private-key-file",
                str(cp.pki.sa_key),
                "--root-ca-file",
                str(cp.pki.ca_cert),
                "--allocate-node-cidrs",
                "--cluster-cidr",
                CLUSTER_CIDR,
                "--node-cidr-mask-size",
                "24",
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                "--concurrent-gc-syncs",
                "10",
                "-v",
                "1",
            ],
            log / "kube-controller-manager.log",
        )
        self._host.append(cm)
        sched = processes.start(
            [
                binary("kube-scheduler"),
                "--kubeconfig",
                str(cp.component_kubeconfig("scheduler", "system:kube-scheduler")),
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(free_port()),
                "--leader-elect=false",
                "-v",
                "1",
            ],
            log / "kube-scheduler.log",
        )
        self._host.append(sched)

    def _start_dns(self) -> None:
        """Cluster DNS for Service names on the node's address, port 53 (dns.py)."""
        sock = self.call(bind_udp, self.ns.node_ip)
        self.dns = ClusterDns(sock, api_client(self.control_plane.kubeconfig))
        self.dns.start()

    def _start_kubelet(self) -> None:
        cp = self.control_plane
        kdir = self.root / "kubelet"
        kdir.mkdir(exist_ok=True)
        (self.root / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.cgroups.name}",
            "failCgroupV1": False,
            "failSwapOn": False,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "resolvConf": str(self.root / "resolv.conf"),
            "clusterDNS": [self.ns.node_ip],
            "clusterDomain": CLUSTER_DOMAIN,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "50Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
                "imagefs.inodesFree": "1%",
            },
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(cp.pki.ca_cert)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "containerRuntimeEndpoint": f"unix://{self.sock}",
            "volumePluginDir": str(kdir / "volume-plugins"),
            "serializeImagePulls": False,
            # mounted Secrets/ConfigMaps are refreshed at each pod sync (default: a minute)
            "syncFrequency": "3s",
            "nodeStatusUpdateFrequency": "4s",
            "maxPods": 60,
        }
        (kdir / "config.yaml").write_text(yaml.safe_dump(config))
        kubeconfig = cp.component_kubeconfig(
            "kubelet", f"system:node:{NODE_NAME}", ("system:nodes",)
        )
        self._inside_start(
            "kubelet",
            [
                binary("kubelet"),
                "--config",
                str(kdir / "config.yaml"),
                "--kubeconfig",
                str(kubeconfig),
                "--hostname-override",
                NODE_NAME,
                "--node-ip",
                self.ns.node_ip,
                "--root-dir",
                str(kdir / "root"),
                "-v",
                "1",
            ],
        )

    def _start_kube_proxy(self) -> None:
        cp = self.control_plane
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {
                "kubeconfig": str(cp.component_kubeconfig("kube-proxy", "system:kube-proxy"))
            },
            "hostnameOverride": NODE_NAME,
            "clusterCIDR": CLUSTER_CIDR,
            "conntrack": {"maxPerCore": 0, "min": 0},
            "iptables": {"masqueradeAll": True, "syncPeriod": "30s", "minSyncPeriod": "0s"},
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
        }
        path = self.root / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._inside_start("kube-proxy", [binary("kube-proxy"), "--config", str(path), "-v", "1"])

    def _wait_node_ready(self, timeout: float) -> None:
        api = api_client(self.control_plane.kubeconfig)
        core = client.CoreV1Api(api)

        def ready() -> bool:
            for name, proc in [*self._inside.items()]:
                if proc.poll() is not None:
                    raise Abort(f"{name} exited with {proc.returncode}:\n{self.logs(name)}")
            node = core.read_node(NODE_NAME)
            return any(
                c.type == "Ready" and c.status == "True" for c in node.status.conditions or []
            )

        def logs() -> str:
            return f"kubelet:\n{self.logs('kubelet')}\ncontainerd:\n{self.logs('containerd')}"

        try:
            wait_for(ready, timeout, f"node {NODE_NAME} Ready", logs, interval=0.2)
        finally:
            api.close()


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""
