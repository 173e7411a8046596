"""The node's own network + mount namespace, held open by a long-lived process, with a veth
pair to the host on a /30 of NODE_NETWORKS that this session owns (a lock file per subnet, so
concurrent test sessions on one machine never collide)."""

from __future__ import annotations

import ctypes
import fcntl
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from tests.platform import processes
from tests.support.wait import wait_for

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
LOCK_DIR = Path("/tmp/logistica-node-subnets")
NODE_NETWORKS = "100.64.0.0/16"  # every node's veth /30 lies in it
SUBNETS = 16384  # /30s in 100.64.0.0/16


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass
class NodeNamespace:
    """``host_ip`` is the host's end of the veth, ``node_ip`` the node's (its ``eth0``)."""

    root: Path
    index: int = field(init=False, default=-1)
    host_ip: str = field(init=False, default="")
    node_ip: str = field(init=False, default="")
    host_veth: str = field(init=False, default="")
    holder: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _lock: IO[str] | None = field(init=False, default=None)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, mounts: list[tuple[str, str]], masked: dict[str, str]) -> None:
        """Create the namespaces and the veth; inside the mount namespace put a tmpfs on each
        ``("tmpfs", path)`` and bind each ``(src, path)``; cover each ``/proc/sys`` file in
        ``masked`` with a file holding the given value (so the kubelet finds the kernel tunables
        it wants and never writes host-wide sysctls)."""
        self._claim_subnet()
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / "holder.log"
        # slave: the host's mounts show inside, ours never propagate out
        self.holder = processes.start(
            ["unshare", "--net", "--mount", "--propagation", "slave", "sleep", "infinity"], log
        )
        own = os.readlink("/proc/self/ns/net")
        wait_for(
            lambda: os.readlink(f"/proc/{self.pid}/ns/net") != own,
            10,
            "node namespace holder",
            processes.log_tail(log),
            process=self.holder,
            interval=0.01,
        )
        self.host_veth = f"lgn{self.index}"
        run("ip", "link", "add", self.host_veth, "type", "veth", "peer", "name", "eth0",
            "netns", str(self.pid))  # fmt: skip
        run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_veth)
        run("ip", "link", "set", self.host_veth, "up")
        script = [
            "set -e",
            "mount --make-rshared /",
            "ip link set lo up",
            f"ip addr add {self.node_ip}/30 dev eth0",
            "ip link set eth0 up",
            f"ip route add default via {self.host_ip}",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ]
        for src, path in mounts:
            script.append(f"mkdir -p {path}")
            if src == "tmpfs":
                script.append(f"mount -t tmpfs -o mode=0755 tmpfs {path}")
            else:
                script.append(f"mkdir -p {src} && mount --bind {src} {path}")
        for i, (path, value) in enumerate(sorted(masked.items())):
            stand_in = self.root / f"sysctl-{i}"
            stand_in.write_text(f"{value}\n")
            script.append(f"mount --bind {stand_in} {path}")
        run(*self.enter(), "sh", "-c", "\n".join(script))

    def stop(self) -> None:
        """Kill the holder (the namespaces go with the last process in them) and free the
        subnet. Call after every process started with ``enter`` is gone."""
        if self.holder is not None:
            processes.stop(self.holder, timeout=5)
            self.holder = None
        if self.host_veth and Path(f"/sys/class/net/{self.host_veth}").exists():
            run("ip", "link", "del", self.host_veth, check=False)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _claim_subnet(self) -> None:
        LOCK_DIR.mkdir(exist_ok=True)
        start = os.getpid() % SUBNETS
        for offset in range(SUBNETS):
            index = (start + offset) % SUBNETS
            lock = (LOCK_DIR / str(index)).open("w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            if Path(f"/sys/class/net/lgn{index}").exists():  # a crashed session's leftover
                run("ip", "link", "del", f"lgn{index}", check=False)
            base = index * 4
            self.index, self._lock = index, lock
            self.host_ip = f"100.64.{base // 256}.{base % 256 + 1}"
            self.node_ip = f"100.64.{base // 256}.{base % 256 + 2}"
            return
        raise RuntimeError(f"no free node subnet in 100.64.0.0/16 (locks in {LOCK_DIR})")

    # --- using it -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.holder is not None, "node namespace not started"
        return self.holder.pid

    def enter(self, workdir: Path | None = None) -> list[str]:
        """The command prefix that runs a program inside the node's namespaces."""
        wd = [f"--wd={workdir}"] if workdir else []
        return ["nsenter", "-t", str(self.pid), "--net", "--mount", *wd, "--"]

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 120) -> T:
        """Run ``fn(*args)`` in a thread inside the node's network namespace (sockets it opens
        reach ClusterIPs and pod IPs) and return its result or raise its exception."""
        out: queue.Queue[tuple[bool, Any]] = queue.Queue()
        netns = f"/proc/{self.pid}/ns/net"

        def body() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(netns, os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns({netns})")
                finally:
                    os.close(fd)
                out.put((True, fn(*args)))
            except BaseException as exc:  # handed to the caller
                out.put((False, exc))

        thread = threading.Thread(target=body, daemon=True, name="in-node-netns")
        thread.start()
        try:
            ok, value = out.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"{fn!r} in the node's network namespace took over {timeout}s"
            ) from None
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]
