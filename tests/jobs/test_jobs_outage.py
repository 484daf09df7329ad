"""A job's run store goes away while it trains: a real PostgreSQL cluster of this module's own, stopped and started
again (the shared test cluster of $LSTMLAB_TEST_POSTGRES_URL must stay up for the other tests).

An outage shorter than the job's limit (``LSTMLAB_OUTAGE_S``) leaves no trace: the run finishes with the tables of
an uninterrupted training. A longer one ends the run "failed" with the store's error once the store is back, or,
if it is not back before the run reads as lost, "lost" with why; ``submit --wait`` says which, and never the
password. A permanent store error (a refused permission) fails the job at once."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.jobs import worker
from lstmlab.jobs.limits import OUTAGE_ENV
from lstmlab.store import LOST_AFTER_ENV, RunStore, StoreError, StoreUnavailable
from lstmlab.training.train import train
from tests.support.jobs import assert_same_tables

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PASSWORD = "s3cret-Pw_7"  # the job's role logs in with it: it must show nowhere
CONFIG = dict(cell="lstm", task="adding", seq_len=10, hidden_size=8, batch_size=8, eval_size=16, record_every=10,
              steps=3000)
FLAGS = ["--cell", "lstm", "--task", "adding", "--seq-len", "10", "--hidden-size", "8", "--batch-size", "8",
         "--eval-size", "16", "--record-every", "10", "--steps", "3000", "-q"]


class Cluster:
    """A throwaway PostgreSQL 15 cluster on loopback that a test may stop and start: the superuser ``postgres``
    trusted, role ``lab`` with PASSWORD owning nothing, database ``lab`` (its tables made by the superuser, every
    right on them granted to ``lab``)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lstmlab-outage-"))
        self.dir.chmod(0o755)  # the postgres user must traverse it
        self.data = self.dir / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
                                               "host all all 127.0.0.1/32 scram-sha-256\n")
        self.start()
        with self.admin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE lab LOGIN PASSWORD '{PASSWORD}'")
            conn.exec_driver_sql("CREATE DATABASE lab")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(PG_BIN / tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-s", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-s", "stop")

    def admin(self, database: str = "postgres") -> sa.Connection:
        engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}",
                                  isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        return engine.connect()

    def fresh_store(self) -> str:
        """An empty store in database lab (made by the superuser), usable by role lab: lab's URL."""
        with self.admin("lab") as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        RunStore(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/lab").close()
        with self.admin("lab") as conn:
            conn.exec_driver_sql("GRANT USAGE ON SCHEMA public TO lab")
            conn.exec_driver_sql("GRANT ALL ON ALL TABLES IN SCHEMA public TO lab")
        return f"postgresql+psycopg://lab:{PASSWORD}@127.0.0.1:{self.port}/lab"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # stopped already
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_cluster():
    if not (PG_BIN / "initdb").exists():
        message = f"no PostgreSQL server in {PG_BIN} (scripts/setup.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    c = Cluster()
    yield c
    c.remove()


def submit(url: str, seed: int, outage: float, lost_after: float = 30.0) -> subprocess.Popen:
    """``python -m lstmlab submit --wait`` of CONFIG with ``seed`` (its job in the command's own pool)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), OUTAGE_ENV: str(outage), LOST_AFTER_ENV: str(lost_after)}
    return subprocess.Popen([sys.executable, "-m", "lstmlab", "--db", url, "submit", *FLAGS, "--seed", str(seed),
                             "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def streaming(proc: subprocess.Popen, store: RunStore, after_step: int = 100) -> tuple[str, int]:
    """The run id the command printed, once its job has stored records past ``after_step``; and its step then."""
    run_id = proc.stdout.readline().split()[1]
    deadline = time.monotonic() + 120
    while (p := store.progress(run_id))["step"] < after_step:
        assert p["status"] in ("queued", "running"), p
        assert time.monotonic() < deadline, "the job did not start streaming"
        time.sleep(0.02)
    assert p["status"] == "running" and p["step"] < CONFIG["steps"] - 200, p  # well before its end
    return run_id, p["step"]


def outage(cluster: Cluster, seconds: float) -> None:
    cluster.stop()
    time.sleep(seconds)
    cluster.start()


def test_the_store_errors_say_whether_they_may_pass(postgres_cluster):
    """Transient: the server stopped (a pooled connection, a new one). Permanent: a missing table, a refused
    permission, a wrong password."""
    url = postgres_cluster.fresh_store()
    store = RunStore(url)
    store.list()
    postgres_cluster.stop()
    try:
        for _ in range(2):  # the pooled connection the server dropped, then a connection refused
            with pytest.raises(StoreUnavailable, match=rf"127\.0\.0\.1:{postgres_cluster.port}") as e:
                store.list()
            assert PASSWORD not in str(e.value)
    finally:
        postgres_cluster.start()
    store.list()
    with postgres_cluster.admin("lab") as conn:
        conn.exec_driver_sql("REVOKE SELECT ON lstmlab_runs FROM lab")
    with pytest.raises(StoreError, match="permission denied") as e:
        store.list()
    assert not isinstance(e.value, StoreUnavailable)
    with postgres_cluster.admin("lab") as conn:
        conn.exec_driver_sql("DROP TABLE lstmlab_sweeps")
    with pytest.raises(StoreError, match="lstmlab_sweeps") as e:
        store.sweeps()
    assert not isinstance(e.value, StoreUnavailable)
    with pytest.raises(StoreError, match="refused the password") as e:
        RunStore(url.replace(PASSWORD, "wrong"))
    assert not isinstance(e.value, StoreUnavailable) and PASSWORD not in str(e.value)
    store.close()


def test_a_job_rides_out_a_short_outage_and_its_run_equals_an_uninterrupted_one(postgres_cluster):
    url = postgres_cluster.fresh_store()
    store = RunStore(url)
    proc = submit(url, seed=11, outage=20)
    run_id, _ = streaming(proc, store)
    outage(postgres_cluster, 4)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    run, want = store.load(run_id), train(RunConfig(**CONFIG, seed=11))
    assert (run.status, run.message) == ("finished", "finished 3000 steps")
    assert_same_tables(run, want)  # no record lost or doubled
    assert all(np.array_equal(run.params[k], want.params[k]) for k in want.params)
    store.close()


def test_a_longer_outage_fails_the_run_with_the_stores_error(postgres_cluster):
    url = postgres_cluster.fresh_store()
    store = RunStore(url)
    proc = submit(url, seed=12, outage=2)
    run_id, _ = streaming(proc, store)
    outage(postgres_cluster, 6)  # back before the run would read as lost (30 s)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, (out, err)
    run = store.load(run_id)
    assert run.status == "failed", run.message
    assert f"the database server at 127.0.0.1:{postgres_cluster.port}" in run.message
    assert "the run store did not answer" in run.message and "resubmit" in run.message
    assert "status       failed (the run store did not answer" in out
    assert PASSWORD not in out + err + run.message
    want = train(RunConfig(**CONFIG, seed=12))
    assert 100 <= run.eval["step"].iloc[-1] < CONFIG["steps"]  # it stopped, keeping whole records
    assert_same_tables(run, want, rows={"steps": len(run.steps), "flow": len(run.flow), "eval": len(run.eval)})
    assert len(run.steps) == run.eval["step"].iloc[-1]
    store.close()


def test_a_store_that_stays_away_leaves_the_run_lost_and_the_command_says_why(postgres_cluster):
    url = postgres_cluster.fresh_store()
    store = RunStore(url, lost_after=6)
    proc = submit(url, seed=13, outage=2, lost_after=6)
    run_id, _ = streaming(proc, store)
    postgres_cluster.stop()
    try:
        out, err = proc.communicate(timeout=120)  # gives up while the store is still away
    finally:
        postgres_cluster.start()
    assert proc.returncode == 1, (out, err)
    line = err.strip().splitlines()[-1]
    server = f"127.0.0.1:{postgres_cluster.port}"
    assert line.startswith(f"lstmlab: error: cannot reach the database server at {server}"), err
    assert f"run {run_id}'s job has given up on the store too" in line and f"lstmlab resubmit {run_id}" in line
    assert PASSWORD not in out + err
    p = store.progress(run_id)
    assert p["status"] == "lost" and "lost the run store" in p["message"], p
    # resubmitted, it resumes after its last record and ends as an uninterrupted run
    env = {**os.environ, "PYTHONPATH": str(ROOT), LOST_AFTER_ENV: "6"}
    done = subprocess.run([sys.executable, "-m", "lstmlab", "--db", url, "resubmit", run_id, "--wait", "-q"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done
    assert_same_tables(store.load(run_id), train(RunConfig(**CONFIG, seed=13)))
    store.close()


def test_a_permanent_store_error_fails_the_job_at_once(postgres_cluster):
    url = postgres_cluster.fresh_store()
    store = RunStore(url)
    proc = submit(url, seed=14, outage=3600)  # a retried error would hold the job for an hour
    run_id, _ = streaming(proc, store)
    with postgres_cluster.admin("lab") as conn:
        conn.exec_driver_sql("REVOKE INSERT ON lstmlab_flow FROM lab")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    run = store.load(run_id)
    assert run.status == "failed" and "permission denied for table lstmlab_flow" in run.message, run.message
    assert "did not answer" not in run.message
    store.close()


def test_a_bad_outage_variable_is_named(monkeypatch):
    monkeypatch.setenv(OUTAGE_ENV, "soon")
    with pytest.raises(ValueError, match=f"{OUTAGE_ENV}='soon': expected a number of seconds > 0"):
        worker.outage_limit()
