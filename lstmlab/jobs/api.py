"""Runs as jobs: submitted, trained by a worker process, streamed into the run store, watched by anyone.

    submit(config) ── queued run row ──> executor ──> worker: _run_job ── train(config, on_record=...)
                                                                │ each record: one transaction
                                                                │ heartbeat every HEARTBEAT_S (reads stop requests)
                                                                └ final status + parameters

Executors are ``concurrent.futures.Executor`` s: without a setting one local process pool (``forkserver``
context, one worker per core) shared by every caller in the process; with ``scheduler=`` or
``$LSTMLAB_SCHEDULER`` (``tcp://host:8786``) a Dask cluster (``DaskExecutor``: impure tasks, since
de-duplication is ours, by ``config.key``, and fire-and-forget, so a job outlives the process that submitted it). Worker processes call
``runtime.configure_worker()`` once (BLAS at one thread, the heap kept; a local pool's worker runs the shards of a
pass in up to ``POOL_THREADS`` threads); the submitting process never trains.

The store is the only channel between a job and its watchers: a run is "queued", then "running", then
"finished", "diverged", "stopped" or "failed" (with the message); a running run whose heartbeat is older than
``LOST_AFTER_S`` reads as "lost" and may be resubmitted, which resumes it after its last stored record. Each
resubmission is a new attempt; a write of an older attempt is refused (``store.StaleAttempt``), so a worker
thought dead cannot write into a resumed run. A job rides out a store that does not answer for up to ``OUTAGE_S``
(``_Link``: its writes retried, training waiting at its record), then ends "failed" with the store's error.

No run waits for ever. A run queued in a process's local pool waits in that process: while the pool holds jobs of
a store, a thread of the process beats their heartbeat (``_QueueKeeper``), so when the process goes away (a
restarted server, kill -9) its queued runs read as "lost" after ``LOST_AFTER_S`` and may be resubmitted; its
workers finish the job they run and then exit. A run queued on a Dask scheduler waits in the scheduler, which
outlives the process that submitted it and keeps it queued (``queued_on`` says where); if the scheduler goes away,
its queue goes with it: ``release_forgotten`` (called by a process's first submission to a scheduler and by a
sweep) asks the scheduler which of the runs queued on it it still holds and lets the others go, so they read as
lost.
"""
from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable

from lstmlab.core.config import RunConfig, seconds_from_environment
from lstmlab.jobs import quotas
from lstmlab.jobs.limits import (
    HEARTBEAT_S,
    OUTAGE_ENV,
    OUTAGE_S,
    POOL_THREADS,
    POOL_WORKER_NICE,
    SCHEDULER_ENV,
    SCHEDULER_TAKE_S,
    SCHEDULER_TIMEOUT_S,
)
from lstmlab.runs.records import Record
from lstmlab.runs.status import FINAL_STATUSES
from lstmlab.store import (
    LOST_AFTER_S,
    Actor,
    RunStore,
    StaleAttempt,
    StoreError,
    StoreUnavailable,
    check_labels,
)
from lstmlab.training.runtime import configure_worker, threads_from_environment
from lstmlab.training.train import train

__all__ = ["HEARTBEAT_S", "LOST_AFTER_S", "FINAL_STATUSES", "JobError", "get_executor", "submit", "submit_many",
           "stop", "resubmit", "wait"]

POLL_S = 0.2  # how often wait() reads a run's progress
# Where a queued run waits, the first word of its ``queued_on``: this process's own pool, which beats the runs it
# holds (so a kind among the store's PROCESS_QUEUES), or a Dask scheduler, which holds them itself.
POOL_QUEUE, DASK_QUEUE = "pool", "dask"


class JobError(Exception):
    """A job cannot be submitted: the scheduler is unreachable (the message names its address), a worker
    refused it, a sweep is malformed. The message is fit to show as is."""


# ---- executors ------------------------------------------------------------------------------------------

_lock = threading.Lock()
_pool: concurrent.futures.ProcessPoolExecutor | None = None
_clients: dict[str, Any] = {}  # address -> distributed.Client


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
            time.sleep(POLL_S / 40)


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
    return _dask_executor(address.strip()) if address.strip() else _local_pool()


