"""The job commands of the CLI end to end: submit, ls, stop, resubmit, sweep (and resuming it), on the local pool
and on the Dask scheduler, against a SQLite file and a PostgreSQL database."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.jobs import sweeps
from lstmlab.jobs.limits import MAX_SWEEP_RUNS
from lstmlab.store import RunStore, runs_table
from tests.support.cli import call, run_id_of
from tests.support.jobs import wait_until

REPO = Path(__file__).resolve().parents[2]

TINY = ["--seq-len", "6", "--hidden-size", "4", "--batch-size", "4", "--eval-size", "4", "--record-every", "5"]


def test_submit_follows_a_local_job_and_ls_shows_its_progress(store_url):
    code, out, err = call("--db", store_url, "submit", *TINY, "--steps", "12", "--name", "local")
    assert code == 0, err
    run_id = run_id_of(out)
    assert "status       finished" in out and "steps        12 of 12" in out
    assert "step 12/12" in err  # the progress bar
    code, out, _ = call("--db", store_url, "ls", "--status", "finished")
    assert code == 0 and run_id[:8] in out and "12/12" in out


def test_submit_stop_resubmit_on_dask(store_url, dask_scheduler):
    code, out, err = call("--db", store_url, "submit", *TINY, "--steps", "100000", "--scheduler", dask_scheduler)
    assert code == 0, err
    run_id = run_id_of(out)
    store = RunStore(store_url)
    assert store.progress(run_id)["status"] in ("queued", "running")
    code, out, _ = call("--db", store_url, "submit", *TINY, "--steps", "100000", "--scheduler", dask_scheduler)
    assert run_id_of(out) == run_id and "submitted before" in out
    code, out, _ = call("--db", store_url, "stop", run_id[:10])
    assert code == 0 and f"{run_id}: " in out
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "stopped"
    code, out, _ = call("--db", store_url, "ls", "--status", "stopped")
    n = store.progress(run_id)["step"]
    assert code == 0 and f"{n}/100000" in out
    code, out, err = call("--db", store_url, "resubmit", run_id, "--scheduler", dask_scheduler)
    assert code == 0 and out.startswith(f"resubmitted {run_id}"), err
    assert store.progress(run_id)["status"] in ("queued", "running")
    call("--db", store_url, "stop", run_id)  # queued: stopped at once; running: at its next step
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "stopped"


def test_a_job_on_dask_outlives_the_command_that_submitted_it(tmp_path, dask_scheduler):
    """The command returns once the scheduler holds the job, which goes on training after the command ended (a job
    too long to finish meanwhile: a short one could end while the command's interpreter shuts down)."""
    db = str(tmp_path / "runs.db")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "lstmlab", "--db", db, "submit", *TINY, "--steps", "100000",
                           "--scheduler", dask_scheduler], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_id = run_id_of(proc.stdout)
    store = RunStore(db)
    after_exit = store.progress(run_id)
    assert after_exit["status"] in ("queued", "running") and after_exit["step"] < 100000
    wait_until(lambda: store.progress(run_id)["step"] >= after_exit["step"] + 20, timeout=300,
               what="the job training on after the command ended")
    assert call("--db", db, "stop", run_id)[0] == 0
    assert jobs.wait(run_id, store_url=db, timeout=300) == "stopped"


