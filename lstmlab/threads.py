"""BLAS threading for the recurrent loops.

A BPTT pass is a long chain of small matmuls. Multithreaded BLAS gains
little on them even on an idle machine and loses badly on a busy one:
measured on a loaded 2-core machine, one LSTM pass (T=100, B=64, H=32) took
46-128 ms with one BLAS thread and 205-340 ms with two. The passes therefore
run with one BLAS thread; parallelism belongs across runs, not inside one.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # inspecting the loaded libraries costs ~0.2 ms: do it once


@contextmanager
def single_blas_thread():
    """Limit BLAS libraries to one thread inside the block (about 13 us to enter and leave)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