def _local_pool(renew: bool = False) -> concurrent.futures.ProcessPoolExecutor:
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
                initializer=_pool_worker_start, initargs=(threads,))
        return _pool


def _pool_worker_start(threads: int) -> None:
    """A local pool worker ignores Ctrl-C meant for its parent (a stop goes through the store), gives way on the
    CPU to the process that owns the pool (POOL_WORKER_NICE: a dashboard server stays responsive while its
    workers keep every core busy; an otherwise idle machine still runs them at full speed), sets itself up for
    training (its passes in ``threads`` threads; a job loads its cell's kernels at its first pass, or waits for
    the process compiling them) and exits when its parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(POOL_WORKER_NICE)
    configure_worker(warm="off", threads=threads)
    threading.Thread(target=_exit_with_parent, name="lstmlab-orphan-watch", daemon=True).start()


_job_lock = threading.Lock()  # held by a pool worker while it runs a job


def _exit_with_parent() -> None:
    """End this pool worker once the process that owns its pool is gone (killed, say): nobody would ever hand
    it another job. A job it is running finishes first; the jobs left in the dead pool read as lost."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    multiprocessing.connection.wait([parent.sentinel])
    _job_lock.acquire()
    os._exit(0)


def _run_pool_job(run_id: str, attempt: int, store_url: str) -> str:
    """``_run_job`` in a pool worker, which starts no job once its pool's process is gone (the run stays queued
    and so reads as lost)."""
    with _job_lock:
        parent = multiprocessing.parent_process()
        if parent is not None and not parent.is_alive():
            return "orphaned"
        return _run_job(run_id, attempt, store_url)


def _queued_on(executor: concurrent.futures.Executor) -> str:
    """Where a job handed to ``executor`` waits: "dask ADDRESS" or "pool HOST:PID" (this process's pool)."""
    return f"{DASK_QUEUE} {executor.address}" if isinstance(executor, DaskExecutor) else _pool_queue()


def _pool_queue() -> str:
    return f"{POOL_QUEUE} {socket.gethostname()}:{os.getpid()}"


def _task_key(run_id: str, attempt: int) -> str:
    """The Dask task key of a run's attempt, by which the scheduler is asked whether it still holds it."""
    return f"lstmlab-run-{run_id}-{attempt}"


_released: set[tuple[str, int]] = set()  # (store URL, id of the Dask client) already checked by this process


def release_forgotten(store_url: str, scheduler: str | None = None) -> list[str]:
    """Let go of the runs queued on the Dask scheduler at ``scheduler`` (or ``$LSTMLAB_SCHEDULER``) that it no
    longer holds (it was restarted, say): they read as lost then, and can be resubmitted. Only runs queued longer
    than ``LOST_AFTER_S`` ago are asked about (a fresh submission may not have reached the scheduler yet).
    Returns their ids; [] without a scheduler."""
    executor = get_executor(scheduler)
    if not isinstance(executor, DaskExecutor):
        return []
    store = _store(str(store_url))
    waiting = {_task_key(run_id, attempt): (run_id, attempt)
               for run_id, attempt in store.waiting(_queued_on(executor), older_than=store.lost_after)}
    if not waiting:
        return []
    client = executor.client
    states = client.sync(client.scheduler.get_task_status, keys=list(waiting))
    gone = [waiting[key] for key, state in states.items() if state is None]
    for run_id, attempt in gone:
        store.release_queued(run_id, attempt)
    return [run_id for run_id, _ in gone]


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


_keeper = _QueueKeeper()


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


# ---- submitting ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _store(store_url: str) -> RunStore:
    """One store per URL and process (its connection pool serves every thread)."""
    return RunStore(store_url)


