"""Runs as jobs: the executors (a local process pool, a Dask cluster), submitting, running and waiting for jobs (api),
the Dask workers' set-up (dask_setup), sweeps, a signed-in user's quotas (quotas) and the layer's limits (limits)."""
