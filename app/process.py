"""Process-wide tuning of a serving process, in one place: the garbage collector and glibc's
allocator. Applied once the app has started (its lifespan), when the long-lived objects (modules,
the catalog, the draws) exist; a library never does this to the process it is imported into."""

from __future__ import annotations

import ctypes
import gc
import sys

GC_YOUNG_THRESHOLD = 50_000
"""Allocations between collections of the youngest generation (Python's default: 700)."""


def tune_serving_process() -> None:
    """Collect what start-up left, exempt the long-lived objects from every later collection,
    collect young objects less often, and keep freed heap mapped.

    Measured under 32 concurrent POSTs: the cyclic collector's pauses were the whole tail of
    the latency (p99 85 ms, p50 24 ms; after this p99 30 ms, p50 21 ms). Cycles still get
    collected; a request allocates a few thousand objects, so a collection comes every ~10."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    keep_freed_memory()


def keep_freed_memory() -> None:
    """Stop glibc from handing freed heap back to the kernel after every forecast.

    A forecast allocates arrays of up to ~1 MB. By default glibc unmaps or trims them on free,
    and the next forecast page-faults them back in: measured on this VM, that made np.log over
    204,000 values 8x slower. Keeping up to 128 MB of freed heap mapped removes that cost.
    Harmless where glibc is absent."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 128 << 20)
        libc.mallopt(m_top_pad, 16 << 20)
    except (OSError, AttributeError):
        return
