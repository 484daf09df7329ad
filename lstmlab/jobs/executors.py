"""Where jobs run: the executors, as seen from the process that submits them.

Executors are ``concurrent.futures.Executor`` s: without a setting one local process pool (``forkserver``
context, one worker per core) shared by every caller in the process; with ``scheduler=`` or
``$LSTMLAB_SCHEDULER`` (``tcp://host:8786``) a Dask cluster (``DaskExecutor``: impure tasks, since
de-duplication is ours, by ``config.key``, and fire-and-forget, so a job outlives the process that submitted it).
A local pool's worker runs the shards of a pass in up to ``POOL_THREADS`` threads (``worker.pool_worker_start``).

A run queued in a process's local pool waits in that process: while the pool holds jobs of a store, a thread of the
process beats their heartbeat (``queue_keeper``), so when the process goes away (a restarted server, kill -9) its
queued runs read as "lost" after ``LOST_AFTER_S`` and may be resubmitted; its workers finish the job they run and
then exit. A run queued on a Dask scheduler waits in the scheduler, which outlives the process that submitted it
and keeps it queued (``queued_on`` says where; ``task_key`` names its task there).
"""
from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import socket
import threading
import time
from typing import Any, Callable

from lstmlab.jobs.errors import JobError
from lstmlab.jobs.limits import (
    HEARTBEAT_S,
    POOL_THREADS,
    SCHEDULER_ENV,
    SCHEDULER_TAKE_S,
    SCHEDULER_TIMEOUT_S,
)
from lstmlab.jobs.worker import pool_worker_start
from lstmlab.store import RunStore, StoreError
from lstmlab.training.runtime import threads_from_environment

__all__ = ["DaskExecutor", "get_executor", "local_pool", "queue_keeper", "queued_on", "shutdown", "task_key"]

HELD_POLL_S = 0.005  # how often a submission asks the Dask scheduler whether it holds the task yet

_lock = threading.Lock()
_pool: concurrent.futures.ProcessPoolExecutor | None = None
_clients: dict[str, Any] = {}  # address -> distributed.Client

# The first word of a run's queued_on: where it waits. A process's own pool keeps its queued runs' heartbeats (the
# store's PROCESS_QUEUES); a Dask scheduler holds them itself.
POOL_QUEUE, DASK_QUEUE = "pool", "dask"



class DaskExecutor(concurrent.futures.Executor):
    """The jobs' executor on a Dask cluster: ``client.submit(..., pure=False)`` marked fire-and-forget once the
    scheduler holds the task.

    Unlike ``Client.get_executor`` the scheduler keeps a task when the submitting client goes away (a ``submit``
    from the command line, a restarted dashboard): the job's run lives in the store, not in the client.
    """

    def __init__(self, client: Any, address: str) -> None:
        self.client, self.address = client, address

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        return self.submit_as(None, fn, *args, **kwargs)

    def submit_as(self, key: str | None, fn: Callable, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """``submit`` under the task key ``key`` (None: Dask makes one up)."""
        import distributed  # optional dependency (the "dask" extra), needed only by processes that use a cluster

        future = self.client.submit(fn, *args, key=key, pure=False, **kwargs)
        self._wait_until_held(future.key)
        distributed.fire_and_forget(future)
        mirror: concurrent.futures.Future = concurrent.futures.Future()
        future.add_done_callback(functools.partial(_mirror_outcome, mirror))
        return mirror

    def _wait_until_held(self, key: str) -> None:
        """Wait until the scheduler holds task ``key``. It registers a submitted graph asynchronously (unpickling
        it: its first task imports lstmlab there) and drops a fire-and-forget wish for a key it does not know yet;
        the task would then go away with this client."""
        deadline = time.monotonic() + SCHEDULER_TAKE_S
        while self.client.sync(self.client.scheduler.get_task_status, keys=[key])[key] is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scheduler at {self.address} did not take task {key} within "
                                   f"{SCHEDULER_TAKE_S:g} s")
            time.sleep(HELD_POLL_S)


