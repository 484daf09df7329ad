"""Runs as jobs: submitting, stopping and waiting for them (api), where they run (executors: a local process pool, a
Dask cluster), what a job does in its worker (worker), the Dask workers' set-up (dask_setup), sweeps, a signed-in
user's quotas (quotas), the layer's limits (limits) and its error (errors)."""
