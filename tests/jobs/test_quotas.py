"""Per-user job quotas (lstmlab.jobs.quotas) on a SQLite file and a PostgreSQL database: jobs running and queued, training
time in the last 24 hours (from the compute ledger), the message of each refusal (which quota, the numbers, when it
frees up), who is exempt, a submission that attaches to a stored run, a study admitted whole or refused whole, and
simultaneous submissions of one user from threads and processes, which never pass a limit together."""
from __future__ import annotations

import datetime
import multiprocessing
import threading

import pytest

from lstmlab.core.config import RunConfig
from lstmlab.jobs import limits as L
from lstmlab.jobs import quotas
from lstmlab.store import Actor, RunStore, compute_table
from tests.support.runs import make_run

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


def spend(store: RunStore, actor: Actor, started_at: float, seconds: float, run_id: str = "",
          attempt: int = 0) -> None:
    """A compute ledger row of ``actor``'s: a job attempt started at ``started_at`` that used ``seconds``."""
    with store.engine.begin() as conn:
        conn.execute(compute_table.insert().values(
            run_id=run_id or f"spent-{started_at}-{seconds}", attempt=attempt, owner=actor.email,
            started_at=started_at, seconds=seconds, ended_at=started_at + seconds))


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
    # In the window: jobs of 0.4, 0.35 and 0.3 of the daily limit started 20, 10 and 2 hours ago; older: outside;
    # another user's: not counted.
    spend(store, ALICE, NOW - 20 * hour, 0.4 * L.USER_COMPUTE_S)
    spend(store, ALICE, NOW - 10 * hour, 0.35 * L.USER_COMPUTE_S)
    spend(store, ALICE, NOW - 2 * hour, 0.3 * L.USER_COMPUTE_S)
    spend(store, ALICE, NOW - 30 * hour, 5 * L.USER_COMPUTE_S)
    spend(store, BOB, NOW - 1 * hour, 5 * L.USER_COMPUTE_S)
    with pytest.raises(quotas.QuotaExceeded) as refused:
        quotas.check(store, ALICE, NEW, now=NOW)
    # 1.05 x the limit; it falls under the limit when the job of 20 hours ago leaves the window, 4 hours from now
    frees = datetime.datetime.fromtimestamp(NOW + 4 * hour, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert str(refused.value) == (
        f"alice@lab.example trained {1.05 * limit_h:.2f} h in the last 24 h, the most one user may is "
        f"{limit_h:g} h a day: the quota frees up at {frees}, when the oldest of those jobs leaves the window")
    assert quotas.usage(store, ALICE.email, now=NOW).compute_s == pytest.approx(1.05 * L.USER_COMPUTE_S)
    quotas.check(store, ALICE, NEW, now=NOW + 4 * hour + 1)
    # the same rule, applied by the store in the transaction that queues: refused, nothing written
    with pytest.raises(quotas.QuotaExceeded, match="trained 2.10 h"):
        store.queue(NEW, actor=ALICE, admit=quotas.admission(store, ALICE, now=NOW))
    assert store.list().empty
    store.queue(NEW, actor=ALICE, admit=quotas.admission(store, ALICE, now=NOW + 4 * hour + 1))
    assert list(store.list()["owner"]) == [ALICE.email]


def test_deleting_runs_gives_no_compute_back(store):
    """The runs a user trained are deleted; their ledger rows stay and keep counting."""
    for i in range(3):
        run_id = put(store, 900 + i, "finished", ALICE)
        spend(store, ALICE, NOW - 3600.0, 0.4 * L.USER_COMPUTE_S, run_id=run_id)
    for run_id in store.list(owner=ALICE.email)["id"]:
        store.delete(run_id, actor=ALICE)
    assert store.list().empty
    assert quotas.usage(store, ALICE.email, now=NOW).compute_s == pytest.approx(1.2 * L.USER_COMPUTE_S)
    with pytest.raises(quotas.QuotaExceeded, match="trained 2.40 h"):
        quotas.check(store, ALICE, NEW, now=NOW)


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


def study(seed: int, cells=("rnn", "lstm", "gru")) -> list[RunConfig]:
    """A study's configs: one per cell, as the dashboard submits them."""
    return [RunConfig(cell=c, seq_len=6, hidden_size=3, steps=2, batch_size=2, seed=seed) for c in cells]


def test_a_study_is_admitted_whole_or_refused_whole(store):
    for i in range(L.USER_MAX_QUEUED - 2):
        put(store, 900 + i, "queued", ALICE)
    before = sorted(store.list()["id"])
    with pytest.raises(quotas.QuotaExceeded) as refused:
        store.queue_many(study(1), actor=ALICE, admit=quotas.admission(store, ALICE))
    assert str(refused.value) == (
        f"alice@lab.example has {L.USER_MAX_QUEUED - 2} jobs queued and this would add 3, the most one user may "
        f"have queued is {L.USER_MAX_QUEUED}: the quota frees up when one of them starts")
    assert sorted(store.list()["id"]) == before  # none of the three was queued
    # two new cells and one that attaches to a finished run of Bob's: two new runs fit
    finished = make_run(970, steps=3)
    store.save(finished, actor=BOB)
    configs = [*study(2, cells=("rnn", "gru")), finished.config]
    queued = store.queue_many(configs, actor=ALICE, admit=quotas.admission(store, ALICE))
    assert [created for _, _, created in queued] == [True, True, False]
    assert queued[2][0] == finished.run_id
    listed = store.list(owner=ALICE.email, status="queued")
    assert len(listed) == L.USER_MAX_QUEUED
    assert sorted(listed["config_key"]) == sorted([*(r.config_key for r in store.list(owner=ALICE.email)
                                                     .itertuples() if r.id in before),
                                                   *(c.key for c in configs[:2])])


def test_a_config_twice_in_one_study_is_queued_once(store):
    twice = study(3, cells=("lstm", "lstm", "rnn"))
    queued = store.queue_many(twice, actor=ALICE, admit=quotas.admission(store, ALICE))
    assert [c for _, _, c in queued] == [True, False, True] and queued[0][0] == queued[1][0]
    assert len(store.list()) == 2


# ---- simultaneous submissions: the check and the write are one step ----------------------------------------------

WORKERS = 12


def _submit_at_once(url: str, configs: list[RunConfig], start, many: bool) -> str:
    """Queue ``configs`` (one queue call each, or one queue_many) as Alice once every submitter is ready
    (``start``: a barrier); "queued" or the start of the refusal."""
    with RunStore(url) as store:
        store.list()  # connected before the start
        start.wait(120)
        try:
            if many:
                store.queue_many(configs, actor=ALICE, admit=quotas.admission(store, ALICE))
            else:
                for config in configs:
                    store.queue(config, actor=ALICE, admit=quotas.admission(store, ALICE))
        except quotas.QuotaExceeded as e:
            return str(e)[:40]
    return "queued"


def _submitter(url: str, configs: list[RunConfig], start, many: bool, results, i: int) -> None:
    results.put((i, _submit_at_once(url, configs, start, many)))


def _run_at_once(kind: str, url: str, batches: list[list[RunConfig]], many: bool) -> list[str]:
    """``_submit_at_once`` for each batch in its own thread or process, all let go at one instant."""
    out: list = [None] * len(batches)
    if kind == "threads":
        start = threading.Barrier(len(batches))

        def one(i: int) -> None:
            out[i] = _submit_at_once(url, batches[i], start, many)

        workers = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(batches))]
    else:
        ctx = multiprocessing.get_context("spawn")
        start, results = ctx.Barrier(len(batches)), ctx.Queue()
        workers = [ctx.Process(target=_submitter, args=(url, batch, start, many, results, i))
                   for i, batch in enumerate(batches)]
    for w in workers:
        w.start()
    if kind != "threads":
        for _ in batches:
            i, outcome = results.get(timeout=180)
            out[i] = outcome
    for w in workers:
        w.join(180)
    return out


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_simultaneous_submissions_never_pass_the_queued_quota(store_url, kind):
    RunStore(store_url).close()  # the schema exists before anyone starts
    batches = [[RunConfig(cell="rnn", seq_len=6, hidden_size=3, steps=2, batch_size=2, seed=100 + i)]
               for i in range(WORKERS)]
    outcomes = _run_at_once(kind, store_url, batches, many=False)
    with RunStore(store_url) as store:
        listed = store.list(owner=ALICE.email)
    assert len(listed) == L.USER_MAX_QUEUED and set(listed["status"]) == {"queued"}
    assert outcomes.count("queued") == L.USER_MAX_QUEUED
    assert all(o.startswith("alice@lab.example has ") for o in outcomes if o != "queued")


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_simultaneous_studies_are_each_queued_whole_or_refused_whole(store_url, kind):
    RunStore(store_url).close()
    batches = [study(200 + i) for i in range(WORKERS // 2)]
    outcomes = _run_at_once(kind, store_url, batches, many=True)
    with RunStore(store_url) as store:
        listed = store.list(owner=ALICE.email)
    assert len(listed) == L.USER_MAX_QUEUED
    assert outcomes.count("queued") == L.USER_MAX_QUEUED // 3
    by_seed = listed.groupby("seed").size()
    assert set(by_seed) == {3}  # every study that got in got in whole


def test_simultaneous_resubmissions_never_pass_the_quota(store_url):
    """Alice has 4 jobs queued and 5 stopped runs; resubmitting the 5 at once lets exactly 2 in."""
    with RunStore(store_url) as store:
        for i in range(L.USER_MAX_QUEUED - 2):
            put(store, 900 + i, "queued", ALICE)
        stopped = [put(store, 950 + i, "stopped", ALICE) for i in range(5)]
    start, out = threading.Event(), []

    def one(run_id: str) -> None:
        with RunStore(store_url) as store:
            store.list()
            start.wait(60)
            try:
                store.requeue(run_id, actor=ALICE, admit=quotas.admission(store, ALICE))
                out.append("queued")
            except quotas.QuotaExceeded:
                out.append("refused")

    threads = [threading.Thread(target=one, args=(r,), daemon=True) for r in stopped]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(120)
    assert sorted(out) == ["queued"] * 2 + ["refused"] * 3
    with RunStore(store_url) as store:
        assert (store.list(owner=ALICE.email)["status"] == "queued").sum() == L.USER_MAX_QUEUED
