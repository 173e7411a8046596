"""Two checkouts of logistica side by side on the model benchmark's instances, interleaved.

Runs ``python -m logistica_workers solve`` from checkout A, then from checkout B, on each
generated instance in turn (A B A B ...), so both see the same machine noise; scores every plan
with ``evaluator.py`` and records the peak RSS of each run's process tree (as ``model.py``).

Usage: python benchmarks/routing/ab.py --a DIR --b DIR [--sizes 300,1000]
    [--scenarios plentiful,return] [--seeds 2]
where DIR is a checkout's root (its ``workers`` folder goes first on PYTHONPATH; e.g. one made
with ``git worktree add`` or ``git archive REV | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from city import generate  # noqa: E402
from evaluator import evaluate  # noqa: E402
from model import SECONDS, loadavg, run_solver  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="checkout A (e.g. before)")
    ap.add_argument("--b", type=Path, required=True, help="checkout B (e.g. after)")
    ap.add_argument("--sizes", default="300,1000")
    ap.add_argument("--scenarios", default="plentiful,return")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    for side in (args.a, args.b):
        if not (side / "workers" / "logistica_workers").is_dir():
            ap.error(f"{side}: not a logistica checkout (no workers/logistica_workers)")
    before, started = loadavg(), time.monotonic()
    print(f"A = {args.a}, B = {args.b}; loadavg before: {before}")
    print("stops scenario seed | A obj / RSS MB / wall s | B obj / RSS MB / wall s | B vs A")
    diffs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.sizes.split(",")):
            for sc in args.scenarios.split(","):
                for seed in range(1, args.seeds + 1):
                    problem = generate(n, sc, seed)
                    path = Path(tmp) / "p.json"
                    path.write_text(json.dumps(problem))
                    cells = []
                    for side in (args.a, args.b):
                        os.environ["PYTHONPATH"] = str(side / "workers")
                        out = Path(tmp) / "o.json"
                        out.unlink(missing_ok=True)
                        res = run_solver("logistica", path, SECONDS.get(n, 10.0), out)
                        v = evaluate(problem, res["routes"])
                        ok = v.feasible and res["exit"] == 0
                        obj = (
                            v.full if ok else float("nan")
                        )  # drops first (big_b), then metres + arrival
                        cells.append((obj, res["peak_rss_mb"], res["wall"], v.dropped))
                    (a, ra, wa, da), (b, rb, wb, db) = cells
                    diff = (b / a - 1) * 100
                    diffs.append(diff)
                    drops = f" drops {da}/{db}" if da or db else ""
                    print(
                        f"{n} {sc} {seed} | {a:,.0f} / {ra:.0f} / {wa:.2f} | "
                        f"{b:,.0f} / {rb:.0f} / {wb:.2f} | {diff:+.2f} %{drops}",
                        flush=True,
                    )
    mean = sum(diffs) / len(diffs)
    print(
        f"B vs A, mean over {len(diffs)} runs: {mean:+.2f} % (min {min(diffs):+.2f}, max {max(diffs):+.2f})"
    )
    print(f"loadavg after: {loadavg()}; {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
