"""Keeping a batch job's peak memory near what it holds, not what it once freed.

A preparation frees large temporaries stage after stage. Two allocators keep such memory:
glibc's malloc raises its mmap threshold after a large block is freed, so later large blocks come
from the heap and stay with the process after they are freed; Arrow's default pool (mimalloc)
keeps freed pages for reuse. Both count in the peak RSS a user sees, so a long batch command asks
both to give memory back at once. Interactive use (the app) keeps the defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_MMAP_THRESHOLD = 1 << 17  # glibc's own starting value: blocks this large and up are mapped, and unmapped when freed


def return_freed_memory() -> None:
    """Call before pyarrow is imported (Arrow picks its pool once)."""
    # Arrow on the C allocator tuned below: its default pool (mimalloc) kept ~30 MB more after a
    # read of 300K reviews, even with a purge delay of 0
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        # a fixed threshold also turns off glibc's raising of it
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to tune
        pass
