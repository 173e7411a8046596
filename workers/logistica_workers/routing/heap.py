"""The C allocator's handling of large blocks, for processes that build big matrices.

glibc serves a block of at least ``M_MMAP_THRESHOLD`` bytes with its own mapping and unmaps
it when freed, but after the first such free it raises the threshold to that block's size, so
every later matrix of the same size comes from the heap and stays in the process's RSS after
it is freed (measured at 1,000 stops: the instance's build transients, the pickled instance
sent to each engine, PyVRP's data once its phase is over). A fixed threshold keeps large
blocks in their own mappings, returned to the system when freed.

Importing this module applies it (the engines' fork server preloads it, so every engine
process forked from it inherits the setting); ``tune`` applies it in the calling process.

Small blocks freed by a finished search (PyVRP's solutions and routes, each engine thread in
an allocator arena of its own) stay in the process until ``trim`` hands the free pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20  # blocks of 1 MiB and more: own mapping, unmapped when freed


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@functools.cache
def tune() -> bool:
    """Fix glibc's mmap threshold; False where the C library is not glibc (nothing done)."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def trim() -> bool:
    """Return the free pages of every allocator arena to the system (glibc's
    ``malloc_trim``); False where there is no such call (nothing done)."""
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True


tune()
