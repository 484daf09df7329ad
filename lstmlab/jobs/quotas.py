"""Per-user quotas on training jobs: how many may be in flight and how much training time a user may start in a
day. The rules are here; the store applies them: :func:`admission` is the ``admit`` rule the job layer hands to
``RunStore.queue``, ``queue_many`` and ``requeue``, which call it in the transaction that writes the queued run,
under a lock on the user. The check and the write are one step, so simultaneous submissions of one user (threads,
processes, dashboard sessions) are checked one after the other and never pass a limit together.

Who has quotas: a signed-in user (``store.Actor``) who is not an admin. Admins are exempt: they host the lab, run
its sweeps and set these numbers. Without sign-in (``actor=None``: a lab on one's own machine) there is no quota:
the machine is its user's to fill.

The limits (``lstmlab.views.limits``, beside the dashboard's per-session and per-server limits), for a submission that
would add ``n`` runs (a study: one per cell, admitted or refused together):

- queued: at most ``USER_MAX_QUEUED`` of the user's runs may wait with status "queued";
- running: at most ``USER_MAX_RUNNING`` running, counted with the queue: a submission is refused once the user's
  running and queued jobs together would pass ``USER_MAX_RUNNING + USER_MAX_QUEUED``;
- compute: the training time of the user's jobs started in the last ``USER_WINDOW_S`` (a rolling day) stays under
  ``USER_COMPUTE_S``. It is read from the store's compute ledger (``lstmlab_compute``): each attempt of a job counts
  the time from its start to its end, a running one up to its last heartbeat. Deleting runs gives none of it back.

A submission of a config that already has a queued, running, finished or diverged run attaches to that run and
trains nothing, so it passes whatever the usage. A resubmission (of a lost, stopped or failed run) always trains:
it is checked like a new job.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

from lstmlab.core.config import RunConfig
from lstmlab.jobs import limits as L
from lstmlab.runs.status import ATTACHING_STATUSES
from lstmlab.store import Actor, Admit, Holdings, RunStore

__all__ = ["ATTACHING_STATUSES", "QuotaExceeded", "Usage", "usage", "refusal", "admission", "check"]


class QuotaExceeded(Exception):
    """A submission over one of the user's quotas; the message names the quota, the numbers and when it frees up."""


@dataclasses.dataclass(frozen=True)
class Usage:
    """A user's share of the lab at one moment.

    ``compute_s``: training seconds of their jobs started in the window; ``compute_frees_at``: the epoch second at
    which that total falls under ``USER_COMPUTE_S`` as old jobs leave the window (None while it is under).
    """

    running: int
    queued: int
    compute_s: float
    compute_frees_at: float | None


def usage(store: RunStore, email: str, now: float | None = None) -> Usage:
    """The quota usage of the user ``email`` in ``store`` at ``now`` (epoch seconds; default: the current time)."""
    now = time.time() if now is None else float(now)
    return _usage(store.holdings(email, now - L.USER_WINDOW_S), now)


def _usage(held: Holdings, now: float) -> Usage:
    total = sum(seconds for _, seconds in held.compute)
    frees_at, left = None, total
    for started_at, seconds in held.compute:  # oldest first: the oldest job leaves the window first
        if left < L.USER_COMPUTE_S:
            break
        left -= seconds
        frees_at = started_at + L.USER_WINDOW_S
    return Usage(held.running, held.queued, float(total), frees_at)


def refusal(email: str, u: Usage, new: int = 1) -> str:
    """Why ``new`` more runs would take the user ``email`` with usage ``u`` over a quota, or "" if they would not."""
    adding = f" and this would add {new}" if new != 1 else ""
    if u.queued + new > L.USER_MAX_QUEUED:
        return (f"{email} has {u.queued} jobs queued{adding}, the most one user may have queued is "
                f"{L.USER_MAX_QUEUED}: the quota frees up when one of them starts")
    if u.running + u.queued + new > L.USER_MAX_RUNNING + L.USER_MAX_QUEUED:
        return (f"{email} has {u.running} jobs running and {u.queued} queued{adding}, the most one user may have "
                f"running is {L.USER_MAX_RUNNING} (and {L.USER_MAX_QUEUED} queued): the quota frees up when one of "
                "the running jobs finishes or is stopped")
    if u.compute_frees_at is not None:
        at = datetime.datetime.fromtimestamp(u.compute_frees_at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"{email} trained {u.compute_s / 3600:.2f} h in the last {L.USER_WINDOW_S / 3600:g} h, the most "
                f"one user may is {L.USER_COMPUTE_S / 3600:g} h a day: the quota frees up at {at}, when the oldest "
                "of those jobs leaves the window")
    return ""


def admission(store: RunStore, actor: Actor | None, now: float | None = None) -> Admit | None:
    """The ``admit`` rule that holds ``actor`` to their quotas in ``store``'s write transaction: ``admit(conn, n)``
    raises ``QuotaExceeded`` if ``n`` more runs would take them over one. None for an admin or anonymous use (no
    quota, and so no lock either). ``now``: the time the window ends (default: when the rule runs)."""
    if actor is None or actor.is_admin:
        return None

    def admit(conn: Any, new: int) -> None:
        at = time.time() if now is None else float(now)
        why = refusal(actor.email, _usage(store.holdings(actor.email, at - L.USER_WINDOW_S, conn), at), new)
        if why:
            raise QuotaExceeded(why)

    return admit


def check(store: RunStore, actor: Actor | None, config: RunConfig, now: float | None = None,
          resubmission: bool = False) -> None:
    """``QuotaExceeded`` if ``actor`` may not submit ``config`` now, or resubmit a run of it (``resubmission``);
    the rules are in the module docstring. A reading in a transaction of its own, to warn early: a submission is
    bound by :func:`admission`, which the store applies in the transaction that queues."""
    if actor is None or actor.is_admin:
        return
    if not resubmission and len(store.list(config_key=config.key, status=list(ATTACHING_STATUSES))):
        return
    why = refusal(actor.email, usage(store, actor.email, now))
    if why:
        raise QuotaExceeded(why)
