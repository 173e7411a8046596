"""Distance-matrix speed: haversine for 5,000 points (25 M pairs), best and median of 5 runs.

Usage: python benchmarks/routing/matrix.py [--points 5000] [--out matrix.txt]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from logistica_workers.routing.geo import haversine_matrix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("matrix.txt"))
    args = parser.parse_args()
    rnd = np.random.default_rng(1)
    lat, lng = rnd.uniform(38, 39, args.points), rnd.uniform(-10, -9, args.points)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        haversine_matrix(lat, lng)
        times.append(time.perf_counter() - t0)
    text = (
        f"haversine matrix, {args.points:,} points: best {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s (5 runs)\n"
        f"command: python benchmarks/routing/matrix.py --points {args.points}\n"
    )
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