def submit(config: RunConfig, *, store_url: str, actor: Actor | None = None, name: str = "",
           tags: Iterable[str] = (), scheduler: str | None = None, sweep: str = "") -> str:
    """Queue ``config`` as a job; returns its run id.

    The run row (status "queued") is written before the job is handed to the executor. A config whose key
    already has a queued, running, finished or diverged run attaches to it (its id is returned, nothing is
    trained); two processes submitting one config at once train it once. An unreachable scheduler raises
    ``JobError`` before anything is written; a hand-over that fails removes the queued row again. A bad name or
    tag (``store.check_labels``) is a ``ValueError`` before anything starts. A new run that would take ``actor``
    over a quota raises ``quotas.QuotaExceeded``, checked in the transaction that queues it (nothing is written
    then).
    """
    name, tags = check_labels(name, tags)
    executor = get_executor(scheduler)
    store = _store(str(store_url))
    if isinstance(executor, DaskExecutor) and (str(store_url), id(executor.client)) not in _released:
        release_forgotten(store_url, scheduler)  # once per store and connection: a queued run may be attached to
        _released.add((str(store_url), id(executor.client)))
    run_id, attempt, created = store.queue(config, actor=actor, name=name, tags=tags, sweep=sweep,
                                           queued_on=_queued_on(executor), admit=quotas.admission(store, actor))
    if created:
        _hand_over(executor, store, run_id, attempt)
    return run_id


def submit_many(configs: Iterable[RunConfig], *, store_url: str, actor: Actor | None = None, name: str = "",
                tags: Iterable[str] = (), scheduler: str | None = None, sweep: str = "") -> list[str]:
    """Queue several configs (a study: one per cell) as jobs, all or none; returns their run ids in order.

    As ``submit`` for each, but their runs are queued in one transaction and ``actor``'s quotas are checked for
    all of them at once: ``quotas.QuotaExceeded`` (nothing is queued) if together they would take ``actor`` over
    one. Configs that attach to a stored run count for nothing. A hand-over that fails removes the queued rows not
    handed over yet and raises ``JobError``.
    """
    configs = list(configs)
    name, tags = check_labels(name, tags)
    executor = get_executor(scheduler)
    store = _store(str(store_url))
    if isinstance(executor, DaskExecutor) and (str(store_url), id(executor.client)) not in _released:
        release_forgotten(store_url, scheduler)
        _released.add((str(store_url), id(executor.client)))
    queued = store.queue_many(configs, actor=actor, name=name, tags=tags, sweep=sweep,
                              queued_on=_queued_on(executor), admit=quotas.admission(store, actor))
    created = [(run_id, attempt) for run_id, attempt, new in queued if new]
    for i, (run_id, attempt) in enumerate(created):
        try:
            _hand_over(executor, store, run_id, attempt)
        except JobError:
            for later, later_attempt in created[i + 1:]:
                store.discard(later, later_attempt)
            raise
    return [run_id for run_id, _, _ in queued]


def resubmit(run_id: str, *, store_url: str, actor: Actor | None = None, scheduler: str | None = None) -> str:
    """Queue a lost, stopped or failed run again (same id): the job resumes after its last stored record.
    ``ValueError`` for a run in another state, ``PermissionError`` if ``actor`` may not change it,
    ``quotas.QuotaExceeded`` if it would take ``actor`` over a quota (nothing changes then)."""
    executor = get_executor(scheduler)
    store = _store(str(store_url))
    full, attempt = store.requeue(run_id, actor=actor, queued_on=_queued_on(executor),
                                  admit=quotas.admission(store, actor))
    _hand_over(executor, store, full, attempt)
    return full


def _hand_over(executor: concurrent.futures.Executor, store: RunStore, run_id: str, attempt: int) -> None:
    pool = not isinstance(executor, DaskExecutor)
    if pool:
        _keeper.add(store)  # before the job can end, which calls done
    try:
        future = _submit(executor, pool, store, run_id, attempt)
    except JobError:
        if pool:
            _keeper.done(store)
        raise
    if pool:
        future.add_done_callback(functools.partial(_keeper.done, store))
    future.add_done_callback(functools.partial(_after_job, store, run_id, attempt))


def _submit(executor: concurrent.futures.Executor, pool: bool, store: RunStore, run_id: str,
            attempt: int) -> concurrent.futures.Future:
    url = store.url.render_as_string(hide_password=False)
    try:
        if not pool:
            return executor.submit_as(_task_key(run_id, attempt), _run_job, run_id, attempt, url)
        return executor.submit(_run_pool_job, run_id, attempt, url)
    except BrokenProcessPool:  # a worker of the local pool died earlier: start a fresh pool, once
        try:
            return _local_pool(renew=True).submit(_run_pool_job, run_id, attempt, url)
        except Exception as e:
            store.discard(run_id, attempt)
            raise JobError(f"the local worker pool refused run {run_id}: {type(e).__name__}: {e}") from None
    except Exception as e:
        store.discard(run_id, attempt)
        raise JobError(f"the executor refused run {run_id}: {type(e).__name__}: {e}") from None


