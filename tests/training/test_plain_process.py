"""Library calls from a plain script (no runtime.configure_worker): as fast and as exact as in a configured
process, with nothing another library sees changed. Each case runs in a fresh interpreter."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

PLAIN_ENV = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}

PASS_SETUP = """
import json, os, threading
import numpy as np
from lstmlab import ModelSpec, bptt, init_params

def pass_args(H=128, T=100, B=32, head="last", layers=1, I=2, O=1, cell="lstm"):
    spec = ModelSpec(cell=cell, input_size=I, hidden_size=H, output_size=O, head=head, layers=layers)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    y = rng.standard_normal((B, O) if head == "last" else (T, B, O))
    return spec, init_params(spec, seed=0), x, y

def thread_cpu():
    '''CPU seconds of every thread of this process, by thread id.'''
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out
"""


def run(code: str, env=None) -> dict:
    out = subprocess.run([sys.executable, "-c", PASS_SETUP + code], capture_output=True, text=True,
                         env=env or PLAIN_ENV, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_plain_pass_runs_its_products_in_the_calling_thread_alone():
    """No BLAS worker thread takes CPU time during a plain process's passes (two BLAS threads per product made
    the products thrash); the calling thread does all the work."""
    r = run("""
args = pass_args(H=128)
bptt(*args)
before = thread_cpu()
me = threading.get_native_id()
for _ in range(10):
    bptt(*args)
after = thread_cpu()
others = sum(after[t] - before.get(t, 0.0) for t in after if t != me)
print(json.dumps({"mine": after[me] - before[me], "others": others}))
""")
    assert r["mine"] > 0.05  # the passes did run (10 ms clock ticks)
    assert r["others"] <= 0.05 * r["mine"], r


def test_other_libraries_keep_their_blas_threads_before_during_and_after_a_pass():
    """numpy's, SciPy's and torch's thread counts as the user set them, also while a pass runs in another
    thread; a numpy matmul meanwhile still gets its two threads."""
    pytest.importorskip("torch")
    r = run("""
import torch
import scipy.linalg
from threadpoolctl import threadpool_info
torch.set_num_threads(2)

def counts():
    libs = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    libs["torch"] = torch.get_num_threads()
    return libs

args = pass_args(H=128, T=400)
bptt(*args)
before = counts()
running, during = threading.Event(), []
def passes():
    running.set()
    for _ in range(5):
        bptt(*args)
t = threading.Thread(target=passes)
t.start()
running.wait()
a = np.ones((512, 512))
while t.is_alive():
    during.append(counts())
    a @ a
    scipy.linalg.lu_factor(a)
t.join()
print(json.dumps({"before": before, "during": during, "after": counts()}))
""")
    before = r["before"]
    ours = [path for path in before if "scipy_openblas32" in path]
    others = {path: n for path, n in before.items() if path not in ours}
    assert len(ours) == 1 and before[ours[0]] == 1  # the engine's own BLAS, at one thread
    assert any("numpy" in path for path in others) and any("scipy.libs" in path for path in others)
    assert others["torch"] == 2 and all(n >= 2 for path, n in others.items())
    assert len(r["during"]) >= 3
    for seen in r["during"] + [r["after"]]:
        assert {path: seen[path] for path in others} == others


def test_plain_and_configured_processes_compute_the_same_bits():
    """The same passes in a plain process and after configure_worker(): bit-identical gradients and flows,
    with batches and heads whose products are large enough for BLAS to use two threads."""
    code = """
import sys, base64
if sys.argv[-1] == "configured":
    from lstmlab.training.runtime import configure_worker
    configure_worker(warm="off")
out = {}
for cell in ("rnn", "lstm", "gru"):
    for H, B, head, layers, O in ((128, 100, "all", 1, 2), (64, 64, "last", 2, 1), (32, 32, "all", 1, 1)):
        r = bptt(*pass_args(H=H, T=50, B=B, head=head, layers=layers, O=O, cell=cell))
        arrays = [r.y_hat, r.dh, r.dacts] + [r.grads[k] for k in sorted(r.grads)]
        out[f"{cell} {H} {B} {head}"] = [base64.b64encode(a.tobytes()).decode() for a in arrays]
print(json.dumps(out))
"""

    def bits(mode: str) -> dict:
        res = subprocess.run([sys.executable, "-c", PASS_SETUP + code, mode], capture_output=True, text=True,
                             env=PLAIN_ENV, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    plain, configured = bits("plain"), bits("configured")
    assert plain.keys() == configured.keys() and len(plain) == 9
    assert [k for k in plain if plain[k] != configured[k]] == []


def test_a_repeated_plain_pass_faults_no_memory_in():
    """Without configure_worker's heap setting, a repeated pass reuses the memory of the last one."""
    r = run("""
import resource
args = pass_args(H=32)
bptt(*args)
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    bptt(*args)
print(json.dumps({"faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 5}))
""", env={**PLAIN_ENV, "LSTMLAB_KEEP_HEAP": "0"})
    assert r["faults"] < 100  # the arrays alone are about 2,700 pages


def test_the_engines_matmul_gives_numpys_bits_at_one_thread():
    from threadpoolctl import threadpool_limits

    from lstmlab.core.engines import blas

    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):
        for dtype in (np.float64, np.float32):
            for m, k, n in ((3200, 128, 2), (3200, 32, 1), (32, 32, 1), (1, 32, 32), (1, 300, 1), (32, 1, 32),
                            (64, 3200, 128), (128, 3200, 1), (2, 5, 3)):
                a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
                for left in (a, np.asfortranarray(a), np.repeat(a, 2, axis=1)[:, ::2]):
                    for right in (b, np.asfortranarray(b)):
                        got = blas.matmul(left, right)
                        assert got.dtype == dtype and got.flags.c_contiguous
                        assert np.array_equal(got, left @ right), (m, k, n, dtype)
    assert blas.threads() == 1
