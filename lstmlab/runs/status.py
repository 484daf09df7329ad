"""The life of a run in the store, declared once.

A job's run is queued, then running, then ends finished, diverged, stopped or failed. "lost" is never written: it is
a running run whose heartbeat is older than the store's ``LOST_AFTER_S`` (its worker died). ``train()`` itself ends a
run in one of ``TRAINED_STATUSES``; a job adds "failed" when its run raised or its store stayed unreachable.
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A run's status. Members are strings ("finished" == Status.FINISHED), as the store and the CSV write them."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    DIVERGED = "diverged"
    STOPPED = "stopped"
    FAILED = "failed"
    LOST = "lost"


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)  # every status, in the order of a run's life
ACTIVE_STATUSES = (Status.QUEUED.value, Status.RUNNING.value)  # the job may still change the run
TRAINED_STATUSES = (Status.FINISHED.value, Status.DIVERGED.value, Status.STOPPED.value)  # train() ended it
FINAL_STATUSES = (*TRAINED_STATUSES, Status.FAILED.value, Status.LOST.value)  # the run changes no more
RESUBMITTABLE_STATUSES = (Status.LOST.value, Status.STOPPED.value, Status.FAILED.value)  # may be trained again
ENDED_STATUSES = (*TRAINED_STATUSES, Status.FAILED.value)  # has an outcome to summarise (lost may have none)
# A new job of a config that has a run in one of these attaches to the newest such run and trains nothing.
ATTACHING_STATUSES = (*ACTIVE_STATUSES, Status.FINISHED.value, Status.DIVERGED.value)
