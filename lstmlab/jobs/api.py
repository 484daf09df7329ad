"""Runs as jobs: submitted, trained by a worker process, streamed into the run store, watched by anyone.

    submit(config) ── queued run row ──> executor ──> worker: run_job ── train(config, on_record=...)
                                                                │ each record: one transaction
                                                                │ heartbeat every HEARTBEAT_S (reads stop requests)
                                                                └ final status + parameters

This module is the API callers use: ``submit``, ``submit_many``, ``resubmit``, ``stop``, ``wait``. Where a job
waits and runs is ``lstmlab.jobs.executors`` (a local process pool, a Dask cluster); what a job does in its worker,
its heartbeat and how it rides out a store that does not answer, ``lstmlab.jobs.worker``. The store is the only
channel between a job and its watchers; the submitting process never trains.

No run waits for ever. A run queued in a local pool reads as "lost" once the process holding the pool is gone
(``executors.queue_keeper``). A run queued on a Dask scheduler waits in the scheduler; if the scheduler goes away,
its queue goes with it: ``release_forgotten`` (called by a process's first submission to a scheduler and by a
sweep) asks the scheduler which of the runs queued on it it still holds and lets the others go, so they read as
lost.
"""
from __future__ import annotations

import concurrent.futures
import functools
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable

from lstmlab.core.config import RunConfig
from lstmlab.jobs import quotas
from lstmlab.jobs.errors import JobError
from lstmlab.jobs.executors import DaskExecutor, get_executor, local_pool, queue_keeper, queued_on, task_key
from lstmlab.jobs.worker import RETRY_MAX_S, open_store, outage_limit, run_job, run_pool_job
from lstmlab.runs.status import FINAL_STATUSES
from lstmlab.store import Actor, RunStore, StoreError, StoreUnavailable, check_labels

__all__ = ["POLL_S", "release_forgotten", "submit", "submit_many", "resubmit", "stop", "wait"]

POLL_S = 0.2  # how often wait() reads a run's progress


# ---- submitting ---------------------------------------------------------------------------------------

_released: set[tuple[str, int]] = set()  # (store URL, id of the Dask client) already checked by this process


def release_forgotten(store_url: str, scheduler: str | None = None) -> list[str]:
    """Let go of the runs queued on the Dask scheduler at ``scheduler`` (or ``$LSTMLAB_SCHEDULER``) that it no
    longer holds (it was restarted, say): they read as lost then, and can be resubmitted. Only runs queued longer
    than ``LOST_AFTER_S`` ago are asked about (a fresh submission may not have reached the scheduler yet).
    Returns their ids; [] without a scheduler."""
    executor = get_executor(scheduler)
    if not isinstance(executor, DaskExecutor):
        return []
    store = open_store(str(store_url))
    waiting = {task_key(run_id, attempt): (run_id, attempt)
               for run_id, attempt in store.waiting(queued_on(executor), older_than=store.lost_after)}
    if not waiting:
        return []
    client = executor.client
    states = client.sync(client.scheduler.get_task_status, keys=list(waiting))
    gone = [waiting[key] for key, state in states.items() if state is None]
    for run_id, attempt in gone:
        store.release_queued(run_id, attempt)
    return [run_id for run_id, _ in gone]


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
    store = open_store(str(store_url))
    if isinstance(executor, DaskExecutor) and (str(store_url), id(executor.client)) not in _released:
        release_forgotten(store_url, scheduler)  # once per store and connection: a queued run may be attached to
        _released.add((str(store_url), id(executor.client)))
    run_id, attempt, created = store.queue(config, actor=actor, name=name, tags=tags, sweep=sweep,
                                           queued_on=queued_on(executor), admit=quotas.admission(store, actor))
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
    store = open_store(str(store_url))
    if isinstance(executor, DaskExecutor) and (str(store_url), id(executor.client)) not in _released:
        release_forgotten(store_url, scheduler)
        _released.add((str(store_url), id(executor.client)))
    queued = store.queue_many(configs, actor=actor, name=name, tags=tags, sweep=sweep,
                              queued_on=queued_on(executor), admit=quotas.admission(store, actor))
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
    store = open_store(str(store_url))
    full, attempt = store.requeue(run_id, actor=actor, queued_on=queued_on(executor),
                                  admit=quotas.admission(store, actor))
    _hand_over(executor, store, full, attempt)
    return full


def _hand_over(executor: concurrent.futures.Executor, store: RunStore, run_id: str, attempt: int) -> None:
    pool = not isinstance(executor, DaskExecutor)
    if pool:
        queue_keeper.add(store)  # before the job can end, which calls done
    try:
        future = _submit(executor, pool, store, run_id, attempt)
    except JobError:
        if pool:
            queue_keeper.done(store)
        raise
    if pool:
        future.add_done_callback(functools.partial(queue_keeper.done, store))
    future.add_done_callback(functools.partial(_after_job, store, run_id, attempt))


def _submit(executor: concurrent.futures.Executor, pool: bool, store: RunStore, run_id: str,
            attempt: int) -> concurrent.futures.Future:
    url = store.url.render_as_string(hide_password=False)
    try:
        if not pool:
            return executor.submit_as(task_key(run_id, attempt), run_job, run_id, attempt, url)
        return executor.submit(run_pool_job, run_id, attempt, url)
    except BrokenProcessPool:  # a worker of the local pool died earlier: start a fresh pool, once
        try:
            return local_pool(renew=True).submit(run_pool_job, run_id, attempt, url)
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
    return open_store(str(store_url)).request_stop(run_id, actor=actor)[1]


def wait(run_id: str, *, store_url: str, timeout: float | None = None,
         on_progress: Callable[[dict], None] | None = None) -> str:
    """Follow a run until it is finished, diverged, stopped, failed or lost; returns that status.

    on_progress(progress) gets ``RunStore.progress`` at every poll (every ``POLL_S``). ``TimeoutError``
    after ``timeout`` seconds. While the store does not answer, polling goes on until the job has certainly
    given up on it too (its outage limit, and the time after which the run reads as lost); then
    ``StoreUnavailable`` says so."""
    store = open_store(str(store_url))
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
