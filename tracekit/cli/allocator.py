"""The C allocator's settings for the ``tracekit`` process (the command line only).

An analysis allocates and frees arrays of a few to tens of megabytes on every batch
(numpy in the exact percentiles and the self-time sweep, pyarrow and polars buffers
handed to numpy). glibc's ``malloc`` serves such sizes by ``mmap`` or gives the top
of its heap back to the kernel as soon as a little is free, so the next batch faults
the same pages in again: at 20M rows about 700,000 page faults and 2-3 s of kernel
time in a 6-7 s run. Serving requests up to 32 MiB from the heap and keeping what is
freed there for the next batch halves the faults and the kernel time, at the same
peak RSS (``docs/benchmarks.md``, analyze round 6).

Only the command-line program calls :func:`keep_freed_memory`: a library must not
change the allocator of the program that imports it, and the tracer never does.
"""

from __future__ import annotations

import os
import sys
from typing import Final

MMAP_THRESHOLD_BYTES: Final = 32 * 2**20
"""Requests up to this size come from the heap (glibc's own upper bound for it)."""
TRIM_THRESHOLD_BYTES: Final = 2**31 - 1
"""Free memory at the heap's top kept by the process rather than given back."""

_USER_SETTINGS: Final = (
    "GLIBC_TUNABLES",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)
"""Environment variables through which a user tunes glibc's malloc: set, left alone."""
_M_TRIM_THRESHOLD: Final = -1  # <malloc.h>
_M_MMAP_THRESHOLD: Final = -3


def keep_freed_memory() -> bool:
    """Set glibc's ``malloc`` to keep freed memory for reuse; whether it took effect.

    A no-op returning False where the C library is not 64-bit glibc (macOS, musl),
    where the user tunes malloc through the environment (``GLIBC_TUNABLES``,
    ``MALLOC_*_``), or where glibc refuses a setting. Never raises.
    """
    if not sys.platform.startswith("linux") or sys.maxsize < 2**32:  # 64-bit glibc only
        return False
    if any(name in os.environ for name in _USER_SETTINGS):  # the user's own settings win
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (ImportError, OSError, AttributeError):  # no ctypes, no C library, not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1:
        return False  # refused: leave the trim threshold alone too
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1)
