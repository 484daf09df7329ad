"""What the benchmarks share: interleaved median timing and a description of the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time


def median_times(fns, repeats: int, warmup: int = 2, clock=time.perf_counter) -> list[float]:
    """Median time of each function, their runs interleaved so that load changes hit all alike. ``clock``:
    wall time by default; ``time.thread_time`` gives the CPU time of a single-threaded function, which other
    work on the machine changes much less."""
    for _ in range(warmup):  # the first passes of a new shape grow the heap and fill the caches
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = clock()
            fn()
            ts.append(clock() - t0)
    return [statistics.median(ts) for ts in times]


def machine() -> str:
    """CPU model, cores, OS and Python."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def load() -> str:
    """The load average (1, 5, 15 minutes): other work on a shared machine moves every timing."""
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())
