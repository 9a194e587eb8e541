"""Giving memory back to the system after a large window is evaluated.

glibc's malloc gives threads that allocate at once arenas of their own (up to eight per core) and keeps what
they free for later allocations on the same arena. The monitors, the read-ahead and the scorer each work on
threads of their own, so the next run's parts land in arenas other than the ones the last run freed, and a
process that runs the monitors again and again grows: three runs of fairness, quality and drift over a
million PostgreSQL records peaked at 2.1–2.2 GB, against 1.65 GB with the free memory trimmed after each run
(in the same time). Capping the arenas instead (mallopt) did not help a process whose threads had made them
already. This is one glibc call (as Dask's workers make it), hence the few lines here rather than a library.
"""
from __future__ import annotations

import ctypes


def trim_malloc() -> bool:
    """Give the memory glibc's malloc holds free back to the system (malloc_trim); False where the C library
    is not glibc (macOS, musl, Windows: nothing changes there) or nothing could be given back."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False
