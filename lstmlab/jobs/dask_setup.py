"""The Dask side of the jobs: a worker plugin that sets every worker of a cluster up for training when it joins.

Registered by ``lstmlab.jobs.executors`` when it connects to a scheduler (idempotent: once per cluster, whoever connects
first), so a worker's one-time set-up (BLAS at one thread, the heap kept, the compiled kernels loaded from their
disk cache) happens before its first job rather than inside it. Needs ``distributed`` (the
"dask" extra); imported only by processes that use a cluster.

The plugin also stops the worker's statistical profiler (``distributed.worker.profile``), which samples the
running task's stack every 10 ms from the worker's event loop: it costs every training worker CPU time, and a
sweep wall time, for samples of no use here. Training jobs hold
the GIL in long stretches of numpy and compiled code, where its samples tell nothing a job's own timings do not.
"""
from __future__ import annotations

from typing import Any

import distributed

from lstmlab.training.runtime import configure_worker

PLUGIN_NAME = "lstmlab-worker-setup"
PROFILER_CALLBACKS = ("profile", "profile-cycle")  # a Worker's periodic callbacks of its statistical profiler


class WorkerSetup(distributed.WorkerPlugin):
    """``configure_worker`` on each worker as it joins; the kernels load in a background thread, so the worker's
    event loop (its heartbeats to the scheduler) is not held up."""

    idempotent = True
    name = PLUGIN_NAME

    def setup(self, worker: Any) -> None:
        configure_worker(warm="background")
        for name in PROFILER_CALLBACKS:
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
