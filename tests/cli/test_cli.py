"""The command line end to end against temporary stores: main(argv) in process, and one real subprocess."""
from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from lstmlab import cli
from lstmlab.core.config import RECORDER_FIELDS, RunConfig
from lstmlab.core.engines import compiled
from lstmlab.store import RunStore
from lstmlab.training.train import train
from tests.support.cli import call, run_id_of

REPO = Path(__file__).resolve().parents[2]
TINY = ["--seq-len", "10", "--steps", "20", "--hidden-size", "4", "--batch-size", "8", "--eval-size", "8",
        "--record-every", "5"]


@pytest.fixture
def db(store_url):
    """Every CLI test runs against a SQLite file and a PostgreSQL database."""
    return store_url


def test_subprocess_run_ls_show(tmp_path):
    env = {**os.environ, "LSTMLAB_DB": str(tmp_path / "env.db"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "lstmlab", "run", *TINY, "--name", "sub", "--tag", "a"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_id = run_id_of(proc.stdout)
    assert "100%" in proc.stderr and "step 20/20" in proc.stderr
    for label in ("status       finished", "train loss", "eval loss", "baseline", "eval mse", "wall time",
                  "error flow   |dL/dh_1|/|dL/dh_T| layer 0:", "at step 0 ->", "at step 20"):
        assert label in proc.stdout
    stored = RunStore(tmp_path / "env.db").load(run_id)
    assert (stored.name, stored.tags, stored.status) == ("sub", ("a",), "finished")
    expected = train(RunConfig(seq_len=10, steps=20, hidden_size=4, batch_size=8, eval_size=8, record_every=5))
    pd.testing.assert_frame_equal(stored.flow, expected.flow)
    pd.testing.assert_frame_equal(stored.steps.drop(columns="wall_time"), expected.steps.drop(columns="wall_time"))

    listing = subprocess.run([sys.executable, "-m", "lstmlab", "ls"], capture_output=True, text=True, env=env,
                             timeout=60)
    assert listing.returncode == 0 and run_id[:8] in listing.stdout and "sub" in listing.stdout


def test_subprocess_run_in_two_threads_stores_the_same_histories(tmp_path):
    """--threads 2 on a batch of two shards: the run is the one this process trains in one thread."""
    env = {**os.environ, "LSTMLAB_DB": str(tmp_path / "env.db"), "PYTHONPATH": str(REPO)}
    env.pop("LSTMLAB_THREADS", None)
    sharded = [*TINY, "--batch-size", "64", "--eval-size", "70", "--cell", "gru"]
    proc = subprocess.run([sys.executable, "-m", "lstmlab", "run", *sharded, "-q", "--threads", "2"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    stored = RunStore(tmp_path / "env.db").load(run_id_of(proc.stdout))
    assert compiled.threads() == 1
    expected = train(RunConfig(seq_len=10, steps=20, hidden_size=4, batch_size=64, eval_size=70, record_every=5,
                               cell="gru"))
    pd.testing.assert_frame_equal(stored.flow, expected.flow, check_exact=True)
    pd.testing.assert_frame_equal(stored.steps.drop(columns="wall_time"), expected.steps.drop(columns="wall_time"),
                                  check_exact=True)


def test_subprocess_bad_value_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "lstmlab", "--db", str(tmp_path / "x.db"), "run", "--seq-len", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == "lstmlab: error: seq_len=0: expected an integer from 1 to 5000\n"
    assert proc.stdout == ""


def test_every_config_field_has_a_flag(db):
    sample = RunConfig(cell="gru", task="forecast", seq_len=12, hidden_size=5, layers=2, weight_scale=0.5,
                       init="gaussian", forget_bias=-1.5, optimizer="momentum", lr=0.003, momentum=0.5, clip=0.0,
                       gradient="truncated", batch_size=3, steps=7, record_every=2, eval_size=9, seed=11, dtype="float32", n_symbols=5,
                       noise=0.25, series=tuple(float(i % 7) for i in range(20)), series_name="my series",
                       biases="none", recurrent="none", direct="yes", join_after=3)
    paper = RunConfig(task="pmb13-addition", seq_len=50, seq_len_max=60, latch_steps=4, latch_noise=0.3,
                      gate_bias="i=-1,-2 o=-3", clip_value=0.5, stop="train", stop_window=100, stop_wrong=2,
                      stop_error=0.01, test_size=10, log_every=2, record_every=4)
    fields = [f for f in dataclasses.fields(RunConfig) if f.name not in RECORDER_FIELDS]  # set by lstmlab.torch only
    assert [f.name for f in dataclasses.fields(RunConfig) if f not in fields] == ["source"]
    changed = set()
    for config in (sample, paper):
        argv = ["run"]
        for field in fields:
            value = getattr(config, field.name)
            if value == field.default:
                continue
            changed.add(field.name)
            text = ",".join(map(str, value)) if field.name == "series" else str(value)
            argv += [f"--{field.name.replace('_', '-')}", text]
        args = cli.build_parser().parse_args(argv)
        assert RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)
                            if hasattr(args, f.name)}) == config
        assert not hasattr(args, "source")
    assert changed == {f.name for f in fields}, "the samples must change every field"
    assert cli.build_parser().parse_args(["run", "--seq_len", "7"]).seq_len == 7  # underscore alias


def test_series_from_file(tmp_path, db):
    path = tmp_path / "s.txt"
    path.write_text("1\n2\n3.5\n", encoding="utf-8")
    args = cli.build_parser().parse_args(["run", "--series", f"@{path}"])
    assert args.series == (1.0, 2.0, 3.5)


def test_run_through_main_and_manage(db):
    code, out, err = call("--db", db, "run", *TINY, "--name", "one", "--tag", "x", "--tag", "y", "-q")
    assert code == 0 and err == ""
    a = run_id_of(out)
    code, out, _ = call("run", *TINY, "--cell", "gru", "--layers", "2", "--db", db, "-q")
    assert code == 0
    b = run_id_of(out)
    assert out.count("error flow") == 2  # one line per layer

    code, out, _ = call("--db", db, "ls")
    assert code == 0 and a[:8] in out and b[:8] in out and "x,y" in out
    code, out, _ = call("--db", db, "ls", "--cell", "lstm")
    assert a[:8] in out and b[:8] not in out
    code, out, _ = call("--db", db, "ls", "--cell", "lstm", "--cell", "gru", "--full-ids")
    assert a in out and b in out
    code, out, _ = call("--db", db, "ls", "--task", "copy")
    assert (code, out.strip()) == (0, "no runs")
    code, out, _ = call("--db", db, "ls", "--tag", "y", "--layers", "1")
    assert a[:8] in out and b[:8] not in out

    code, out, _ = call("--db", db, "show", a[:6])
    assert code == 0 and a in out and "seq_len       10" in out and "status       finished" in out

    assert call("--db", db, "rename", a, "=renamed")[0] == 0
    assert call("--db", db, "tag", a, "p", "q")[0] == 0
    stored = RunStore(db).load(a)
    assert (stored.name, stored.tags) == ("=renamed", ("p", "q"))

    code, out, _ = call("--db", db, "rm", b)
    assert code == 0 and f"deleted {b}" in out
    assert list(RunStore(db).list()["id"]) == [a]


def test_export_commands(db, tmp_path):
    _, out, _ = call("--db", db, "run", *TINY, "-q")
    a = run_id_of(out)
    _, out, _ = call("--db", db, "run", *TINY, "--seed", "1", "-q")
    b = run_id_of(out)
    code, out, err = call("--db", db, "export", a, b, "-o", str(tmp_path / "all.zip"))
    assert code == 0 and "all.zip" in err
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        runs_csv = pd.read_csv(zf.open("runs.csv"))
        flow_csv = pd.read_csv(zf.open("flow.csv"))
    assert set(runs_csv["run_id"]) == {a, b}
    assert len(flow_csv) == 2 * len(RunStore(db).load(a).flow)
    code, out, _ = call("--db", db, "export", a, "--table", "eval")
    assert code == 0
    back = pd.read_csv(io.StringIO(out))
    pd.testing.assert_frame_equal(back[["step", "loss", "metric"]], RunStore(db).load(a).eval)
    code, _, _ = call("--db", db, "export", a, "--table", "all", "-o", str(tmp_path / "dir"))
    assert code == 0 and (tmp_path / "dir" / "steps.csv").exists()
    code, _, err = call("--db", db, "export", a)
    assert code == 2 and err.startswith("lstmlab: error: export --table all needs -o")


def test_reuse_skips_training(db):
    _, out, _ = call("--db", db, "run", *TINY, "-q")
    a = run_id_of(out)
    code, out, _ = call("--db", db, "run", *TINY, "-q", "--reuse")
    assert code == 0 and out.startswith(f"reusing stored run {a}")
    assert len(RunStore(db).list()) == 1


def test_env_var_selects_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMLAB_DB", str(tmp_path / "from-env.db"))
    code, out, _ = call("run", *TINY, "-q")
    assert code == 0
    assert run_id_of(out) in set(RunStore(tmp_path / "from-env.db").list()["id"])


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--bogus", "1"], "unrecognized arguments: --bogus 1"),
    (["run", "--cell", "transformer"], "cell='transformer': expected one of 'rnn', 'lstm', 'gru'"),
    (["run", "--steps", "many"], "steps='many': expected an integer from 0 to 1000000"),
    (["run", "--threads", "0"], "argument --threads: '0': expected a whole number >= 1"),
    (["run", "--lr", "-1"], "lr=-1.0: expected a number in (0, 10000]"),
    (["run", "--task", "copy", "--seq-len", "5"], "seq_len=5: expected an integer from 21 to 5000"),
    (["run", "--seq-len"], "argument --seq-len/--seq_len: expected one argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
    (["ls", "--status", "exploded"], "invalid choice: 'exploded'"),
])
def test_bad_input_is_one_clear_line(db, argv, fragment):
    code, out, err = call("--db", db, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lstmlab: error: ") and fragment in err, err
    assert out == ""


@pytest.mark.parametrize("argv", [["show", "deadbeef"], ["rm", "deadbeef"], ["export", "deadbeef"],
                                  ["rename", "deadbeef", "x"], ["tag", "deadbeef", "t"]])
def test_unknown_run_id(db, argv):
    call("--db", db, "run", *TINY, "-q")
    code, out, err = call("--db", db, *argv)
    assert code == 1
    assert err.startswith("lstmlab: error: no run with id or id prefix 'deadbeef' in RunStore('"), err
    assert err.endswith(f"{db.rsplit('/', 1)[-1]}')\n") and err.count("\n") == 1, err


def test_ctrl_c_stops_and_saves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "LSTMLAB_DB": str(tmp_path / "i.db")}
    proc = subprocess.Popen([sys.executable, "-m", "lstmlab", "run", "--seq-len", "50", "--steps", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc.stderr.readline()  # the first progress line: training is under way
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    run = RunStore(tmp_path / "i.db").load(run_id_of(out))
    assert run.status == "stopped" and 0 < len(run.steps) < 100000
    assert run.eval["step"].iloc[-1] == run.steps["step"].iloc[-1]


def test_ambiguous_prefix_and_rm_is_all_or_nothing(db):
    ids = [run_id_of(call("--db", db, "run", *TINY, "--seed", str(s), "-q")[1]) for s in range(3)]
    code, _, err = call("--db", db, "rm", ids[0], "nope")
    assert code == 1 and "'nope'" in err
    assert len(RunStore(db).list()) == 3
    code, _, err = call("--db", db, "show", "")
    assert code == 1 and err.startswith("lstmlab: error: empty run id")


def test_help_exits_zero(capsys):
    assert cli.main(["--help"]) == 0
    assert "run" in capsys.readouterr().out
    assert cli.main(["run", "--help"]) == 0
    assert "--hidden-size" in capsys.readouterr().out


def test_progress_bar_formats():
    stream = io.StringIO()
    bar = cli.ProgressBar(100, stream)
    for step in range(1, 101):
        bar(step, 100, {"step": step, "loss": 1.0 / step})
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("lstmlab: 100% step 100/100 loss 0.01")

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = cli.ProgressBar(10, tty)
    bar(10, 10, {"loss": 0.5})
    bar.close()
    assert tty.getvalue().startswith("\r[" + "#" * 30 + "] 100% 10/10 loss 0.5") and tty.getvalue().endswith("\n")


@pytest.mark.parametrize("argv, fragment", [
    (["ls", "--seq-len", "99999999999999999999999"],
     "ls --seq-len 99999999999999999999999: expected an integer from 1 to 5000"),
    (["ls", "--seq-len", "abc"], "ls --seq-len abc: expected an integer from 1 to 5000"),
    (["ls", "--cell", "elman"], "ls --cell elman: expected one of 'rnn', 'lstm', 'gru', 'rnn_relu', 'rnn_logistic', "
                                "'lstm97', 'lstm97fc', 'lstm97ig'"),
    (["ls", "--weight-scale", "-2"], "ls --weight-scale -2: expected a number in (0, 10]"),
    (["ls", "--limit", "-1"], "argument -n/--limit: '-1': expected a whole number >= 1"),
    (["ls", "--limit", "x"], "argument -n/--limit: 'x': expected a whole number >= 1"),
])
def test_bad_ls_filters_name_the_flag_the_value_and_what_was_expected(db, argv, fragment):
    call("--db", db, "run", *TINY, "-q")
    code, out, err = call("--db", db, *argv)
    assert code == 2 and out == ""
    assert err == f"lstmlab: error: {fragment}\n"


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`lstmlab show ID | head -4`: no BrokenPipeError, exit 141 (128 + SIGPIPE) as for other tools."""
    db = str(tmp_path / "runs.db")
    code, out, _ = call("--db", db, "run", *TINY, "-q")
    assert code == 0
    run_id = run_id_of(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "lstmlab", "--db", db, "show", run_id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the command writes a line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""
    piped = subprocess.run(["bash", "-c", '"$0" -m lstmlab --db "$1" show "$2" | head -4', sys.executable, db, run_id],
                           capture_output=True, text=True, env=env, timeout=120)
    assert piped.stderr == "" and piped.stdout.splitlines()[0] == f"run        {run_id}"
    assert len(piped.stdout.splitlines()) == 4


@pytest.mark.parametrize("cell", ["rnn_relu", "rnn_logistic", "lstm97"])
def test_run_trains_the_classic_cells_with_their_gradient_and_init(tmp_path, cell):
    db = str(tmp_path / "runs.db")
    code, out, err = call("--db", db, "run", *TINY, "--cell", cell, "--gradient", "truncated", "--init", "irnn", "-q")
    assert code == 0 and err == "", err
    stored = RunStore(db).load(run_id_of(out))
    assert (stored.config.cell, stored.config.gradient, stored.config.init) == (cell, "truncated", "irnn")
    expected = train(RunConfig(cell=cell, gradient="truncated", init="irnn", seq_len=10, steps=20, hidden_size=4,
                               batch_size=8, eval_size=8, record_every=5))
    pd.testing.assert_frame_equal(stored.flow, expected.flow)
    code, out, _ = call("--db", db, "ls", "--cell", cell)
    assert code == 0 and stored.run_id[:8] in out


def test_a_bad_gradient_is_named_with_the_choices(tmp_path):
    code, _, err = call("--db", str(tmp_path / "runs.db"), "run", "--gradient", "rtrl")
    assert code != 0 and "gradient='rtrl': expected one of 'full', 'truncated'" in err


# Modules a command that only reads runs must not import: the compiler, training and the job executors.
NOT_FOR_READING = ("numba", "llvmlite", "lstmlab.training.train", "lstmlab.jobs.executors")


@pytest.mark.parametrize("argv, expected", [(["ls"], "no runs\n"), (["sweeps", "ls"], "no sweeps\n")])
def test_reading_commands_load_no_compiler_training_or_executor(tmp_path, argv, expected):
    """`python -m lstmlab ls` on an empty store, its imports listed by the interpreter itself (-X importtime)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lstmlab", "--db", str(tmp_path / "runs.db"),
                           *argv], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout == expected, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "lstmlab.store" in imported and "lstmlab.cli.runs" in imported  # the listing is read as it should be
    loaded = sorted(m for m in imported if m in NOT_FOR_READING or m.split(".")[0] in NOT_FOR_READING)
    assert loaded == []
