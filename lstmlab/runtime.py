"""Process settings that the recurrent loops need to run at full speed.

A BPTT pass is a long chain of small matmuls over freshly allocated (T, B, H)
arrays. Two defaults of the platform cost more than the arithmetic:

- Multithreaded BLAS gains little on small matmuls even on an idle machine
  and loses badly on a busy one: on a loaded 2-core machine one LSTM pass
  (T=100, B=64, H=32) took 46-128 ms with one BLAS thread and 205-340 ms with
  two. Passes run with one BLAS thread; parallelism belongs across runs.
- glibc serves large blocks by mmap and returns them to the kernel when freed,
  so each pass faults its arrays in again, page by page: about 4,200 minor
  page faults and half the CPU time of an LSTM pass at T=100, B=32, H=32 in
  float64 (21 ms of CPU against 10.5 ms once the heap keeps its memory); at
  T=1000, H=128 about 14,700 faults and 876 ms against 540 faults and 560 ms.
  :func:`fast_loops` therefore has glibc, once per process, serve every block
  from the heap and keep up to TRIM_THRESHOLD of freed memory for the next
  pass: a process holds on to the memory of its largest pass, up to 2 GiB.
  Set LSTMLAB_KEEP_HEAP=0 to leave the allocator as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from contextlib import contextmanager
from functools import lru_cache

from threadpoolctl import ThreadpoolController

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
TRIM_THRESHOLD = 2 * 2**30  # free heap kept for the next pass before memory goes back to the kernel


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """Set up once per process: the BLAS thread controller and glibc's heap."""
    _keep_heap()
    return ThreadpoolController()  # inspecting the loaded libraries costs ~0.2 ms: do it once


def _keep_heap() -> bool:
    """Serve all blocks from glibc's heap and keep freed memory; False where nothing changed."""
    if os.environ.get("LSTMLAB_KEEP_HEAP", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


@contextmanager
def fast_loops():
    """One BLAS thread inside the block (about 13 us to enter and leave); on first use, glibc's heap kept."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
