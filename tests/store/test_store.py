"""RunStore: exact round trips, listing and editing, concurrent writers and crash safety, each on a real SQLite file
and a real PostgreSQL database."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.runs.records import flow_columns, model_spec, steps_columns
from lstmlab.store import RunStore, data_tables, params_table, runs_table, values_table
from lstmlab.training.train import train
from tests.support.runs import assert_same_params, assert_same_run, make_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(store_url):
    """The store location of a test: a SQLite file, then a fresh PostgreSQL database (conftest.store_url)."""
    return store_url


def test_round_trip_hand_made_tables(db):
    store = RunStore(db)
    runs = [make_run(1), make_run(2, cell="gru", layers=2), make_run(3, cell="rnn", layers=3, task="recall")]
    ids = [store.save(r) for r in runs]
    assert ids == [r.run_id for r in runs]
    store.close()
    reopened = RunStore(db)
    for run in runs:
        back = reopened.load(run.run_id)
        assert_same_run(back, run)
        assert list(back.steps.columns) == steps_columns(run.config)
        assert list(back.flow.columns) == flow_columns(run.config)
    assert np.isinf(reopened.load(runs[0].run_id).steps.loc[3, "loss"])


def test_round_trip_real_training_run(db):
    run = train(RunConfig(cell="lstm", seq_len=8, hidden_size=4, steps=12, record_every=5, batch_size=4,
                          eval_size=8))
    run.name, run.tags = "real", ("x",)
    store = RunStore(db)
    store.save(run)
    assert_same_run(store.load(run.run_id), run)


def test_round_trip_odd_tables(db):
    """Empty tables, float32 and int32 columns, a non-contract column, config with a series."""
    run = make_run(4, steps=0, task="forecast", series=tuple(np.sin(np.arange(40.0))), series_name="sine")
    run.eval = run.eval.iloc[:0]
    run.flow["dh_norm"] = run.flow["dh_norm"].clip(1e-30, 1e30)
    run.flow = run.flow.astype({"dh_norm": np.float32, "t": np.int32})
    run.flow["extra"] = np.arange(len(run.flow), dtype=np.float32)
    store = RunStore(db)
    store.save(run)
    back = store.load(run.run_id)
    assert len(back.steps) == 0 and len(back.eval) == 0
    assert_same_run(back, run)


def test_round_trip_trained_params(db):
    """A trained run's final parameters come back exactly, and a forward pass with them gives the same loss."""
    from lstmlab.core.model import bptt
    from lstmlab.core.tasks import get_task

    cfg = RunConfig(cell="lstm", seq_len=8, hidden_size=4, steps=12, record_every=5, batch_size=4, eval_size=8,
                    layers=2)
    run = train(cfg)
    with RunStore(db) as store:
        store.save(run)
    back = RunStore(db).load(run.run_id)
    assert sorted(back.params) == sorted(model_spec(cfg).param_shapes())
    assert_same_params(back.params, run.params)
    x, y = get_task(cfg).sample(np.random.default_rng(1), 3)
    spec = model_spec(cfg)
    assert bptt(spec, back.params, x, y).loss == bptt(spec, run.params, x, y).loss
    back.params["l0.Wh"][0, 0] += 1.0  # loaded arrays are writable and not shared with anything
    assert RunStore(db).load_params(run.run_id)["l0.Wh"][0, 0] == run.params["l0.Wh"][0, 0]


def test_params_dtypes_shapes_and_raw_bytes(db):
    """Any numeric dtype, 0-d, empty, non-contiguous and big-endian arrays, NaN and inf; the column holds the
    raw little-endian C-order bytes."""
    rng = np.random.default_rng(0)
    f64 = rng.standard_normal((3, 5))
    f64[0, 0], f64[1, 1], f64[2, 2] = np.nan, np.inf, -0.0
    params = {
        "z.last": f64, "a.float32": rng.standard_normal(7).astype(np.float32),
        "f16": rng.standard_normal((2, 2)).astype(np.float16), "i32": np.arange(-3, 3, dtype=np.int32),
        "u8": np.arange(5, dtype=np.uint8), "flag": np.array([True, False, True]), "scalar": np.array(2.5),
        "empty": np.zeros((0, 4)), "transposed": f64.T, "big": np.arange(6, dtype=">f8").reshape(2, 3),
        "c128": np.array([1 + 2j, -3j]),
    }
    run = make_run(80, with_params=False)
    run.params = params
    store = RunStore(db)
    store.save(run)
    back = store.load(run.run_id).params
    assert list(back) == list(params)  # dict order kept
    for k, a in params.items():
        b = back[k]
        assert b.shape == a.shape and b.dtype == a.dtype.newbyteorder("="), k
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), k
        assert b.flags.writeable and b.flags.c_contiguous, k
    assert np.signbit(back["z.last"][2, 2])
    with store.engine.connect() as conn:
        p = params_table.c
        raw = dict(conn.execute(sa.select(p.name, p.data).where(p.run_id == run.run_id)).all())
        meta = {r.name: (r.shape, r.dtype) for r in conn.execute(sa.select(p.name, p.shape, p.dtype))}
    assert raw["big"] == np.arange(6, dtype="<f8").tobytes()
    assert raw["transposed"] == np.ascontiguousarray(f64.T).astype("<f8").tobytes()
    assert meta["big"] == ("[2, 3]", "float64") and meta["scalar"] == ("[]", "float64")


