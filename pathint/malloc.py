"""Keep the memory torch frees in the process's heap (glibc) instead of returning it to the kernel.

A training step allocates and frees the same large buffers every time (states, gradients, targets: 0.4 MB
to tens of MB each). By default glibc serves large requests with fresh ``mmap`` pages and gives freed
memory back, so every step touches new pages, and on a virtual machine each of those page faults costs a
few microseconds: about a thousand per step (~5 ms of a ~35 ms step) for a DoG network of the default
experiment. Raising the mmap and trim thresholds makes the freed buffers reusable as they are; the
process then holds on to its peak memory, which for a training loop is its steady state anyway.

This is a process-wide setting, so the package never applies it by itself: the training entry points
(``workflow/scripts/train.py``, and ``pack.py`` for a training pack) and the training benchmark call
:func:`keep_freed_memory`. It changes where
memory comes from, never a computed value.
"""

from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(largest_reused: int = 1 << 30) -> bool:
    """Make glibc's malloc serve requests up to ``largest_reused`` bytes from its heap and never trim the
    heap, so freed memory is reused without new page faults. Returns whether the setting took effect;
    False (and nothing changed) where the C library is not glibc (macOS, musl, Windows)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs with
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, largest_reused)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
