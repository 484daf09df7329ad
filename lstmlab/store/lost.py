"""When a run reads as "lost": derived from its heartbeat whenever it is read, never written.

A running run is lost once its heartbeat is older than ``lost_after``: its worker died, or lost the store for
longer than a job waits for it.

A queued run waits in the queue ``queued_on`` names, "KIND PLACE"; the kinds and places are the words of whoever
queues (the jobs layer), kept as given. A queue of a kind in ``PROCESS_QUEUES`` lives in the process that queued
on it, which keeps the heartbeat of the runs it holds fresh (``beat_queued``) as long as it lives: silent, such a
run is lost (the process went away). So is a run queued nowhere (""): a queue let it go (``release_queued``), or
it was queued before queues were recorded. A queue of any other kind holds its runs itself and outlives the
process that queued on it: its runs stay queued while their heartbeat ages, until it lets them go.
"""
from __future__ import annotations

import time
from typing import Any

from lstmlab.core.config import seconds_from_environment
from lstmlab.runs.status import Status

# A running run whose heartbeat is older than this reads as "lost" (its worker died): many of a job's beats, longer
# than any store stall a job rides out.
LOST_AFTER_S = 30.0
LOST_AFTER_ENV = "LSTMLAB_LOST_AFTER_S"  # overrides LOST_AFTER_S for every store this process opens
# Kinds of queue that live in the process that queued on them and beat their queued runs: the first word of
# ``queued_on`` the jobs layer writes for a process's own pool.
PROCESS_QUEUES = frozenset({"pool"})


def lost_after_from_environment() -> float:
    """``$LSTMLAB_LOST_AFTER_S`` (ValueError naming it when it is not a number of seconds > 0), else
    ``LOST_AFTER_S``."""
    return seconds_from_environment(LOST_AFTER_ENV, LOST_AFTER_S)


def waits_in_a_process(queued_on: str) -> bool:
    """Whether a run queued on ``queued_on`` needs the heartbeat of a process to count as queued: it waits in a
    process's own queue, or nowhere."""
    kind = queued_on.split(" ", 1)[0]
    return not kind or kind in PROCESS_QUEUES


def shown_status(row: Any, lost_after: float, now: float | None = None) -> str:
    """The status a reader sees of a run row (``status``, ``heartbeat``, ``queued_on``): "lost" for a running run
    silent for longer than ``lost_after`` seconds, and for a queued one so silent that waits in a process (see the
    module docstring); else the stored status."""
    status = row["status"]
    silent = row["heartbeat"] < (time.time() if now is None else now) - lost_after
    if silent and (status == Status.RUNNING or status == Status.QUEUED and waits_in_a_process(row["queued_on"])):
        return Status.LOST.value
    return status


def shown_message(row: Any, shown: str, lost_after: float) -> str:
    """The message a reader sees: the stored one, or for a run shown as "lost" why it may be."""
    if shown != Status.LOST or row["message"]:
        return row["message"]
    if row["status"] == Status.RUNNING:
        return (f"no heartbeat for over {lost_after:g} s: its worker died, or lost the run store for "
                "longer than a job waits for it; resubmit it to resume after its last record")
    return "its queue went away before a worker took it; resubmit it"