def test_sweep_end_to_end_and_resuming_submits_nothing_new(store_url, dask_scheduler):
    argv = ["--db", store_url, "sweep", "--cell", "rnn,lstm", *TINY, "--seq-len", "5,8", "--seeds", "2",
            "--steps", "6", "--name", "tiny", "--scheduler", dask_scheduler]
    code, out, err = call(*argv, "--wait", "-q")
    assert code == 0, err
    assert "sweep tiny: 8 runs: 8 submitted, 0 resubmitted (lost), 0 already there" in out
    assert "8 finished" in out
    store = RunStore(store_url)
    runs = sweeps.sweep_runs(store, "tiny")
    assert len(runs) == 8 and set(runs["status"]) == {"finished"}
    assert sorted(zip(runs["cell"], runs["seq_len"], runs["seed"])) == sorted(
        (c, t, s) for c in ("rnn", "lstm") for t in (5, 8) for s in (0, 1))
    assert all("sweep:tiny" in t.split(",") for t in runs["tags"])
    code, out, _ = call(*argv)
    assert code == 0 and "sweep tiny: 8 runs: 0 submitted, 0 resubmitted (lost), 8 already there" in out
    assert len(store.list()) == 8

    # a run whose worker died (running, heartbeat long gone) is resubmitted, and only it
    lost = runs["id"].iloc[0]
    with store.engine.begin() as conn:
        conn.execute(sa.update(runs_table).where(runs_table.c.id == lost).values(status="running", heartbeat=0.0))
    assert store.progress(lost)["status"] == "lost"
    code, out, _ = call(*argv, "--wait", "-q")
    assert code == 0 and "0 submitted, 1 resubmitted (lost), 7 already there" in out
    assert store.progress(lost)["status"] == "finished" and len(store.list()) == 8
    progress = sweeps.sweep_progress(store, "tiny")
    assert (progress["finished"], progress["total"], progress["missing"]) == (8, 8, 0)
    assert progress["steps_done"] == progress["steps_total"] == 48

    # the same name with another grid is refused
    code, _, err = call("--db", store_url, "sweep", "--cell", "gru,lstm", *TINY, "--steps", "6", "--name", "tiny",
                        "--scheduler", dask_scheduler)
    assert code == 2 and "sweep tiny exists with a different grid" in err


@pytest.mark.parametrize("flags, message", [
    (["--cell", "rnn,lstm,,"], None),
    (["--cell", ","], "sweep bad: --cell has no values: expected one or more, comma-separated"),
    (["--cell", "rnn,lstn"], "sweep bad: --cell lstn: expected one of 'rnn', 'lstm', 'gru'"),
    (["--seq-len", "10,0"], "sweep bad: --seq-len 0: expected an integer from 1 to 5000"),
    (["--weight-scale", "0.5,x"], "sweep bad: --weight-scale x: expected a number in (0, 10]"),
    (["--seq-len", "10,20", "--task", "copy"], "sweep bad: the combination seq_len=10 is invalid: seq_len=10"),
    (["--seq-len", ",".join(map(str, range(2, 2 + MAX_SWEEP_RUNS))), "--seeds", "2"],
     f"= {2 * MAX_SWEEP_RUNS} runs; expected at most {MAX_SWEEP_RUNS}"),
    (["--seed", "1,2", "--seeds", "2"], "give either --seeds N or a --seed list, not both"),
    (["--cell", "rnn,rnn"], "--cell lists a value twice"),
    (["--bogus", "1,2"], "unrecognized arguments: --bogus"),
])
def test_bad_sweep_input_is_one_error_and_submits_nothing(tmp_path, flags, message):
    db = str(tmp_path / "runs.db")
    code, out, err = call("--db", db, "sweep", *TINY, *flags, "--steps", "3", "--name", "bad",
                          "--scheduler", "tcp://127.0.0.1:9")
    if message is None:  # empty items between commas are ignored: valid grid, the scheduler is what fails
        assert code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    else:
        assert code == 2 and err.count("\n") == 1 and message in err, err
    assert RunStore(db).list().empty and RunStore(db).sweeps().empty


def test_library_sweep_errors_name_the_field():
    with pytest.raises(sweeps.SweepError, match="unknown field 'colour'"):
        sweeps.make_spec("x", {"colour": "red,blue"})
    with pytest.raises(sweeps.SweepError, match="--name ' ': expected a name of 1 to 100"):
        sweeps.make_spec(" ", {"cell": "rnn,lstm"})
    spec = sweeps.make_spec("x", {"cell": ["rnn", "gru"], "weight_scale": "0.5, 1"}, seeds=3, fixed={"steps": 7})
    configs = spec.configs()
    assert len(configs) == 12 and {c.steps for c in configs} == {7}
    assert configs[:3] == [RunConfig(cell="rnn", weight_scale=0.5, steps=7, seed=s) for s in range(3)]


def test_submit_to_an_unreachable_scheduler_writes_nothing(tmp_path):
    db = str(tmp_path / "runs.db")
    code, out, err = call("--db", db, "submit", *TINY, "--steps", "3", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1 and out == ""
    assert err.startswith("lstmlab: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert RunStore(db).list().empty
