"""Runs as jobs on the local process pool and on a Dask cluster: lifecycle, streaming, stop, de-duplication,
divergence, a worker killed mid-run, resubmission. Each on a SQLite file and a PostgreSQL database.

The expected tables are those of ``train(config)`` in this process: a job must store exactly them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.jobs import executors, quotas
from lstmlab.jobs import limits as L
from lstmlab.jobs.errors import JobError
from lstmlab.runs.status import FINAL_STATUSES
from lstmlab.store import LOST_AFTER_ENV, Actor, RunStore
from lstmlab.training.runtime import configure_worker
from lstmlab.training.train import train
from tests.support.jobs import TINY, assert_same_tables, wait_until
from tests.support.runs import make_run

DIVERGES = RunConfig(cell="rnn", task="adding", seq_len=10, hidden_size=8, weight_scale=3.0, clip=0.0,
                     optimizer="sgd", lr=10.0, steps=200, batch_size=8, record_every=5, eval_size=8)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["pool", "dask"])
def scheduler(request):
    """None (the local process pool) or the address of a Dask scheduler."""
    return None if request.param == "pool" else request.getfixturevalue("dask_scheduler")


def test_records_concatenate_to_the_run_tables():
    """train(on_record=) hands over every row exactly once, in order; a diverged run's rows after its last
    snapshot come only with the run."""
    for config, stop_at in ((RunConfig(**TINY, steps=25), None), (RunConfig(**TINY, steps=40), 17), (DIVERGES, None)):
        records = []
        run = train(config, on_record=records.append,
                    should_stop=None if stop_at is None else lambda: len(records) and records[-1].step >= stop_at)
        steps = pd.concat([r.steps for r in records], ignore_index=True)
        assert [r.step for r in records] == run.eval["step"].tolist()
        pd.testing.assert_frame_equal(pd.concat([r.eval for r in records], ignore_index=True), run.eval)
        pd.testing.assert_frame_equal(pd.concat([r.flow for r in records], ignore_index=True), run.flow)
        pd.testing.assert_frame_equal(steps, run.steps.iloc[: len(steps)])
        if run.status == "diverged":
            assert len(steps) < len(run.steps)
        else:
            assert len(steps) == len(run.steps)


def test_lifecycle_finished_run_equals_training_in_process(store_url, scheduler):
    config = RunConfig(**TINY, steps=30, seed=1)
    run_id = jobs.submit(config, store_url=store_url, name="first", tags=("a",), scheduler=scheduler)
    store = RunStore(store_url)
    assert store.progress(run_id)["status"] in ("queued", "running", "finished")
    seen = []
    assert jobs.wait(run_id, store_url=store_url, timeout=300, on_progress=seen.append) == "finished"
    assert seen[-1]["step"] == 30 and seen[-1]["steps"] == 30
    run, want = store.load(run_id), train(config)
    assert (run.status, run.name, run.tags, run.message) == ("finished", "first", ("a",), "finished 30 steps")
    assert_same_tables(run, want)
    assert all(np.array_equal(run.params[k], want.params[k]) for k in want.params)
    assert store.progress(run_id)["worker"].split(":")[-1] != str(os.getpid())  # trained elsewhere
    # the same config again attaches to the finished run, whatever the executor
    assert jobs.submit(config, store_url=store_url, scheduler=scheduler) == run_id
    assert len(store.list()) == 1


def test_stop_keeps_what_was_recorded(store_url, scheduler):
    config = RunConfig(**TINY, steps=100_000, seed=2)
    run_id = jobs.submit(config, store_url=store_url, scheduler=scheduler)
    store = RunStore(store_url)
    wait_until(lambda: store.progress(run_id)["step"] >= 20, what="20 steps")
    assert jobs.stop(run_id, store_url=store_url) == "running"
    assert jobs.wait(run_id, store_url=store_url, timeout=60) == "stopped"
    run = store.load(run_id)
    n = len(run.steps)
    assert run.message == f"stopped after {n} of 100000 steps" and run.eval["step"].iloc[-1] == n
    want = train(config.replace(steps=n))
    # the same rows as a run of exactly n steps; its snapshot at n is the stopped run's last
    assert_same_tables(run, want)


def test_stop_of_a_queued_run_and_permissions(store_url):
    store = RunStore(store_url)
    alice, bob = Actor("alice@example.org"), Actor("bob@example.org")
    run_id, _, created = store.queue(RunConfig(**TINY, steps=10), actor=alice)  # queued, never handed over
    assert created
    with pytest.raises(PermissionError, match="bob@example.org may not stop"):
        jobs.stop(run_id, store_url=store_url, actor=bob)
    assert store.progress(run_id)["status"] == "queued"
    assert jobs.stop(run_id, store_url=store_url, actor=alice) == "stopped"
    with pytest.raises(PermissionError, match="bob@example.org may not resubmit"):
        jobs.resubmit(run_id, store_url=store_url, actor=bob)
    assert jobs.resubmit(run_id, store_url=store_url, actor=alice) == run_id
    assert jobs.wait(run_id, store_url=store_url, timeout=60) == "finished"
    with pytest.raises(ValueError, match="is finished: only lost, stopped, failed runs can be resubmitted"):
        jobs.resubmit(run_id, store_url=store_url, actor=alice)


def test_diverging_run(store_url, scheduler):
    run_id = jobs.submit(DIVERGES, store_url=store_url, scheduler=scheduler)
    assert jobs.wait(run_id, store_url=store_url, timeout=60) == "diverged"
    run, want = RunStore(store_url).load(run_id), train(DIVERGES)
    assert run.message == want.message and "diverged at step" in run.message
    assert_same_tables(run, want)
    assert all(np.array_equal(run.params[k], want.params[k]) for k in want.params)


def test_concurrent_submissions_train_once(store_url):
    """Eight threads, each with its own store connection, submit one config at once: one run, one id."""
    config = RunConfig(**TINY, steps=10, seed=3)
    barrier = threading.Barrier(8)
    ids, errors = [], []

    def submit():
        try:
            with RunStore(store_url) as store:
                barrier.wait(60)
                ids.append(store.queue(config))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=submit, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(ids) == 8
    assert len({i for i, _, _ in ids}) == 1 and sum(created for _, _, created in ids) == 1
    assert len(RunStore(store_url).list(config_key=config.key)) == 1


def test_a_polling_reader_sees_whole_records_growing(store_url):
    config = RunConfig(**{**TINY, "record_every": 4}, steps=120, seed=4)
    run_id = jobs.submit(config, store_url=store_url)
    store = RunStore(store_url)
    looks = []
    while True:
        status = store.progress(run_id)["status"]
        run = store.load(run_id)
        looks.append((len(run.steps), len(run.flow), len(run.eval), run))
        if status in FINAL_STATUSES:
            break
        time.sleep(0.02)
    want = train(config)
    assert looks[-1][3].status == "finished"
    growing = [n for _, _, n, _ in looks]
    assert growing == sorted(growing) and len(set(growing)) > 3  # it was watched while it grew
    for n_steps, n_flow, n_eval, run in looks:
        if n_eval:  # whole records: the steps up to the last snapshot, a flow block per snapshot
            assert n_steps == run.eval["step"].iloc[-1] and n_flow == n_eval * config.seq_len
        assert_same_tables(run, want, rows={"steps": n_steps, "flow": n_flow, "eval": n_eval})


def test_killed_worker_is_lost_then_resubmission_finishes_it(store_url, monkeypatch):
    monkeypatch.setenv(LOST_AFTER_ENV, "2")
    config = RunConfig(**{**TINY, "record_every": 30}, steps=600, seed=5)
    run_id = jobs.submit(config, store_url=store_url)
    store = RunStore(store_url)
    wait_until(lambda: store.progress(run_id)["step"] > 30, what="the record at step 30")
    pid = int(store.progress(run_id)["worker"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    assert jobs.wait(run_id, store_url=store_url, timeout=30) == "lost"
    lost = store.load(run_id)
    want = train(config)
    rows = {"steps": len(lost.steps), "flow": len(lost.flow), "eval": len(lost.eval)}
    assert lost.status == "lost" and rows["eval"] >= 2 and rows["steps"] == lost.eval["step"].iloc[-1]
    assert_same_tables(lost, want, rows=rows)  # every record written before the kill is intact
    other, _, created = store.queue(config)  # a lost run is not attached to
    assert created and other != run_id
    store.delete(other)
    assert jobs.resubmit(run_id, store_url=store_url) == run_id  # the broken pool is replaced
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
    assert_same_tables(store.load(run_id), want)


def test_dask_reruns_a_killed_workers_job_which_resumes(store_url, dask_scheduler):
    config = RunConfig(**{**TINY, "record_every": 30}, steps=600, seed=6)
    run_id = jobs.submit(config, store_url=store_url, scheduler=dask_scheduler)
    store = RunStore(store_url)
    wait_until(lambda: store.progress(run_id)["step"] > 30, what="the record at step 30")
    os.kill(int(store.progress(run_id)["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
    assert_same_tables(store.load(run_id), train(config))


def test_unreachable_scheduler_names_the_address_and_submits_nothing(tmp_path):
    db = str(tmp_path / "runs.db")
    with pytest.raises(JobError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        jobs.submit(RunConfig(**TINY, steps=5), store_url=db, scheduler="tcp://127.0.0.1:9")
    assert RunStore(db).list().empty


def test_submit_over_a_quota_is_refused_and_writes_nothing(store_url):
    alice = Actor("alice@lab.example")
    with RunStore(store_url) as store:
        for i in range(L.USER_MAX_QUEUED):
            run = make_run(700 + i, steps=3)
            run.status = "queued"
            store.save(run, actor=alice)
        before = len(store.list())
    with pytest.raises(quotas.QuotaExceeded, match="queued"):
        jobs.submit(RunConfig(seed=77, steps=5, **TINY), store_url=store_url, actor=alice)
    with RunStore(store_url) as store:
        assert len(store.list()) == before
    # an admin is not held by the quota: the same submission is queued and trains
    run_id = jobs.submit(RunConfig(seed=77, steps=5, **TINY), store_url=store_url,
                         actor=Actor("root@lab.example", is_admin=True))
    assert jobs.wait(run_id, store_url=store_url, timeout=120) == "finished"


def test_local_pool_workers_give_way_to_the_process_that_owns_them():
    """A pool worker runs POOL_WORKER_NICE below its parent (the dashboard server), capped at the lowest priority."""
    from lstmlab.jobs.limits import POOL_WORKER_NICE

    assert POOL_WORKER_NICE > 0
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    workers = {executors.get_executor().submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=600) for _ in range(4)}
    assert workers == {min(mine + POOL_WORKER_NICE, 19)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # the caller's own priority is untouched


def test_local_pool_workers_run_their_passes_in_pool_threads_with_the_results_of_one_thread(store_url):
    """A pool worker's passes may use POOL_THREADS threads (the cores allowing); a job whose batch has two shards
    stores exactly what one thread trains in this process."""
    from lstmlab.core.engines import compiled
    from lstmlab.jobs.limits import POOL_THREADS

    expected = min(POOL_THREADS, os.cpu_count() or 1)
    assert {executors.get_executor().submit(compiled.threads).result(timeout=600) for _ in range(4)} == {expected}
    assert compiled.threads() == 1
    config = RunConfig(**{**TINY, "batch_size": 64, "eval_size": 64}, steps=12, seed=5)
    assert len(compiled.shards(config.batch_size)) == 2
    run_id = jobs.submit(config, store_url=store_url)
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
    run, want = RunStore(store_url).load(run_id), train(config)
    assert_same_tables(run, want)
    assert all(np.array_equal(run.params[k], want.params[k]) for k in want.params)


def test_a_bad_threads_variable_is_named_before_a_pool_starts(monkeypatch):
    before = executors.local_pool()
    monkeypatch.setenv("LSTMLAB_THREADS", "many")
    with pytest.raises(ValueError, match=r"^LSTMLAB_THREADS='many': expected an integer >= 1$"):
        executors.local_pool(renew=True)
    assert executors.local_pool() is before and before.submit(abs, -3).result(timeout=600) == 3  # left as it was


def test_a_dask_worker_is_set_up_when_it_joins_before_any_job(dask_scheduler):
    """Connecting registers lstmlab's worker plugin with the cluster: a worker that joins later loads its kernels in
    the background as it joins (a job would have loaded them "now", in the job) and runs without Dask's
    statistical profiler."""
    client = executors.get_executor(dask_scheduler).client
    before = set(client.scheduler_info()["workers"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", dask_scheduler, "--nworkers", "1",
                               "--nthreads", "1", "--no-dashboard"], env=env,
                              stderr=subprocess.DEVNULL)
    try:
        client.wait_for_workers(len(before) + 1, timeout=120)
        (fresh,) = set(client.scheduler_info()["workers"]) - before
        setup = client.run(configure_worker, "off", workers=[fresh])[fresh]  # "off": only reports the set-up
        assert setup["blas_threads"] == 1 and setup["warm"] == "background"
        callbacks = client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks), workers=[fresh])[fresh]
        assert "heartbeat" in callbacks and not {"profile", "profile-cycle"} & set(callbacks)  # the profiler stopped
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def _start_scheduler(port: int) -> subprocess.Popen:
    """A Dask scheduler without workers on loopback, once it accepts clients."""
    proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                             str(port), "--no-dashboard"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            executors.get_executor(f"tcp://127.0.0.1:{port}")
            return proc
        except JobError:
            if time.monotonic() > deadline:
                proc.kill()
                raise


def test_runs_queued_on_a_scheduler_that_went_away_read_as_lost_and_resubmission_finishes_them(
        store_url, dask_scheduler, monkeypatch):
    monkeypatch.setenv(LOST_AFTER_ENV, "6")  # a submission may take seconds to reach the scheduler on a busy machine
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start_scheduler(port)  # no workers: what is submitted to it waits there
    store = RunStore(store_url)
    try:
        ids = [jobs.submit(RunConfig(**TINY, steps=10, seed=s), store_url=store_url, scheduler=address) for s in (60, 61)]
        time.sleep(8)  # silent for longer than LOST_AFTER: the scheduler holds them, so they are queued
        assert jobs.release_forgotten(store_url, address) == []
        assert [store.progress(i)["status"] for i in ids] == ["queued"] * 2
    finally:
        scheduler.kill()
        scheduler.wait()
    executors.shutdown()  # the clients of this process, one of them to the dead scheduler
    scheduler = _start_scheduler(port)  # a new scheduler at the same address, which knows nothing of them
    try:
        assert sorted(jobs.release_forgotten(store_url, address)) == sorted(ids)
        assert [store.progress(i)["status"] for i in ids] == ["lost"] * 2
    finally:
        executors.shutdown()
        scheduler.kill()
        scheduler.wait()
    for run_id in ids:
        assert jobs.resubmit(run_id, store_url=store_url, scheduler=dask_scheduler) == run_id
    for run_id in ids:
        assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
