"""Per-user quotas on training jobs: how many may be in flight and how much training time a user may start in a
day. The job layer calls :func:`check` when a job is submitted, before its run is queued.

Who has quotas: a signed-in user (``store.Actor``) who is not an admin. Admins are exempt: they host the lab, run
its sweeps and set these numbers. Without sign-in (``actor=None``: a lab on one's own machine) there is no quota:
the machine is its user's to fill.

The limits (``lstmlab.limits``, beside the dashboard's per-session and per-server limits):

- queued: at most ``USER_MAX_QUEUED`` of the user's runs may wait with status "queued";
- running: at most ``USER_MAX_RUNNING`` running, counted with the queue: a submission is refused once the user's
  running and queued jobs together reach ``USER_MAX_RUNNING + USER_MAX_QUEUED``;
- compute: the training time of the user's runs created in the last ``USER_WINDOW_S`` (a rolling day) stays under
  ``USER_COMPUTE_S``; an ended run counts its wall time, a running one the time since it was queued.

A submission of a config that already has a queued, running, finished or diverged run attaches to that run and
trains nothing, so it passes whatever the usage. A resubmission (of a lost, stopped or failed run) always trains:
it is checked like a new job.
"""

from __future__ import annotations

import dataclasses
import datetime
import time

from lstmlab import limits as L
from lstmlab.config import RunConfig
from lstmlab.store import Actor, RunStore

ATTACHING_STATUSES = ("queued", "running", "finished", "diverged")  # a new submission of such a config trains nothing


class QuotaExceeded(Exception):
    """A submission over one of the user's quotas; the message names the quota, the numbers and when it frees up."""


@dataclasses.dataclass(frozen=True)
class Usage:
    """A user's share of the lab at one moment.

    ``compute_s``: training seconds of their runs created in the window; ``compute_frees_at``: the epoch second at
    which that total falls under ``USER_COMPUTE_S`` as old runs leave the window (None while it is under).
    """

    running: int
    queued: int
    compute_s: float
    compute_frees_at: float | None


def usage(store: RunStore, email: str, now: float | None = None) -> Usage:
    """The quota usage of the user ``email`` in ``store`` at ``now`` (epoch seconds; default: the current time)."""
    now = time.time() if now is None else float(now)
    runs = store.list(owner=email)
    recent = runs[runs["created_at"] > now - L.USER_WINDOW_S]
    spent = sorted((r.created_at, _training_seconds(r.status, r.created_at, r.wall_time, now))
                   for r in recent.itertuples())
    total = sum(seconds for _, seconds in spent)
    frees_at, left = None, total
    for created_at, seconds in spent:  # the oldest run leaves the window first
        if left < L.USER_COMPUTE_S:
            break
        left -= seconds
        frees_at = created_at + L.USER_WINDOW_S
    return Usage(int((runs["status"] == "running").sum()), int((runs["status"] == "queued").sum()), float(total),
                 frees_at)


def _training_seconds(status: str, created_at: float, wall_time: float, now: float) -> float:
    return max(now - created_at, 0.0) if status == "running" else max(float(wall_time), 0.0)


def check(store: RunStore, actor: Actor | None, config: RunConfig, now: float | None = None,
          resubmission: bool = False) -> None:
    """``QuotaExceeded`` if ``actor`` may not submit ``config`` now, or resubmit a run of it (``resubmission``);
    the rules are in the module docstring."""
    if actor is None or actor.is_admin:
        return
    if not resubmission and len(store.list(config_key=config.key, status=list(ATTACHING_STATUSES))):
        return
    u = usage(store, actor.email, now)
    if u.queued >= L.USER_MAX_QUEUED:
        raise QuotaExceeded(f"{actor.email} has {u.queued} jobs queued, the most one user may have queued is "
                            f"{L.USER_MAX_QUEUED}: the quota frees up when one of them starts")
    if u.running + u.queued >= L.USER_MAX_RUNNING + L.USER_MAX_QUEUED:
        raise QuotaExceeded(f"{actor.email} has {u.running} jobs running and {u.queued} queued, the most one user "
                            f"may have running is {L.USER_MAX_RUNNING} (and {L.USER_MAX_QUEUED} queued): the quota "
                            "frees up when one of the running jobs finishes or is stopped")
    if u.compute_frees_at is not None:
        at = datetime.datetime.fromtimestamp(u.compute_frees_at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise QuotaExceeded(f"{actor.email} trained {u.compute_s / 3600:.2f} h in the last "
                            f"{L.USER_WINDOW_S / 3600:g} h, the most one user may is {L.USER_COMPUTE_S / 3600:g} h a "
                            f"day: the quota frees up at {at}, when the oldest of those runs leaves the window")
