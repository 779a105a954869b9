"""The process's memory allocator: large blocks reused instead of fresh pages every time, and
freed pages handed back when a long-lived process drops a large object (a served run), from
one heap that every thread and pyarrow share."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys

__all__ = ["keep_freed_memory", "release_freed_memory", "share_one_heap"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc's mallopt (malloc.h)


def _libc() -> ctypes.CDLL | None:
    """The C library, or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve every block from its heap and keep freed memory for reuse
    (``mallopt``: no ``mmap`` for large blocks, no trimming), for a process that trains.

    By default a block past 32 MB gets fresh pages from ``mmap`` and returns them on free, so
    each large tensor a training step allocates (at 10M interactions: every ``[250k, 64]``
    output and gradient) pays its page faults and zeroing again, every step: an elementwise
    product of a ``[250k, 64]`` table took 41 ms that way and 24 ms from reused pages. Returns
    whether the setting was applied (Linux with glibc only; a no-op elsewhere). Called by the
    CLI; a program embedding mmgraph decides for itself."""
    libc = _libc()
    if libc is None:
        return False
    try:
        applied = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))
    except AttributeError:  # not glibc (e.g. musl has no mallopt)
        return False
    log.debug("malloc keeps freed memory: %s", applied)
    return applied


def share_one_heap() -> bool:
    """Serve every thread's blocks from one glibc heap (``mallopt(M_ARENA_MAX, 1)``) and
    pyarrow's from the same (its system pool instead of its own mimalloc), for a long-lived
    server, so that :func:`release_freed_memory` reaches every page a swapped-out run freed.

    Without it a swap under load left pages behind where ``malloc_trim`` does not reach: in
    the heap of the thread that loaded the new run (glibc gives each thread its own, grown and
    never shrunk) and in mimalloc's 1 GiB reservation (the run's Parquet tables): a swap every
    30 s under bench/serve.py's mixed traffic grew RSS 251 → 260 MiB over eight swaps (those
    two mappings +5.0 and +5.6 MiB in ``/proc/PID/smaps``), 232 → 237 with one heap; the
    30-minute soak +1.0% (docs/reliability.md). Must run before the threads it covers
    allocate. Returns whether glibc took the setting (pyarrow's pool is set either way)."""
    import pyarrow  # here, not at the top: every CLI command imports this module at its start

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    libc = _libc()
    try:
        applied = libc is not None and bool(libc.mallopt(_M_ARENA_MAX, 1))
    except AttributeError:  # not glibc
        applied = False
    log.debug("one malloc heap for every thread: %s", applied)
    return applied


def release_freed_memory() -> bool:
    """Collect unreachable objects, then hand every free page of glibc's heap back to the OS
    (``malloc_trim(0)``, a few ms over a few hundred MiB), for a long-lived process that has
    just dropped a large object. Returns whether it could (glibc only; a no-op elsewhere).

    With :func:`keep_freed_memory` (the CLI, ``mmgraph serve`` included) the heap is never
    trimmed on its own: in a 30-minute soak each ``/admin/swap`` to a run not loaded before left
    the old run's pages in the heap (RSS +10% over two swaps, then flat)."""
    gc.collect()
    trim = getattr(_libc(), "malloc_trim", None)  # None off glibc (musl has none)
    if trim is None:
        return False
    trim(0)
    return True