def _after_job(store: RunStore, run_id: str, attempt: int, future: concurrent.futures.Future) -> None:
    """A job whose worker died before it started would stay queued for ever: mark it failed. (A job that
    started and then lost its worker becomes "lost" by its heartbeat.)"""
    if future.cancelled() or future.exception() is not None:
        why = "cancelled" if future.cancelled() else f"{type(future.exception()).__name__}: {future.exception()}"
        try:
            store.fail_queued(run_id, attempt, f"its worker went away before it started ({why}): resubmit it")
        except StoreError:
            pass  # the store is unreachable from here too; the run stays queued until resubmitted


def stop(run_id: str, *, store_url: str, actor: Actor | None = None) -> str:
    """Ask a run to stop: a running job stops at its next step (keeping what it recorded), a queued or lost
    run is marked stopped at once. Returns the status after the request. ``PermissionError`` if ``actor``
    may not change the run."""
    return _store(str(store_url)).request_stop(run_id, actor=actor)[1]


def wait(run_id: str, *, store_url: str, timeout: float | None = None,
         on_progress: Callable[[dict], None] | None = None) -> str:
    """Follow a run until it is finished, diverged, stopped, failed or lost; returns that status.

    on_progress(progress) gets ``RunStore.progress`` at every poll (every ``POLL_S``). ``TimeoutError``
    after ``timeout`` seconds. While the store does not answer, polling goes on until the job has certainly
    given up on it too (its outage limit, and the time after which the run reads as lost); then
    ``StoreUnavailable`` says so."""
    store = _store(str(store_url))
    deadline = None if timeout is None else time.monotonic() + timeout
    patience = max(outage_limit(), store.lost_after) + RETRY_MAX_S
    answered = time.monotonic()
    while True:
        try:
            progress = store.progress(run_id)
        except StoreUnavailable as e:
            silent = time.monotonic() - answered
            if silent > patience:
                raise StoreUnavailable(
                    f"{e}; no answer for {silent:.0f} s, so run {run_id}'s job has given up on the store too "
                    f"(it waits {outage_limit():g} s): once the store is back the run reads as failed or lost, and "
                    f"`lstmlab resubmit {run_id}` resumes it after its last record") from None
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id}: no answer from the run store for {silent:.0f} s ({e})") from None
            time.sleep(POLL_S)
            continue
        answered = time.monotonic()
        if on_progress is not None:
            on_progress(progress)
        if progress["status"] in FINAL_STATUSES:
            return progress["status"]
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {progress['id']} is still {progress['status']} after {timeout:g} s")
        time.sleep(POLL_S)


# ---- the job, in a worker process -------------------------------------------------------------------------

RETRY_FIRST_S, RETRY_MAX_S = 0.1, 2.0  # backoff of a job's store writes while the store does not answer


class StoreOutage(StoreError):
    """A job gave up on its store: it did not answer for longer than the job waits (``outage_limit()``)."""


def outage_limit() -> float:
    """Seconds a job rides out an unreachable store: ``$LSTMLAB_OUTAGE_S`` or ``config.OUTAGE_S``."""
    return seconds_from_environment(OUTAGE_ENV, OUTAGE_S)


class _Link:
    """A job's hold on its store: ``call`` makes a store call, retrying it with backoff (RETRY_FIRST_S doubling
    up to RETRY_MAX_S) while the store is unavailable (``StoreUnavailable``), for as long as the store has not
    answered this job for ``outage`` seconds; other store errors pass at once.

    The outage is counted from the job's last write that went through (``last_ok``, a heartbeat at most
    HEARTBEAT_S old), since that is what readers see age: with ``outage`` below ``lost_after`` a job that comes
    through writes before its run reads as lost.
    """

    def __init__(self, outage: float) -> None:
        self.outage = outage
        self.last_ok = time.monotonic()

    def ok(self) -> None:
        self.last_ok = max(self.last_ok, time.monotonic())

    def down_for(self) -> float:
        return time.monotonic() - self.last_ok

    def call(self, fn: Callable[[], Any], doing: str, until: float | None = None) -> Any:
        """``fn()`` once the store answers; ``StoreOutage`` naming ``doing`` and the store's error once it has
        not answered for ``outage`` seconds (or at monotonic time ``until``)."""
        delay = RETRY_FIRST_S
        while True:
            try:
                result = fn()
            except StoreUnavailable as e:
                deadline = self.last_ok + self.outage if until is None else until
                if time.monotonic() + delay > deadline:
                    raise self.gave_up(doing, e) from None
                time.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
            else:
                self.ok()
                return result

    def gave_up(self, doing: str, error: Exception) -> StoreOutage:
        return StoreOutage(f"the run store did not answer for {self.down_for():.0f} s while the job was {doing} "
                           f"(a job waits up to {self.outage:g} s, {OUTAGE_ENV}): {error}")