def test_params_of_other_kinds_are_refused(db):
    run = make_run(81, with_params=False)
    run.params = {"w": np.array(["a", "b"])}
    with pytest.raises(ValueError, match="numeric array"):
        RunStore(db).save(run)
    run.params = [np.zeros(3)]
    with pytest.raises(TypeError, match="dict"):
        RunStore(db).save(run)
    assert RunStore(db).list().empty


def test_run_without_params_and_the_with_params_filter(db):
    store = RunStore(db)
    a, b = make_run(82), make_run(83, with_params=False)
    store.save(a)
    store.save(b)
    assert store.load(b.run_id).params is None and store.load_params(b.run_id) is None
    assert_same_params(store.load_params(a.run_id), a.params)
    assert list(store.list(with_params=True)["id"]) == [a.run_id]
    assert list(store.list(with_params=False)["id"]) == [b.run_id]
    assert len(store.list()) == 2
    a.params = None  # saving again without params replaces the stored ones
    store.save(a)
    assert store.load(a.run_id).params is None


def test_engine_and_engine_version_round_trip(db):
    """The engine that trained a run and its version come back; a run without them loads with ""."""
    store = RunStore(db)
    plain, compiled = make_run(86), make_run(87)
    compiled.engine, compiled.engine_version = "compiled", "numba 0.68"
    store.save(plain)
    store.save(compiled)
    assert (store.load(plain.run_id).engine, store.load(plain.run_id).engine_version) == ("", "")
    back = store.load(compiled.run_id)
    assert (back.engine, back.engine_version) == ("compiled", "numba 0.68")
    assert_same_run(back, compiled)


def test_save_same_id_replaces(db):
    store = RunStore(db)
    run = make_run(5)
    store.save(run)
    run.name = "second"
    run.eval = run.eval.iloc[:2]
    store.save(run)
    assert len(store.list()) == 1
    assert_same_run(store.load(run.run_id), run)


def test_list_filters_and_columns(db):
    store = RunStore(db)
    a, b, c = make_run(10), make_run(11, cell="gru", lr=0.1), make_run(12, task="recall")
    for r in (a, b, c):
        store.save(r)
    df = store.list()
    assert list(df["id"]) == [c.run_id, b.run_id, a.run_id]  # newest first
    assert list(df.columns[:8]) == ["id", "name", "tags", "status", "message", "created_at", "wall_time",
                                    "config_key"]
    assert {"cell", "task", "seq_len", "forget_bias", "series_name"} <= set(df.columns)
    assert df.loc[df["id"] == a.run_id, "tags"].item() == "t,s10"
    assert list(store.list(cell="lstm")["id"]) == [c.run_id, a.run_id]
    assert list(store.list(cell="lstm", task="recall")["id"]) == [c.run_id]
    assert list(store.list(lr=0.1)["id"]) == [b.run_id]
    assert set(store.list(cell=["gru", "rnn"])["id"]) == {b.run_id}
    assert list(store.list(tag="s11")["id"]) == [b.run_id]
    assert list(store.list(name="RUN 12")["id"]) == [c.run_id]
    assert store.list(status="diverged").empty
    assert list(store.list(status="diverged").columns) == list(df.columns)
    with pytest.raises(ValueError, match="colour"):
        store.list(colour="red")


def test_rename_tag_delete_find(db):
    store = RunStore(db)
    a, b = make_run(20), make_run(21)
    store.save(a)
    store.save(b)
    store.rename(a.run_id[:10], "renamed")
    store.tag(a.run_id, ["x", "y"])
    back = store.load(a.run_id)
    assert (back.name, back.tags) == ("renamed", ("x", "y"))
    pd.testing.assert_frame_equal(back.flow, a.flow)
    assert store.find(a.config) == [a.run_id]
    assert store.find(a.config.key, status="diverged") == []
    assert store.delete(a.run_id) == a.run_id
    assert a.run_id not in store and b.run_id in store
    with store.engine.connect() as conn:
        for table in (params_table, values_table, *data_tables.values()):
            left = conn.execute(sa.select(sa.func.count()).where(table.c.run_id == a.run_id)).scalar()
            assert left == 0, table.name
    assert_same_run(store.load(b.run_id), b)


