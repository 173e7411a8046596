"""routing.heap: freed large blocks leave the process's RSS (glibc's fixed mmap threshold)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from logistica_workers.routing import heap

# Two 16 MiB arrays in turn. glibc maps the first on its own; freeing it raises the dynamic
# threshold, so the second comes from the heap and stays resident after it is freed unless
# the threshold is fixed. Prints the anonymous RSS left over after both were freed (KiB).
PROBE = """
import sys
import numpy as np
if sys.argv[1] == "tuned":
    from logistica_workers.routing import heap
    assert heap.tune()
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
before = anon()
for _ in range(2):
    a = np.ones(2 << 20)  # 16 MiB, touched
    del a
print(anon() - before)
"""


def leftover_kib(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not heap.tune(), reason="needs glibc (mallopt)")
def test_freed_matrices_leave_rss_only_with_the_fixed_threshold() -> None:
    assert leftover_kib("default") > 8 * 1024  # the second array stayed in the heap
    assert leftover_kib("tuned") < 2 * 1024


@pytest.mark.skipif(not heap.tune(), reason="needs glibc (malloc_trim)")
def test_trim_returns_freed_small_blocks() -> None:
    out = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True
    )
    kept, trimmed = map(int, out.stdout.split())
    assert kept > 20 * 1024  # freed small blocks stay in the process ...
    assert trimmed < kept - 20 * 1024  # ... until trimmed


# 30,000 blocks of 1.5 KB (malloc's, not Python's small-object allocator; 45 MB) freed but for
# every 50th: their pages stay resident (the heap cannot shrink past the survivors); prints
# the anonymous RSS left before and after trim (KiB)
TRIM_PROBE = """
from logistica_workers.routing import heap
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
before = anon()
blocks = [bytearray(1500) for _ in range(30_000)]
kept = blocks[::50]
del blocks
left = anon() - before
assert heap.trim()
print(left, anon() - before)
"""
