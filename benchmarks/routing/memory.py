"""Peak memory of ``logistica solve``'s whole process tree, as RSS and as PSS.

RSS counts pages shared between the parent, the fork server and the engines (forked from it)
once per process; PSS splits them, so its sum is what the tree really occupies. Sampled every
50 ms from /proc. Also lists the heavy packages each process has loaded (from its maps).

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
        proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        peak_rss = peak_pss = 0
        per: dict[int, tuple[str, int, int]] = {}
        libs: dict[int, set[str]] = {}
        while proc.poll() is None:
            rss = pss = 0
            for pid in tree(proc.pid):
                r = _kb(f"/proc/{pid}/status", "VmRSS:")
                p = _kb(f"/proc/{pid}/smaps_rollup", "Pss:")
                rss, pss = rss + r, pss + p
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:80]
                    maps = Path(f"/proc/{pid}/maps").read_text()
                except OSError:
                    continue
                if r > per.get(pid, ("", 0, 0))[1]:
                    per[pid] = (cmdline, r, p)
                libs[pid] = {
                    name
                    for name in ("ortools", "pyvrp", "matplotlib", "kubernetes", "kopf", "numpy")
                    if f"/{name}" in maps
                }
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.05)
    print(
        f"command: python benchmarks/routing/memory.py --stops {args.stops} --seconds {args.seconds:g}"
    )
    print(f"peak of the tree: RSS {peak_rss / 1024:.0f} MB, PSS {peak_pss / 1024:.0f} MB")
    for pid, (cmdline, r, p) in per.items():
        loaded = ",".join(sorted(libs.get(pid, set()))) or "-"
        print(
            f"  pid {pid}: peak RSS {r / 1024:.0f} MB (PSS then {p / 1024:.0f} MB) [{loaded}] {cmdline}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
