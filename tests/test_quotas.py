"""Per-user job quotas (lstmlab.quotas) on a SQLite file and a PostgreSQL database: jobs running and queued, training
time in the last 24 hours, the message of each refusal (which quota, the numbers, when it frees up), who is exempt,
and a submission that attaches to a stored run."""
from __future__ import annotations

import datetime

import pytest

from lstmlab import quotas
from lstmlab import limits as L
from lstmlab.config import RunConfig
from lstmlab.store import Actor, RunStore
from test_store import make_run

ALICE, BOB = Actor("alice@lab.example"), Actor("bob@lab.example")
ADMIN = Actor("root@lab.example", is_admin=True)
NOW = 1_800_000_000.0
NEW = RunConfig(cell="rnn", seq_len=6, hidden_size=3, steps=2, batch_size=2, seed=4242)  # in no store below


@pytest.fixture
def store(store_url):
    with RunStore(store_url) as s:
        yield s


def put(store: RunStore, seed: int, status: str, actor: Actor, created_at: float = NOW - 60,
        wall_time: float = 1.0) -> str:
    """A stored run of ``actor``'s with this status, creation time and wall time."""
    run = make_run(seed, steps=3)
    run.status, run.created_at, run.wall_time = status, created_at, wall_time
    return store.save(run, actor=actor)


def test_queued_quota(store):
    for i in range(L.USER_MAX_QUEUED):
        put(store, 900 + i, "queued", ALICE)
    put(store, 950, "queued", BOB)  # another user's job does not count
    with pytest.raises(quotas.QuotaExceeded) as refused:
        quotas.check(store, ALICE, NEW, now=NOW)
    assert str(refused.value) == (
        f"alice@lab.example has {L.USER_MAX_QUEUED} jobs queued, the most one user may have queued is "
        f"{L.USER_MAX_QUEUED}: the quota frees up when one of them starts")
    quotas.check(store, BOB, NEW, now=NOW)


def test_running_quota_counts_jobs_in_flight(store):
    running = L.USER_MAX_RUNNING + 2
    for i in range(running):
        put(store, 900 + i, "running", ALICE)
    for i in range(L.USER_MAX_QUEUED - 2):
        put(store, 920 + i, "queued", ALICE)
    with pytest.raises(quotas.QuotaExceeded) as refused:
        quotas.check(store, ALICE, NEW, now=NOW)
    assert str(refused.value) == (
        f"alice@lab.example has {running} jobs running and {L.USER_MAX_QUEUED - 2} queued, the most one user may "
        f"have running is {L.USER_MAX_RUNNING} (and {L.USER_MAX_QUEUED} queued): the quota frees up when one of the "
        "running jobs finishes or is stopped")


def test_ended_runs_are_not_in_flight(store):
    for i, status in enumerate(("finished", "diverged", "stopped", "failed") * 4):
        put(store, 900 + i, status, ALICE)
    quotas.check(store, ALICE, NEW, now=NOW)


def test_compute_quota_and_when_it_frees(store):
    hour = 3600.0
    limit_h = L.USER_COMPUTE_S / hour
    # In the window: runs of 0.4, 0.35 and 0.3 of the daily limit created 20, 10 and 2 hours ago; older: outside.
    put(store, 900, "finished", ALICE, created_at=NOW - 20 * hour, wall_time=0.4 * L.USER_COMPUTE_S)
    put(store, 901, "diverged", ALICE, created_at=NOW - 10 * hour, wall_time=0.35 * L.USER_COMPUTE_S)
    put(store, 902, "stopped", ALICE, created_at=NOW - 2 * hour, wall_time=0.3 * L.USER_COMPUTE_S)
    put(store, 903, "finished", ALICE, created_at=NOW - 30 * hour, wall_time=5 * L.USER_COMPUTE_S)
    with pytest.raises(quotas.QuotaExceeded) as refused:
        quotas.check(store, ALICE, NEW, now=NOW)
    # 1.05 x the limit; it falls under the limit when the run of 20 hours ago leaves the window, 4 hours from now
    frees = datetime.datetime.fromtimestamp(NOW + 4 * hour, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert str(refused.value) == (
        f"alice@lab.example trained {1.05 * limit_h:.2f} h in the last 24 h, the most one user may is "
        f"{limit_h:g} h a day: the quota frees up at {frees}, when the oldest of those runs leaves the window")
    quotas.check(store, ALICE, NEW, now=NOW + 4 * hour + 1)


def test_admins_and_anonymous_use_have_no_quota(store):
    for i in range(L.USER_MAX_QUEUED + L.USER_MAX_RUNNING):
        put(store, 900 + i, "queued", ADMIN, wall_time=L.USER_COMPUTE_S)
        put(store, 930 + i, "queued", None, wall_time=L.USER_COMPUTE_S)
    quotas.check(store, ADMIN, NEW, now=NOW)
    quotas.check(store, None, NEW, now=NOW)
    with pytest.raises(quotas.QuotaExceeded, match="jobs queued"):  # the same usage, were they not an admin
        quotas.check(store, Actor(ADMIN.email), NEW, now=NOW)


def test_a_config_already_stored_attaches_without_a_quota(store):
    for i in range(L.USER_MAX_QUEUED):
        put(store, 900 + i, "queued", ALICE)
    put(store, 960, "finished", BOB)
    quotas.check(store, ALICE, make_run(960, steps=3).config, now=NOW)
    with pytest.raises(quotas.QuotaExceeded):
        quotas.check(store, ALICE, NEW, now=NOW)
