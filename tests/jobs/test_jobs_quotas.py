"""Quotas through the job layer (lstmlab.jobs.api) on real executors, on a SQLite file and a PostgreSQL database:
submissions of one user from several processes at one instant, queued on a real Dask scheduler without workers (so
no job starts and every admitted run stays queued), never pass the queued quota; a study's jobs are queued whole or
refused whole; the compute ledger is written by the jobs as they start, beat and end, a resubmission is charged as a
new attempt, and deleting the runs gives none of it back."""
from __future__ import annotations

import multiprocessing
import time

import pytest
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.jobs import executors, quotas
from lstmlab.jobs import limits as L
from lstmlab.store import Actor, RunStore, compute_table
from tests.support.jobs import TINY, wait_until

ALICE = Actor("alice@lab.example")
SUBMITTERS = 8


def _ledger(store: RunStore) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(compute_table)
                                              .order_by(compute_table.c.started_at)).mappings()]


def _submit(url: str, scheduler: str, configs: list[dict], start, results, i: int) -> None:
    """A process that submits ``configs`` as Alice (one ``submit``, or ``submit_many`` for several) once every
    submitter is connected; puts (i, run ids or the refusal) on ``results``."""
    try:
        executors.get_executor(scheduler)
        RunStore(url).close()
        start.wait(180)
        try:
            cfgs = [RunConfig(**c) for c in configs]
            if len(cfgs) == 1:
                out = [jobs.submit(cfgs[0], store_url=url, actor=ALICE, scheduler=scheduler)]
            else:
                out = jobs.submit_many(cfgs, store_url=url, actor=ALICE, scheduler=scheduler)
        except quotas.QuotaExceeded as e:
            out = f"refused: {e}"
        results.put((i, out))
    finally:
        executors.shutdown()


def _at_once(url: str, scheduler: str, batches: list[list[dict]]) -> list:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(len(batches)), ctx.Queue()
    procs = [ctx.Process(target=_submit, args=(url, scheduler, batch, start, results, i))
             for i, batch in enumerate(batches)]
    for p in procs:
        p.start()
    out: list = [None] * len(batches)
    for _ in batches:
        i, got = results.get(timeout=300)
        out[i] = got
    for p in procs:
        p.join(60)
    return out


def _stop_all(url: str) -> None:
    with RunStore(url) as store:
        for run_id in store.list(status="queued")["id"]:
            store.request_stop(run_id)


def test_jobs_submitted_at_once_from_several_processes_never_pass_the_queued_quota(store_url, idle_scheduler):
    RunStore(store_url).close()
    batches = [[dict(TINY, steps=5, seed=300 + i)] for i in range(SUBMITTERS)]
    try:
        outcomes = _at_once(store_url, idle_scheduler, batches)
        with RunStore(store_url) as store:
            listed = store.list(owner=ALICE.email)
        assert len(listed) == L.USER_MAX_QUEUED and set(listed["status"]) == {"queued"}
        admitted = [o for o in outcomes if isinstance(o, list)]
        assert len(admitted) == L.USER_MAX_QUEUED
        assert sorted(o[0] for o in admitted) == sorted(listed["id"])
        assert all(o.startswith(f"refused: alice@lab.example has {L.USER_MAX_QUEUED} jobs queued")
                   for o in outcomes if not isinstance(o, list))
    finally:
        _stop_all(store_url)


def test_studies_submitted_at_once_are_queued_whole_or_refused_whole(store_url, idle_scheduler):
    RunStore(store_url).close()
    batches = [[dict(TINY, cell=cell, steps=5, seed=400 + i) for cell in ("rnn", "lstm", "gru")]
               for i in range(4)]
    try:
        outcomes = _at_once(store_url, idle_scheduler, batches)
        with RunStore(store_url) as store:
            listed = store.list(owner=ALICE.email)
        assert len(listed) == L.USER_MAX_QUEUED
        assert set(listed.groupby("seed").size()) == {3}
        assert sum(isinstance(o, list) for o in outcomes) == 2
        assert all(o.startswith("refused: alice@lab.example has ") and "this would add 3" in o
                   for o in outcomes if not isinstance(o, list))
    finally:
        _stop_all(store_url)


def test_the_ledger_keeps_a_deleted_runs_compute(store_url, monkeypatch):
    """Alice trains a job, then deletes its run: the ledger keeps its time, which still counts against her."""
    config = RunConfig(**TINY, steps=40, seed=501)
    began = time.time()
    run_id = jobs.submit(config, store_url=store_url, actor=ALICE)
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
    ended = time.time()
    with RunStore(store_url) as store:
        wall = store.load(run_id).wall_time
        [row] = _ledger(store)
        assert (row["run_id"], row["attempt"], row["owner"]) == (run_id, 0, ALICE.email)
        assert began <= row["started_at"] <= row["ended_at"] <= ended
        used = quotas.usage(store, ALICE.email).compute_s
        assert wall <= used <= ended - began  # at least the training's own wall time, at most the job's life
        store.delete(run_id, actor=ALICE)
        assert store.list().empty
        assert quotas.usage(store, ALICE.email).compute_s == used
    # with a daily limit below what she used, her next job is refused although none of her runs is left
    monkeypatch.setattr(L, "USER_COMPUTE_S", used / 2)
    with pytest.raises(quotas.QuotaExceeded, match=r"alice@lab\.example trained"):
        jobs.submit(RunConfig(**TINY, steps=5, seed=502), store_url=store_url, actor=ALICE)
    with RunStore(store_url) as store:
        assert store.list().empty


def test_a_running_job_is_charged_as_it_runs_and_a_resubmission_as_a_new_attempt(store_url):
    run_id = jobs.submit(RunConfig(**TINY, steps=1_000_000, seed=503), store_url=store_url, actor=ALICE)
    store = RunStore(store_url)
    try:
        wait_until(lambda: store.progress(run_id)["step"] > 0, timeout=300, what="the job to start training")
        first = quotas.usage(store, ALICE.email).compute_s
        time.sleep(3.5)  # a few heartbeats
        second = quotas.usage(store, ALICE.email).compute_s
        assert second >= first + 2.0
        [row] = _ledger(store)
        assert row["ended_at"] is None
    finally:
        jobs.stop(run_id, store_url=store_url, actor=ALICE)
    assert jobs.wait(run_id, store_url=store_url, timeout=120) == "stopped"
    [row] = _ledger(store)
    assert row["ended_at"] is not None and row["seconds"] >= second
    jobs.resubmit(run_id, store_url=store_url, actor=ALICE)
    wait_until(lambda: store.progress(run_id)["status"] == "running", timeout=300, what="the resubmitted job")
    jobs.stop(run_id, store_url=store_url, actor=ALICE)
    assert jobs.wait(run_id, store_url=store_url, timeout=120) == "stopped"
    rows = _ledger(store)
    assert [(r["run_id"], r["attempt"]) for r in rows] == [(run_id, 0), (run_id, 1)]
    assert quotas.usage(store, ALICE.email).compute_s == pytest.approx(sum(r["seconds"] for r in rows))
    store.close()
