"""The node's cgroup subtree (``/<name>`` in every mounted hierarchy, v1 or v2): created before
the kubelet starts, and on teardown every process in it killed and every directory removed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")


def hierarchies() -> list[Path]:
    """Mount points of the cgroup hierarchies (one for a pure v2 host)."""
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype, *_ = line.split()
        if fstype in ("cgroup", "cgroup2") and point.startswith(str(CGROUP_FS)):
            points.append(Path(point))
    return points


class CgroupTree:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dirs = [h / name for h in hierarchies()]

    def create(self) -> None:
        for d in self.dirs:
            d.mkdir(exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset: empty until copied down
                own, parent = d / f, d.parent / f
                if own.exists() and not own.read_text().strip():
                    own.write_text(parent.read_text())

    def adopt(self, pid: int) -> None:
        """Move ``pid`` (and so its future children, e.g. containerd's shims) into the leaf
        ``system`` beside the kubelet's ``kubepods``."""
        for d in self.dirs:
            leaf = d / "system"
            leaf.mkdir(exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):
                own = leaf / f
                if own.exists() and not own.read_text().strip():
                    own.write_text((d / f).read_text())
            (leaf / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            if not d.exists():
                continue
            for procs in d.rglob("cgroup.procs"):
                try:
                    found.update(int(p) for p in procs.read_text().split())
                except OSError:
                    continue
        return found

    def destroy(self, timeout: float = 30) -> None:
        """SIGKILL everything inside until it is empty, then remove the directories (deepest
        first). Raises if something survives the deadline."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes survive in cgroup {self.name}: {sorted(pids)}")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        left: list[Path] = []
        for d in self.dirs:
            if not d.exists():
                continue
            subdirs = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for sub in [*subdirs, d]:
                while True:
                    try:
                        sub.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:  # EBUSY while the kernel finishes killing
                        if time.monotonic() > deadline:
                            left.append(sub)
                            break
                        time.sleep(0.05)
        if left:
            raise RuntimeError(f"cgroup directories could not be removed: {left[:5]}")