def test_unknown_and_ambiguous_ids(db):
    store = RunStore(db)
    runs = [make_run(s) for s in range(30, 60)]
    for r in runs:
        store.save(r)
    with pytest.raises(KeyError, match="no run with id or id prefix 'nope'"):
        store.load("nope")
    with pytest.raises(KeyError, match="no run"):
        store.delete("nope")
    with pytest.raises(KeyError, match="no run"):
        store.rename("nope", "x")
    first = {r.run_id[0] for r in runs}
    shared = next(ch for ch in sorted(first) if sum(r.run_id[0] == ch for r in runs) > 1)
    with pytest.raises(KeyError, match="ambiguous"):
        store.load(shared)
    with pytest.raises(KeyError, match="empty"):
        store.load("")
    assert store.resolve(runs[0].run_id[:12]) == runs[0].run_id
    with pytest.raises(KeyError, match="no run"):
        store.load("%")  # LIKE wildcards are escaped


def test_location_from_env(db, monkeypatch):
    monkeypatch.setenv("LSTMLAB_DB", db)
    RunStore().save(make_run(72))
    assert list(RunStore(db).list()["id"]) == [make_run(72).run_id]


def test_sqlite_location_from_env_and_default(tmp_path, monkeypatch):
    target = tmp_path / "deep" / "er" / "store.db"
    monkeypatch.setenv("LSTMLAB_DB", str(target))
    RunStore().save(make_run(70))
    assert target.exists()
    monkeypatch.setenv("LSTMLAB_DB", f"sqlite:///{target}")
    assert len(RunStore().list()) == 1
    monkeypatch.delenv("LSTMLAB_DB")
    monkeypatch.chdir(tmp_path)
    RunStore().save(make_run(71))
    assert (tmp_path / "lstmlab-data" / "runs.db").exists()


def test_sqlite_uses_wal_and_busy_timeout(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def _save_worker(url: str, seeds: list[int]) -> None:
    store = RunStore(url)
    for seed in seeds:
        store.save(make_run(seed, steps=200, seq_len=30))
    store.close()


def test_concurrent_processes_lose_nothing(db):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_save_worker, args=(str(db), list(range(100 + 5 * k, 105 + 5 * k))))
             for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = RunStore(db)
    assert len(store.list()) == 20
    for seed in range(100, 120):
        assert_same_run(store.load(make_run(seed).run_id), make_run(seed, steps=200, seq_len=30))


def test_a_new_sqlite_store_opened_by_eight_at_once(tmp_path):
    """Eight connections opening one new SQLite file together all succeed (entering WAL mode, two would deadlock
    and SQLite refuses one at once, busy timeout or not), 40 times over."""
    for trial in range(40):
        path = tmp_path / f"runs{trial}.db"
        start, errors = threading.Barrier(8), []

        def open_it():
            try:
                start.wait(60)
                RunStore(path).close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=open_it, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == [], f"trial {trial}: {errors[0]}"
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_concurrent_threads_share_a_store(db):
    store = RunStore(db)
    errors = []

    def work(k):
        try:
            for seed in range(200 + 5 * k, 205 + 5 * k):
                store.save(make_run(seed, steps=100))
                store.list()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(store.list()) == 20
    for seed in range(200, 220):
        assert_same_run(store.load(make_run(seed).run_id), make_run(seed, steps=100))


def _churn(url: str, seed: int, stop) -> None:
    store = RunStore(url)
    run = make_run(seed, steps=60, seq_len=20)
    while not stop.is_set():
        store.delete(run.run_id)
        store.save(run)
    store.close()


def test_load_is_one_snapshot_while_the_run_is_deleted_and_saved_again(db):
    """Another process deletes and re-saves a run over and over: every load gives the whole run or KeyError,
    never a run with some tables missing."""
    run = make_run(95, steps=60, seq_len=20)
    store = RunStore(db)
    store.save(run)
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    writer = ctx.Process(target=_churn, args=(db, 95, stop))
    writer.start()
    whole = missing = 0
    try:
        while whole + missing < 300 or missing == 0 and whole + missing < 3000:
            try:
                back = store.load(run.run_id)
            except KeyError:
                missing += 1
                continue
            assert_same_run(back, run)
            whole += 1
    finally:
        stop.set()
        writer.join(60)
    assert writer.exitcode == 0
    assert whole > 0 and missing > 0  # the loads really ran while the run was gone and back


