"""Runs as jobs: submitting, stopping and waiting for them (api), where they run (executors: a local process pool, a
Dask cluster), what a job does in its worker (worker), the Dask workers' set-up (dask_setup), sweeps, a signed-in
user's quotas (quotas), the layer's limits (limits) and its error (errors).

The names a script uses are here, imported on first use (``from lstmlab import jobs; jobs.submit(config, ...)``):
``submit``, ``submit_many``, ``resubmit``, ``stop``, ``wait``, ``get_executor`` and ``JobError``.
"""
from __future__ import annotations

import importlib

_PUBLIC = {"JobError": "lstmlab.jobs.errors", "get_executor": "lstmlab.jobs.executors",
           **{name: "lstmlab.jobs.api" for name in ("submit", "submit_many", "stop", "resubmit", "wait")}}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lstmlab.jobs' has no attribute {name!r}")
