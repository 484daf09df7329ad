"""Compiling the compiled engine's kernels once per machine: one process at a time, at install, and an install's
cache that the user the lab runs as can load (as the Docker image does; no Docker engine runs here, so the image's
steps are replayed: install as root into NUMBA_CACHE_DIR, hand it to another user, run from a read-only package)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STATS = """
import json, sys, time
import numpy as np
from lstmlab.core.engines import compiled, kernels
%s
names = ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
         "lstm97_forward", "lstm97_backward")
print(json.dumps({name: [sum(getattr(kernels, name).stats.cache_hits.values()),
                         sum(getattr(kernels, name).stats.cache_misses.values())] for name in names}))
"""


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def test_processes_starting_together_compile_each_kernel_set_once(tmp_path):
    """Three processes (a server and two job workers, say) ready the same kernel set on a cold cache: one compiles
    it, the others wait for it and load it."""
    start = tmp_path / "start"
    code = STATS % f"""
while not __import__("os").path.exists({str(start)!r}):
    time.sleep(0.01)
compiled.ready("rnn", np.float64)
"""
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    start.touch()
    stats = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        stats.append(json.loads(out.strip().splitlines()[-1]))
    for name in ("rnn_forward", "rnn_backward"):
        hits, misses = (sum(s[name][i] for s in stats) for i in (0, 1))
        assert (misses, hits) == (1, 2), (name, stats)


def _install_warm_line() -> str:
    """The install script's command that compiles the kernels."""
    lines = [line for line in (ROOT / "scripts" / "install.sh").read_text().splitlines()
             if "engines.warm()" in line and not line.lstrip().startswith("#")]
    assert len(lines) == 1
    return re.search(r'-c "([^"]+)"', lines[0]).group(1)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to switch user")
def test_an_install_for_another_user_leaves_a_cache_that_user_loads_from_a_read_only_package():
    """The Dockerfile's steps: install.sh compiles (as root) into NUMBA_CACHE_DIR, the directory is handed to the
    user the lab runs as, and that user, who may not write the package, loads every kernel without compiling."""
    top = Path(tempfile.mkdtemp(prefix="lstmlab-image-"))
    try:
        os.chmod(top, 0o755)
        pkg, cache = top / "app", top / "app" / "numba-cache"
        shutil.copytree(ROOT / "lstmlab", pkg / "lstmlab", ignore=shutil.ignore_patterns("__pycache__"))
        env = _env(NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(pkg), HOME=str(top / "home"))
        build = subprocess.run([sys.executable, "-c", _install_warm_line()], capture_output=True, text=True,
                               env=env, cwd=pkg, timeout=1200)
        assert build.returncode == 0, build.stderr[-3000:]
        subprocess.run(["chmod", "-R", "a-w,a+rX", str(pkg)], check=True)
        subprocess.run(["chown", "-R", "65534:65534", str(cache)], check=True)
        subprocess.run(["chmod", "-R", "u+w", str(cache)], check=True)
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                   STATS % "compiled.warm()"]
        run = subprocess.run(as_user, capture_output=True, text=True, env=env, cwd=top, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        stats = json.loads(run.stdout.strip().splitlines()[-1])
        assert all(hits == 2 and misses == 0 for hits, misses in stats.values()), stats
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(top)], check=False)
        shutil.rmtree(top, ignore_errors=True)


FIRST = """
import json
from lstmlab.core.engines import compiled
compiled.warm(first=True)
print(json.dumps(sorted((cell, dtype.name) for cell, dtype in compiled._ready)))
"""


def test_warm_first_readies_the_default_studys_kernels_alone():
    out = subprocess.run([sys.executable, "-c", FIRST], capture_output=True, text=True, check=True,
                         env=_env(PYTHONPATH=str(ROOT)), timeout=600)
    assert json.loads(out.stdout) == [["lstm", "float64"], ["rnn", "float64"]]


def test_the_plain_rnns_share_one_kernel_set():
    """A ReLU or logistic RNN readies the "rnn" set (its kernels take the activation as an argument)."""
    code = """
import json
import numpy as np
from lstmlab.core.engines import compiled
compiled.ready("rnn_relu", np.float64)
compiled.ready("rnn_logistic", np.float64)
print(json.dumps(sorted((cell, dtype.name) for cell, dtype in compiled._ready)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=_env(PYTHONPATH=str(ROOT)), timeout=600)
    assert json.loads(out.stdout) == [["rnn", "float64"]]


def test_a_kernel_set_that_does_not_exist_is_refused_by_name():
    import numpy as np

    from lstmlab.core.engines import compiled

    with pytest.raises(ValueError, match=r"^cell='lstm', dtype='float16': expected one of lstm/float64, "):
        compiled.ready("lstm", np.float16)


def test_a_job_loads_only_its_own_cells_kernels(tmp_path):
    """A job (as a pool or Dask worker runs it) readies the kernels of its own cell and dtype at its first pass, not
    every kernel set: on a cold cache it would otherwise wait for all of them to compile before training."""
    code = STATS % f"""
from lstmlab.jobs import worker
from lstmlab.core.config import RunConfig
from lstmlab.store import RunStore
db = {str(tmp_path / "runs.db")!r}
with RunStore(db) as store:
    run_id, attempt, _ = store.queue(RunConfig(cell="rnn", seq_len=5, hidden_size=3, steps=2, batch_size=2, seed=1,
                                               dtype="float64"))
assert worker.run_job(run_id, attempt, db) == "finished"
"""
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(sum(stats[name]) >= 1 for name in ("rnn_forward", "rnn_backward")), stats
    assert all(stats[name] == [0, 0] for name in ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
                                                  "lstm97_forward", "lstm97_backward")), stats