CHILD_PRELUDE = f"""
import os, sys
sys.path[:0] = [{str(REPO)!r}]
from sqlalchemy import event
from lstmlab.store import RunStore
from tests.support.runs import make_run
"""


def _run_child(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


def _orphans(store: RunStore) -> int:
    with store.engine.connect() as conn:
        known = sa.select(runs_table.c.id)
        return sum(conn.execute(sa.select(sa.func.count()).where(t.c.run_id.not_in(known))).scalar()
                   for t in (params_table, values_table, *data_tables.values()))


@pytest.mark.parametrize("table", ["lstmlab_flow", "lstmlab_params"])
def test_crash_mid_save_leaves_store_intact(db, table):
    """The process dies (os._exit) in the middle of inserting a big run's flow rows, or its parameters (the
    last insert of a save)."""
    child = _run_child(f"""
        store = RunStore({str(db)!r})
        store.save(make_run(300))
        big = make_run(301, steps=2000, seq_len=100, record_every=25)

        @event.listens_for(store.engine, "before_cursor_execute")
        def die(conn, cursor, statement, params, context, executemany):
            if "INSERT INTO {table}" in statement:
                print("dying", flush=True)
                os._exit(17)

        store.save(big)
        print("not reached", flush=True)
    """)
    assert child.returncode == 17, child.stderr
    assert child.stdout.strip() == "dying"
    store = RunStore(db)
    assert list(store.list()["id"]) == [make_run(300).run_id]
    assert_same_run(store.load(make_run(300).run_id), make_run(300))
    assert make_run(301).run_id not in store
    assert _orphans(store) == 0


def test_sigkill_during_saves_keeps_committed_runs(db):
    """SIGKILL at an arbitrary moment of a loop of big saves: committed runs intact, no partial run."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(f"""
        store = RunStore({str(db)!r})
        for seed in range(400, 430):
            run = make_run(seed, steps=1000, seq_len=100, record_every=25)
            store.save(run)
            print(run.run_id, flush=True)
    """)], stdout=subprocess.PIPE, text=True)
    committed = [proc.stdout.readline().strip() for _ in range(2)]
    time.sleep(0.15)
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    committed += rest.split()
    assert proc.returncode == -signal.SIGKILL
    assert len(committed) < 30
    store = RunStore(db)
    stored = set(store.list()["id"])
    assert set(committed) <= stored <= set(committed) | {make_run(400 + len(committed)).run_id}
    for seed in range(400, 400 + len(stored)):
        assert_same_run(store.load(make_run(seed).run_id), make_run(seed, steps=1000, seq_len=100,
                                                                    record_every=25))
    assert _orphans(store) == 0


def test_a_silent_queued_run_reads_lost_unless_its_queue_holds_it_itself(db):
    """A queued run whose heartbeat is older than ``lost_after`` reads as lost when it waits in a process's own
    queue (that process beats the runs it holds, so it is gone) or nowhere; in a queue that outlives the process
    that queued on it (a Dask scheduler, any kind but the process ones) it stays queued. Read by a plain store from
    the strings the jobs layer writes and earlier versions stored; a run whose heartbeat is fresh reads queued."""
    from lstmlab.jobs.executors import DASK_QUEUE, POOL_QUEUE

    store = RunStore(db, lost_after=30)
    queues = {"pool host:4242": "lost", f"{POOL_QUEUE} other-host:7": "lost", "": "lost",
              "dask tcp://127.0.0.1:8786": "queued", f"{DASK_QUEUE} 10.0.0.5:8786": "queued",
              "elsewhere somewhere": "queued"}
    ids = {q: store.queue(RunConfig(seed=500 + i, steps=5), queued_on=q)[0] for i, q in enumerate(queues)}
    fresh = store.queue(RunConfig(seed=499, steps=5), queued_on="pool host:4242")[0]
    with store.engine.begin() as conn:
        conn.execute(runs_table.update().where(runs_table.c.id.in_(list(ids.values())))
                     .values(heartbeat=time.time() - 60))
    assert {q: store.progress(ids[q])["status"] for q in queues} == queues
    listed = store.list().set_index("id")["status"]
    assert {q: listed[ids[q]] for q in queues} == queues
    assert {q: store.load(ids[q]).status for q in queues} == queues
    assert store.progress(fresh)["status"] == "queued"
    assert store.holdings("", since=0).queued == 1 + list(queues.values()).count("queued")
    # a lost one may be resubmitted, a held one not
    assert store.requeue(ids["pool host:4242"], queued_on="pool host:4242")[1] == 1
    with pytest.raises(ValueError, match="is queued: only lost, stopped, failed runs can be resubmitted"):
        store.requeue(ids["dask tcp://127.0.0.1:8786"])