def _run_job(run_id: str, attempt: int, store_url: str) -> str:
    """Train a queued run into the store; returns its final status ("superseded" if a newer attempt took it,
    "lost" if its failure could not be written).

    Every store call rides out an outage of up to ``outage_limit()`` seconds (``_Link``); training waits while
    a record is being written, so it never runs ahead of its store by more than a record. A job that gives up
    ends "failed" with the store's error, if the store takes that write before the run would read as lost."""
    configure_worker(warm="off")  # the job loads its own kernels at its first pass: not every kernel set
    link = _Link(outage_limit())
    store = link.call(lambda: _store(store_url), "opening the run store")
    resume_after = link.call(lambda: store.start(run_id, attempt), "starting")
    if resume_after is None:
        return "skipped"
    beat = _Heartbeat(store, run_id, attempt, link)

    def on_record(record: Record) -> None:
        if record.step > resume_after and link.call(lambda: store.append(run_id, attempt, record),
                                                    f"writing its record of step {record.step}"):
            beat.stop_requested = True

    try:
        config = link.call(lambda: store.config(run_id), "reading its config")
        with beat:
            run = train(config, progress=beat.progress, should_stop=beat.should_stop, on_record=on_record)
        link.call(lambda: store.finish(run_id, attempt, run), "writing its final status")
        return run.status
    except StaleAttempt:
        return "superseded"
    except Exception as e:  # noqa: BLE001 -- any failure of a job is recorded in its run, not lost in a worker log
        message = str(e) if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
        if isinstance(e, StoreOutage):
            message += "; training stopped: resubmit the run to resume after its last record"
        try:  # while the run does not read as lost yet: after that it may be resubmitted, and lost stays lost
            link.call(lambda: store.fail(run_id, attempt, message), "writing its failure",
                      until=link.last_ok + store.lost_after - HEARTBEAT_S)
        except StoreError:
            return "lost"  # the heartbeat has stopped: the run reads as lost, with the reason it may have
        return "failed"


class _Heartbeat:
    """A thread that writes the job's heartbeat and step every HEARTBEAT_S and reads its stop request.

    Training stops (``progress`` raises ``StoreOutage``) once the store has not taken a write of the job for
    the link's outage limit, also between two records."""

    def __init__(self, store: RunStore, run_id: str, attempt: int, link: _Link) -> None:
        self.store, self.run_id, self.attempt, self.link = store, run_id, attempt, link
        self.step = 0
        self.stop_requested = False
        self.stale = False
        self.error: StoreError | None = None  # the store's last error to a beat, None once a beat went through
        self.permanent = False  # whether that error will not go away by itself
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat {run_id}", daemon=True)

    def progress(self, done: int, total: int, metrics: dict) -> None:
        self.step = done
        error = self.error
        if error is not None and self.permanent:
            raise error
        if error is not None and self.link.down_for() > self.link.outage:
            raise self.link.gave_up(f"training (step {done})", error)

    def should_stop(self) -> bool:
        return self.stop_requested or self.stale

    def _loop(self) -> None:
        while not self._done.wait(HEARTBEAT_S):
            try:
                if self.store.beat(self.run_id, self.attempt, self.step):
                    self.stop_requested = True
            except StaleAttempt:
                self.stale = True
                return
            except StoreUnavailable as e:
                self.error = e  # the next beat tries again; ``progress`` stops training after the outage limit
                continue
            except StoreError as e:
                self.error, self.permanent = e, True  # ``progress`` stops training at once
                return
            self.error = None
            self.link.ok()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join()
