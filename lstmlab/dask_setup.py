"""The Dask side of the jobs: a worker plugin that sets every worker of a cluster up for training when it joins.

Registered by ``lstmlab.jobs`` when it connects to a scheduler (idempotent: once per cluster, whoever connects
first), so a worker's one-time set-up (BLAS at one thread, the heap kept, the compiled kernels loaded from their
disk cache: about a second) happens before its first job rather than inside it. Needs ``distributed`` (the
"dask" extra); imported only by processes that use a cluster.
"""
from __future__ import annotations

from typing import Any

import distributed

from lstmlab.runtime import configure_worker

PLUGIN_NAME = "lstmlab-worker-setup"


class WorkerSetup(distributed.WorkerPlugin):
    """``configure_worker`` on each worker as it joins; the kernels load in a background thread, so the worker's
    event loop (its heartbeats to the scheduler) is not held up."""

    idempotent = True
    name = PLUGIN_NAME

    def setup(self, worker: Any) -> None:
        configure_worker(warm="background")
