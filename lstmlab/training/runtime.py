"""Process setup for the programs that run BPTT passes: called once by each entry point, never by the library.

:func:`configure_worker` is called by the CLI's ``run``, the dashboard's server start and the job workers. No library
call (bptt, forward, train) changes process-wide state; what a process needs to run passes at full speed is
set here, once:

- One BLAS thread. Multithreaded BLAS gains little on the small matmuls of a pass even on an idle machine
  and can lose on a busy one (measured in docs/performance.md#library-calls, "plain / one thread"). Parallelism
  belongs across runs, and within a run across
  the shards of its batch: the compiled engine runs them in up to ``threads`` threads (one coarse step per
  layer and direction, not one per product), from ``THREADS_VARIABLE``, else 1.
- Every BLAS library loaded: numpy's, SciPy's own OpenBLAS (numba loads it with its first kernel; loaded here
  first, since a limit set before a library is loaded does not reach it), and the compiled engine's private
  one (:mod:`lstmlab.core.engines.blas`, at one thread anyway). A library call gets one thread for its engine's
  products without this (the private BLAS); the limit is for everything else a program runs.
- The compiled engine's kernels loaded from their disk cache (compiled on the first run of a machine, one
  process at a time), so no user waits for them at the first pass: now, in a background thread (the
  dashboard's server: the default study's kernels, then the others in a low-priority process of their own)
  or not at all (the local pool's workers: each job loads its cell's kernels, or waits for the process
  compiling them).
- glibc's heap keeps freed memory. By default glibc serves large blocks by mmap and returns them to the
  kernel when freed, so each round of large arrays faults its memory in again, page by page (a pass keeps
  its own arrays' memory without this: :mod:`lstmlab.core.engines.memory`; the rest of a program's numpy work
  benefits here). With every block served from the heap and up to TRIM_THRESHOLD of freed memory kept, a
  process holds on to the memory of its largest round, up to 2 GiB. Set LSTMLAB_KEEP_HEAP=0 to leave the
  allocator as it is.

:func:`configure_server` is called by the dashboard's server besides: its event loop answers every session and
/_stcore/health while the sessions' script threads draw, so it waits for the GIL at most SERVER_SWITCH_INTERVAL_S
(Python's default, 5 ms, let health checks wait behind a few redrawing sessions: see
docs/performance.md#load-on-one-server).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import threading

import scipy.linalg.cython_blas  # noqa: F401  SciPy's OpenBLAS, loaded before the limit is set
from threadpoolctl import threadpool_limits

from lstmlab.core import engines

# Threads one pass may use (the compiled engine runs its batch's shards side by side; results do not depend on it).
# Per process, set by its entry point from THREADS_VARIABLE, else 1, else ``jobs.limits.POOL_THREADS`` in a local pool's workers
# (which run at ``POOL_WORKER_NICE``: a job takes a second core while one is free, and two jobs per core share them
# as measured in docs/performance.md#training, side by side); `lstmlab run --threads N` sets it for one run.
THREADS_VARIABLE = "LSTMLAB_THREADS"


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
TRIM_THRESHOLD = 2 * 2**30  # free heap kept for the next pass before memory goes back to the kernel
KEEP_HEAP_VARIABLE = "LSTMLAB_KEEP_HEAP"


SERVER_SWITCH_INTERVAL_S = 0.001
WARM_CHOICES = ("now", "background", "off")
WARM_NICE = 19  # the background warm's process after the default study's kernels: below the pool workers' 10
_setup: dict = {}
_lock = threading.Lock()


def configure_worker(warm: str = "now", threads: int | None = None) -> dict:
    """Set this process up for BPTT passes; the process-wide part runs once, later calls only report it.

    ``warm``: load the chosen engine's compiled kernels "now", in a "background" thread, or "off" (they
    load at their first pass). ``threads``: the threads a pass may use (see the module); None keeps what is
    set, at the first call ``THREADS_VARIABLE`` or 1. Returns what was done:
    {"blas_threads": 1, "keep_heap": bool, "warm": ..., "threads": n}.
    """
    if warm not in WARM_CHOICES:
        raise ValueError(f"warm={warm!r}: expected one of {', '.join(map(repr, WARM_CHOICES))}")
    from lstmlab.core.engines import compiled  # here, not at the top: a process that only reads runs loads no compiler

    if threads is not None:
        compiled.set_threads(threads)  # checks the value before anything is set up
    with _lock:
        if not _setup:
            if threads is None:
                compiled.set_threads(threads_from_environment())
            threadpool_limits(limits=1, user_api="blas")
            _setup.update(blas_threads=1, keep_heap=_keep_heap(), warm="off")
        _setup["threads"] = compiled.threads()
        if warm != "off" and _setup["warm"] == "off":
            if warm == "now":
                engines.warm()
            else:  # an unknown LSTMLAB_ENGINE is then reported by the first pass, where a page shows errors
                threading.Thread(target=_warm_in_background, name="lstmlab-warm", daemon=True).start()
            _setup["warm"] = warm
        return dict(_setup)


def _warm_in_background() -> None:
    """Load the default study's kernels in this thread; then the others in a process of their own at WARM_NICE
    (:func:`warm_rest_process`), which fills the disk cache from which this process and the job workers load
    them when first needed. A thread at that priority would hold the GIL through the compile, and a server
    whose threads wait for it stalls."""
    engines.warm(first=True)
    warm_rest_process().wait()


def warm_rest_process() -> subprocess.Popen:
    """Start a process that loads (compiling where the cache has none) every kernel of the chosen engine, at
    WARM_NICE, with this process's environment and lstmlab importable; returns it."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    code = f"import os; os.nice({WARM_NICE}); from lstmlab.core import engines; engines.warm()"
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": path},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def threads_from_environment(default: int = 1) -> int:
    """``THREADS_VARIABLE`` as a number of threads, ``default`` when unset; ValueError naming it when not a count."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_VARIABLE}={value!r}: expected an integer >= 1")
    return int(value)


def configure_server() -> float:
    """Set the dashboard server's GIL switch interval to SERVER_SWITCH_INTERVAL_S; returns the interval."""
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)
    return sys.getswitchinterval()


def _keep_heap() -> bool:
    """Serve all blocks from glibc's heap and keep freed memory; False where nothing changed."""
    if os.environ.get(KEEP_HEAP_VARIABLE, "1") == "0":
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