def _mirror_outcome(mirror: concurrent.futures.Future, future: Any) -> None:
    """Copy a finished Dask future's outcome to a concurrent.futures.Future. A cancellation is not copied: it
    comes from the client closing, while the scheduler runs the fire-and-forget task all the same."""
    if future.cancelled():
        return
    if future.status == "finished":
        mirror.set_result(future.result())
    else:
        mirror.set_exception(future.exception())


def get_executor(scheduler: str | None = None) -> concurrent.futures.Executor:
    """The executor jobs go to: the Dask cluster at ``scheduler`` (or ``$LSTMLAB_SCHEDULER``), else the
    process's shared local pool. ``JobError`` naming the address if the scheduler cannot be reached within
    ``SCHEDULER_TIMEOUT_S``."""
    address = scheduler or os.environ.get(SCHEDULER_ENV) or ""
    return _dask_executor(address.strip()) if address.strip() else local_pool()


def local_pool(renew: bool = False) -> concurrent.futures.ProcessPoolExecutor:
    """One pool per process, started on first use; ``renew`` replaces a pool broken by a dead worker."""
    global _pool
    with _lock:
        if _pool is None or renew:
            threads = threads_from_environment(default=min(POOL_THREADS, os.cpu_count() or 1))  # a bad value: here
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=False)
            # forkserver: workers start from a clean single-threaded process, never a fork of a threaded server
            _pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("forkserver"),
                initializer=pool_worker_start, initargs=(threads,))
        return _pool


def queued_on(executor: concurrent.futures.Executor) -> str:
    """Where a job handed to ``executor`` waits: "dask ADDRESS" or "pool HOST:PID" (this process's pool)."""
    return f"{DASK_QUEUE} {executor.address}" if isinstance(executor, DaskExecutor) else _pool_queue()


def _pool_queue() -> str:
    return f"{POOL_QUEUE} {socket.gethostname()}:{os.getpid()}"


def task_key(run_id: str, attempt: int) -> str:
    """The Dask task key of a run's attempt, by which the scheduler is asked whether it still holds it."""
    return f"lstmlab-run-{run_id}-{attempt}"


class _QueueKeeper:
    """Keeps fresh the heartbeat of the runs queued in this process's pool: a thread beats them every HEARTBEAT_S
    while the pool holds jobs of a store, so they read as lost once this process is gone."""

    def __init__(self) -> None:
        self._waiting: dict[RunStore, int] = {}  # store -> jobs handed to the pool and not done
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, store: RunStore) -> None:
        with self._lock:
            self._waiting[store] = self._waiting.get(store, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="lstmlab-queue-keeper", daemon=True)
                self._thread.start()

    def done(self, store: RunStore, _future: concurrent.futures.Future | None = None) -> None:
        with self._lock:
            self._waiting[store] -= 1
            if not self._waiting[store]:
                del self._waiting[store]

    def _loop(self) -> None:
        label = _pool_queue()
        while True:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                stores = list(self._waiting)
                if not stores:
                    self._thread = None
                    return
            for store in stores:
                try:
                    store.beat_queued(label)
                except StoreError:
                    pass  # a store hiccup: the next beat tries again; a long outage makes the queued runs lost


queue_keeper = _QueueKeeper()


def _dask_executor(address: str) -> DaskExecutor:
    with _lock:
        client = _clients.get(address)
        if client is None or client.status not in ("running", "connecting"):
            client = _clients[address] = _connect(address)
    return DaskExecutor(client, address)


def _connect(address: str) -> Any:
    import distributed  # optional dependency (the "dask" extra), needed only by processes that use a cluster

    from lstmlab.jobs.dask_setup import WorkerSetup  # imports distributed

    try:
        client = distributed.Client(address, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise JobError(f"cannot reach the Dask scheduler at {address} within {SCHEDULER_TIMEOUT_S:g} s "
                       f"({type(e).__name__}): is `dask scheduler` running there, and is the address right?") from None
    client.register_plugin(WorkerSetup())  # each worker loads its kernels when it joins, not in its first job
    return client


def shutdown() -> None:
    """Stop the local pool (its workers finish their current job; queued jobs are cancelled) and close the Dask
    clients of this process. A process that submitted to Dask calls it before it exits: a client hands its
    last submissions to the scheduler when it closes (the jobs then run without it)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        for client in _clients.values():
            client.close()
        _clients.clear()


