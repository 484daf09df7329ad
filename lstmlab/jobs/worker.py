"""The worker side of the jobs: what runs in a worker process (a local pool's or a Dask worker's).

    run_job(run_id, attempt, store_url) ── store.start ── train(config, on_record=...) ── store.finish
                                            │ each record: one transaction
                                            │ heartbeat every HEARTBEAT_S (reads stop requests)
                                            └ a failure: store.fail with the message

The store is the only channel between a job and its watchers: a run is "queued", then "running", then
"finished", "diverged", "stopped" or "failed" (with the message); a running run whose heartbeat is older than
``LOST_AFTER_S`` reads as "lost" and may be resubmitted, which resumes it after its last stored record. Each
resubmission is a new attempt; a write of an older attempt is refused (``store.StaleAttempt``), so a worker
thought dead cannot write into a resumed run. A job rides out a store that does not answer for up to ``OUTAGE_S``
(``_Link``: its writes retried, training waiting at its record), then ends "failed" with the store's error.

A local pool's worker process starts with ``pool_worker_start`` (Ctrl-C ignored, lower priority, set up for
training) and runs its jobs through ``run_pool_job``: it starts no job once the process owning its pool is gone,
and exits after the job it runs then. Worker processes call ``runtime.configure_worker()`` once (BLAS at one
thread, the heap kept); the submitting process never trains.
"""
from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from typing import Any, Callable

from lstmlab.core.config import seconds_from_environment
from lstmlab.jobs.limits import HEARTBEAT_S, OUTAGE_ENV, OUTAGE_S, POOL_WORKER_NICE
from lstmlab.runs.records import Record
from lstmlab.store import RunStore, StaleAttempt, StoreError, StoreUnavailable
from lstmlab.training.runtime import configure_worker
from lstmlab.training.train import train

__all__ = ["RETRY_FIRST_S", "RETRY_MAX_S", "StoreOutage", "open_store", "outage_limit", "pool_worker_start",
           "run_job", "run_pool_job"]

RETRY_FIRST_S, RETRY_MAX_S = 0.1, 2.0  # backoff of a job's store writes while the store does not answer


@functools.lru_cache(maxsize=16)
def open_store(store_url: str) -> RunStore:
    """One store per URL and process (its connection pool serves every thread): a worker's jobs share it, and so
    do the submissions and waits of a submitting process."""
    return RunStore(store_url)


# ---- a local pool's worker process -------------------------------------------------------------------------

def pool_worker_start(threads: int) -> None:
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


def run_pool_job(run_id: str, attempt: int, store_url: str) -> str:
    """``run_job`` in a pool worker, which starts no job once its pool's process is gone (the run stays queued
    and so reads as lost)."""
    with _job_lock:
        parent = multiprocessing.parent_process()
        if parent is not None and not parent.is_alive():
            return "orphaned"
        return run_job(run_id, attempt, store_url)


# ---- the job ----------------------------------------------------------------------------------------------

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


def run_job(run_id: str, attempt: int, store_url: str) -> str:
    """Train a queued run into the store; returns its final status ("superseded" if a newer attempt took it,
    "lost" if its failure could not be written).

    Every store call rides out an outage of up to ``outage_limit()`` seconds (``_Link``); training waits while
    a record is being written, so it never runs ahead of its store by more than a record. A job that gives up
    ends "failed" with the store's error, if the store takes that write before the run would read as lost."""
    configure_worker(warm="off")  # the job loads its own kernels at its first pass: not every kernel set
    link = _Link(outage_limit())
    store = link.call(lambda: open_store(store_url), "opening the run store")
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
