"""Keep freed memory in the process for the next batch instead of handing it back to the kernel.

A batch through Whisper allocates and frees activation tensors of tens to hundreds of MB each. By
default glibc serves such blocks with a fresh ``mmap`` and returns them with ``munmap`` (or trims the
heap) when they are freed, so the next batch page-faults every page in again. With the thresholds
below, freed blocks stay in the heap and the next batch reuses them, with identical results (the
figures: README, Throughput). The cost is that the process keeps its peak memory until it exits,
which a step process or a model-serving worker does anyway.
"""

import ctypes
import functools
import logging
import sys

log = logging.getLogger(__name__)

# mallopt(3) parameters
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
INT_MAX = 2**31 - 1  # mallopt takes a C int
# each setting with the values to try, best first: glibc before 2.35 caps the mmap threshold at 32 MiB
SETTINGS = {
    M_MMAP_THRESHOLD: (INT_MAX, 1 << 25),  # blocks below this come from the heap, and are reused when freed
    M_TRIM_THRESHOLD: (INT_MAX,),  # free memory at the heap top is kept up to this much
    M_TOP_PAD: (1 << 30,),  # grow the heap in large steps (address space only, until touched)
}


@functools.cache
def reuse_freed_memory() -> bool:
    """Apply the settings to this process once; False (and a warning) where they cannot all be applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no tunable malloc
        log.warning("not glibc: freed memory is not kept for the next batch (transcription is slower)")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    refused = [param for param, values in SETTINGS.items() if not any(mallopt(param, v) == 1 for v in values)]
    if refused:
        log.warning(f"glibc refused mallopt parameters {refused}: transcription may be slower")
    return not refused
