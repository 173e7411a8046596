"""Peak memory of ``logistica solve``'s whole process tree, as RSS and as PSS.

Sampled every 50 ms from /proc. Three figures, from strictest to kindest:

- the sum of each process's own peak RSS (``VmHWM``, the kernel's high-water mark, so peaks
  between two samples count too), although the processes need not peak at the same moment;
- the peak over time of the tree's total RSS (the processes' RSS summed at the same instant):
  what issue 9's target (peak RSS ≤ 170 MB at 1,000 stops) is compared with;
- the peak over time of the tree's total PSS. RSS counts pages shared between processes (the
  fork server's imports in every engine forked from it, shared libraries) once per process;
  PSS splits them, so it is what the tree really occupies.

Also lists what each process held at the tree's peak and the heavy packages it had loaded.

Usage: python benchmarks/routing/memory.py [--stops 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from city import generate  # noqa: E402
from model import _children  # noqa: E402

PACKAGES = ("ortools", "pyvrp", "pydantic", "matplotlib", "kubernetes", "kopf", "numpy")


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += _children(pid)
    return out


def _role(cmdline: str, parent_is_root: bool) -> str:
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "forkserver" in cmdline:
        return "fork server" if parent_is_root else "engine process"
    return "solve (+ engine threads)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stops", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.json"
        path.write_text(json.dumps(generate(args.stops, "plentiful", 1)))
        cmd = [sys.executable, "-m", "logistica_workers", "solve", str(path)]
        cmd += ["--time-limit", f"{args.seconds:g}", "-o", str(Path(tmp) / "s.json")]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        peak_rss = peak_pss = 0
        at_peak: dict[int, tuple[int, int]] = {}  # pid -> (RSS, PSS) when the tree peaked
        peak_when = 0.0
        hwm: dict[int, int] = {}  # pid -> its own peak RSS (VmHWM)
        names: dict[int, str] = {}
        ppid: dict[int, int] = {}
        libs: dict[int, set[str]] = {}
        while proc.poll() is None:
            rss = pss = 0
            now: dict[int, tuple[int, int]] = {}
            for pid in tree(proc.pid):
                r = _kb(f"/proc/{pid}/status", "VmRSS:")
                p = _kb(f"/proc/{pid}/smaps_rollup", "Pss:")
                h = _kb(f"/proc/{pid}/status", "VmHWM:")
                if not r:
                    continue  # gone (or a zombie) since it was listed
                rss, pss = rss + r, pss + p
                now[pid] = (r, p)
                hwm[pid] = max(hwm.get(pid, 0), h)
                try:
                    names[pid] = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
                    ppid[pid] = _kb(f"/proc/{pid}/status", "PPid:")
                    maps = Path(f"/proc/{pid}/maps").read_text()
                except OSError:
                    continue
                libs[pid] = libs.get(pid, set()) | {n for n in PACKAGES if f"/{n}" in maps}
            if rss > peak_rss:
                peak_rss, at_peak, peak_when = rss, now, time.monotonic() - started
            peak_pss = max(peak_pss, pss)
            time.sleep(0.05)
    mb = 1024
    print(
        f"command: python benchmarks/routing/memory.py --stops {args.stops} --seconds {args.seconds:g}"
    )
    print(f"sum of each process's own peak RSS (VmHWM): {sum(hwm.values()) / mb:.1f} MB")
    print(
        f"peak of the tree's total RSS (summed at one instant, {peak_when:.1f} s in): "
        f"{peak_rss / mb:.1f} MB  <- issue 9's target (<= 170 MB at 1,000 stops)"
    )
    print(f"peak of the tree's total PSS: {peak_pss / mb:.0f} MB")
    for pid in sorted(hwm):
        r, p = at_peak.get(pid, (0, 0))
        loaded = ",".join(sorted(libs.get(pid, set()))) or "-"
        role = _role(names.get(pid, ""), ppid.get(pid) == proc.pid)
        print(
            f"  pid {pid} {role:24s} own peak {hwm[pid] / mb:4.0f} MB;"
            f" at the tree's peak RSS {r / mb:4.0f} MB, PSS {p / mb:4.0f} MB [{loaded}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
