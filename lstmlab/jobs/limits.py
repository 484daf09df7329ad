"""The jobs layer's own settings and limits: how workers run, how a job rides out an unreachable store, where the
Dask scheduler is, how large a sweep may be, and the quotas of a signed-in user (checked by lstmlab.jobs.quotas).

The dashboard's interactive limits (one study's work budget, jobs one session may have in flight) are the views'
(lstmlab.views.limits); the library's own bounds of a run are RunConfig's (lstmlab.core.config).
"""

# A local pool's workers run POOL_THREADS threads each (lstmlab.training.runtime), at POOL_WORKER_NICE: the server
# owning the pool comes first, a job takes a second core while one is free, and two jobs per core share them.
POOL_THREADS = 2
POOL_WORKER_NICE = 10  # niceness a local pool worker adds to itself
HEARTBEAT_S = 1.0  # a running job writes its heartbeat (and reads its stop request) this often
# How long a job rides out an unreachable store (retrying its writes, training paused at its next record) before it
# ends "failed" with the store's error. Below the store's LOST_AFTER_S, so a job that rode one out beats before it
# reads as lost.
OUTAGE_S = 20.0
OUTAGE_ENV = "LSTMLAB_OUTAGE_S"  # overrides OUTAGE_S for the jobs (and the waits) of this process
SCHEDULER_ENV = "LSTMLAB_SCHEDULER"  # Dask scheduler address (tcp://host:8786); unset = the local process pool
SCHEDULER_TIMEOUT_S = 10.0  # how long connecting to a Dask scheduler may take before it counts as unreachable
SCHEDULER_TAKE_S = 120.0  # how long a submission waits for the scheduler to take its task (the first imports lstmlab)
MAX_SWEEP_RUNS = 2000  # configs x seeds one sweep may hold

# Quotas of one signed-in user over all their sessions and the command line (checked in the transaction that queues
# a job; admins and anonymous use have none): jobs in flight, and training time started in the last USER_WINDOW_S (a
# rolling day). Two hours is about 300 of the largest interactive studies.
USER_MAX_RUNNING, USER_MAX_QUEUED = 3, 6
USER_COMPUTE_S = 2 * 3600
USER_WINDOW_S = 24 * 3600
