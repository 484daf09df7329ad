"""The two engines: agreement, determinism, vectorised kernels, the disk cache, the choice and its record."""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from lstmlab.core import engines
from lstmlab.core.config import CAROUSEL_CELLS, CELLS, GATES, MEMORY_CELLS, SOURCE_BLOCKS, RunConfig
from lstmlab.core.engines import ENGINE_VARIABLE, ENGINES, blas, compiled, kernels
from lstmlab.core.model import bptt, forward
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec
from lstmlab.store import RunStore
from lstmlab.training.train import train

CASES = list(itertools.product(CELLS, (1, 2, 3, 4), ("last", "all"), ("mse", "xent")))
# the truncated gradient (config.GRADIENTS) of every cell, one and several layers
TRUNCATED = list(itertools.product(CELLS, (1, 3), ("last", "all")))
TOLERANCE = {"float64": 1e-12, "float32": 1e-4}
ROOT = Path(__file__).resolve().parents[2]


def random_problem(cell, layers, head, loss, dtype, seed, B=None, gradient="full"):
    """A random shape (``B`` examples if given), perturbed parameters (non-zero biases) and data of every case."""
    rng = np.random.default_rng(seed)
    T, B, I, H, O = (int(v) for v in (rng.integers(1, 30), rng.integers(1, 6) if B is None else B,
                                      rng.integers(1, 4), rng.integers(1, 20), rng.integers(1, 4)))
    spec = ModelSpec(cell=cell, input_size=I, hidden_size=H, output_size=O, layers=layers, head=head, dtype=dtype,
                     gradient=gradient)
    params = init_params(spec, weight_scale=float(rng.uniform(0.5, 1.5)), seed=seed)
    params = {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(dtype) for k, v in params.items()}
    x = (2 * rng.standard_normal((T, B, I))).astype(dtype)
    lead = (B,) if head == "last" else (T, B)
    y = rng.integers(0, O, lead) if loss == "xent" else rng.standard_normal(lead + (O,)).astype(dtype)
    return spec, params, x, y


def rel(a, b) -> float:
    """max |a - b| / max |b| (0 for two all-zero arrays)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b)) if b.size else 0.0
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a), initial=0.0))


def results(res) -> dict:
    """Every array of a BPTTResult by name."""
    out = {"loss": res.loss, "h": res.h, "dh": res.dh, "y_hat": res.y_hat}
    out.update({f"grads[{k}]": v for k, v in res.grads.items()})
    out.update({f"gates[{k}]": v for k, v in res.gates.items()})
    out.update({f"dgates[{k}]": v for k, v in res.dgates.items()})
    if res.c is not None:
        out.update(c=res.c, dc=res.dc)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell,layers,head,loss", CASES)
def test_engines_agree(cell, layers, head, loss, dtype):
    """Within TOLERANCE of each other; in float32, where a problem's own rounding error can exceed that, the
    compiled engine may instead be at most as far from the float64 result as the reference engine is."""
    seed = CASES.index((cell, layers, head, loss)) + (0 if dtype == "float64" else 1000)
    spec, params, x, y = random_problem(cell, layers, head, loss, dtype, seed)
    fast = bptt(spec, params, x, y, loss, engine="compiled")
    ref = bptt(spec, params, x, y, loss, engine="reference")
    a, b = results(fast), results(ref)
    exact = None
    if dtype == "float32":
        wide = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        exact = results(bptt(replace(spec, dtype="float64"), wide, x.astype(np.float64),
                             y if loss == "xent" else y.astype(np.float64), loss, engine="reference"))
    assert a.keys() == b.keys()
    for name in b:
        assert np.asarray(a[name]).dtype == np.asarray(b[name]).dtype, name
        assert np.shape(a[name]) == np.shape(b[name]), name
        if exact is not None and rel(a[name], b[name]) > TOLERANCE[dtype]:
            assert rel(a[name], exact[name]) <= rel(b[name], exact[name]), (name, rel(a[name], b[name]))
            continue
        assert rel(a[name], b[name]) <= TOLERANCE[dtype], (name, rel(a[name], b[name]))
    np.testing.assert_array_equal(forward(spec, params, x, engine="compiled"), fast.y_hat)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell,layers,head", TRUNCATED)
def test_engines_agree_on_the_truncated_gradient(cell, layers, head, dtype):
    seed = 2000 + TRUNCATED.index((cell, layers, head)) + (0 if dtype == "float64" else 1000)
    spec, params, x, y = random_problem(cell, layers, head, "mse", dtype, seed, gradient="truncated")
    fast = results(bptt(spec, params, x, y, "mse", engine="compiled"))
    ref = results(bptt(spec, params, x, y, "mse", engine="reference"))
    assert fast.keys() == ref.keys()
    for name in ref:
        assert rel(fast[name], ref[name]) <= TOLERANCE[dtype], (name, rel(fast[name], ref[name]))
    full = results(bptt(replace(spec, gradient="full"), params, x, y, "mse", engine="reference"))
    gates = [k for k in ref if k.startswith("dgates[")]
    if any(not np.array_equal(full[k], ref[k]) for k in gates):  # error crossed steps through h_t Wh into a gate
        assert max(rel(ref[k], full[k]) for k in ref if k.startswith("grads[")) > 1e-6


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cell", MEMORY_CELLS)
def test_the_truncated_error_crosses_steps_only_along_the_cell_state(engine, cell):
    """One layer, loss at the last step, truncated gradient: no error reaches h_t for t < T, and the error on c_t
    is the error on c_{t+1} times dc_{t+1}/dc_t along the cell state: f_{t+1} for the LSTM, exactly 1 for the LSTM
    of 1997, whose carousel hands it back bit for bit."""
    spec, params, x, y = random_problem(cell, 1, "last", "mse", "float64", seed=11, B=3, gradient="truncated")
    x = np.concatenate([x, x, x])  # at least 3 steps
    res = bptt(spec, params, x, y, "mse", engine=engine)
    assert not res.dh[0, :-1].any() and res.dh[0, -1].any()
    dc = res.dc[0]
    if cell in CAROUSEL_CELLS:
        np.testing.assert_array_equal(dc, np.broadcast_to(dc[-1], dc.shape))
    else:
        f = res.gates["f"][0]
        np.testing.assert_allclose(dc[:-1], dc[1:] * f[1:], rtol=1e-15, atol=0)
        assert not np.allclose(dc[0], dc[-1])
    full = bptt(replace(spec, gradient="full"), params, x, y, "mse", engine=engine)
    assert not np.allclose(full.dc[0, 0], dc[0])  # the full gradient adds the paths through h_t Wh


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cell,layers,head,loss", [("lstm", 2, "last", "mse"), ("gru", 3, "all", "xent"),
                                                   ("rnn", 1, "all", "mse")])
def test_the_error_flow_without_weight_gradients_is_the_same_flow(engine, cell, layers, head, loss):
    spec, params, x, y = random_problem(cell, layers, head, loss, "float64", seed=7)
    full = results(bptt(spec, params, x, y, loss, engine=engine))
    res = bptt(spec, params, x, y, loss, engine=engine, weight_grads=False)
    assert res.grads == {}
    flow = results(res)
    assert flow.keys() == {k for k in full if not k.startswith("grads[")}
    for name in flow:
        np.testing.assert_array_equal(flow[name], full[name], err_msg=name)


def test_the_agreement_check_has_teeth():
    """A wrong factor in one gate's backward step is far outside the tolerance."""
    spec, params, x, y = random_problem("lstm", 2, "all", "mse", "float64", seed=7)
    ref = bptt(spec, params, x, y, "mse", engine="reference")
    bad = ref.dgates["f"] * (1 + 1e-9)
    assert rel(bad, ref.dgates["f"]) > TOLERANCE["float64"]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_same_config_gives_bit_identical_histories_per_engine(cell, engine):
    config = RunConfig(cell=cell, seq_len=12, hidden_size=5, steps=6, record_every=3, batch_size=4, eval_size=8,
                       layers=2)
    first, second = train(config, engine=engine), train(config, engine=engine)
    for table in ("eval", "flow"):
        assert getattr(first, table).equals(getattr(second, table)), table
    steps = [c for c in first.steps.columns if c != "wall_time"]
    assert first.steps[steps].equals(second.steps[steps])
    assert first.engine == engine and first.engine_version == engines.version(engine) != ""


def test_runs_record_their_engine_in_the_store(store_url):
    config = RunConfig(cell="gru", seq_len=8, hidden_size=3, steps=2, record_every=1, batch_size=2, eval_size=2)
    store = RunStore(store_url)
    ids = {}
    for name in ENGINES:
        run = train(config, engine=name)
        ids[name] = store.save(run)
    for name, run_id in ids.items():
        back = store.load(run_id)
        assert (back.engine, back.engine_version) == (name, engines.version(name))
    assert engines.version("compiled") != engines.version("reference")
    store.close()


def test_engine_from_the_environment_and_a_clear_error(monkeypatch):
    spec, params, x, y = random_problem("rnn", 1, "last", "mse", "float64", seed=3)
    monkeypatch.setenv(ENGINE_VARIABLE, "reference")
    assert engines.engine_name() == "reference"
    assert train(RunConfig(cell="rnn", seq_len=4, hidden_size=2, steps=1, batch_size=2, eval_size=2)).engine == (
        "reference")
    monkeypatch.setenv(ENGINE_VARIABLE, "cuda")
    with pytest.raises(ValueError, match=r"^LSTMLAB_ENGINE='cuda': expected one of 'compiled', 'reference'$"):
        bptt(spec, params, x, y)
    with pytest.raises(ValueError, match=r"^engine='fast': expected one of"):
        bptt(spec, params, x, y, engine="fast")
    monkeypatch.delenv(ENGINE_VARIABLE)
    assert engines.engine_name() == ENGINES[0] == "compiled"


@pytest.mark.parametrize("cell", CELLS)
def test_the_compiled_engine_overwrites_inject_only_when_allowed(cell):
    G = len(GATES[cell])
    rng = np.random.default_rng(0)
    x, Wx, b = rng.standard_normal((5, 3, 2)), rng.standard_normal((2, 4 * G)), rng.standard_normal(4 * G)
    Wh, bhn = 0.3 * rng.standard_normal((SOURCE_BLOCKS.get(cell, 1) * 4, 4 * G)), rng.standard_normal(4)
    inject = rng.standard_normal((5, 3, 4))
    kept = inject.copy()
    run = compiled.unroll(cell, x, Wx, b, Wh, bhn)
    flow = compiled.backprop(cell, run, inject, Wh)
    np.testing.assert_array_equal(inject, kept)
    flow2 = compiled.backprop(cell, run, inject, Wh, overwrite_inject=True)
    np.testing.assert_array_equal(flow2.dh, flow.dh)
    assert np.shares_memory(flow2.dh, inject)


def float32_sum_problem(engine):
    """A float32 pass over 400 x 64 steps and examples, and its dL/da_t and inputs in float64."""
    spec = ModelSpec(cell="rnn", input_size=1, hidden_size=2, output_size=1, head="all", dtype="float32")
    params = init_params(spec, weight_scale=0.0, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((400, 64, 1)), rng.standard_normal((400, 64, 1))
    res = bptt(spec, params, x, y, "mse", engine=engine)
    return res, res.dgates["h"][0].astype(np.float64), x.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("engine", ENGINES)
def test_float32_bias_gradients_are_summed_in_float64(engine):
    """Many small float32 terms: the bias gradient is the float64 sum rounded once."""
    res, da, _ = float32_sum_problem(engine)
    np.testing.assert_array_equal(res.grads["l0.b"], da.sum(axis=(0, 1)).astype(np.float32))


def test_compiled_float32_input_weight_gradients_are_summed_in_float64():
    """The compiled engine sums x_t^T da_t for a small input in its kernel, in float64, rounded once."""
    res, da, x = float32_sum_problem("compiled")
    np.testing.assert_allclose(res.grads["l0.Wx"], np.einsum("tbi,tbj->ij", x, da), rtol=2**-24)


KERNELS = ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
           "lstm97_forward", "lstm97_backward", "lstm97ig_forward", "lstm97ig_backward")
HELPERS = ("input_grads",)  # called from the kernels only: compiled into them, not loaded on their own
# each kernel's elementwise loops (one per gate block, state update, RNN activation, ...): all must vectorise
VECTOR_LOOPS = {"rnn_forward": 3, "rnn_backward": 3, "lstm_forward": 5, "lstm_backward": 5, "gru_forward": 5,
                "gru_backward": 4, "lstm97_forward": 4, "lstm97_backward": 4, "lstm97ig_forward": 3,
                "lstm97ig_backward": 1, "input_grads": 2}
# kernels whose arithmetic is float64 in either dtype (sums kept in float64)
FLOAT64_SUMS = ("input_grads",)


# vector intrinsics the machine runs as instructions; others (llvm.tanh.v4f64, ...) become a libm call per lane
NATIVE = ("fabs", "floor", "ceil", "copysign", "minnum", "maxnum", "minimum", "maximum", "fma", "fmuladd", "sqrt")


def vector_loops(ir: str, dtype: str = "float64") -> int:
    """Loops LLVM vectorised for real: ``vector.body`` blocks doing floating-point arithmetic or comparisons (a
    ReLU's) on vectors of ``dtype`` and calling only intrinsics the machine runs as vector instructions (a loop
    around a libm call gets a vector.body too, with the call made lane by lane). In float32 a block must not touch
    a double: a float64 constant promotes the arithmetic."""
    lane = {"float64": "double", "float32": "float"}[dtype]
    blocks = re.split(r"^(?=[\w.]+:)", ir, flags=re.M)
    count = 0
    for block in blocks:
        if not re.match(r"vector\.body[\d.]*:", block):
            continue
        vector_math = re.search(rf"= (f(add|sub|mul|div)|fcmp \w+) <\d+ x {lane}>", block)
        if dtype == "float32" and "double" in block:
            continue
        calls = re.findall(r"call [^@]*@([\w.$]+)\(", block)
        native = rf"llvm\.({'|'.join(NATIVE)})\.v\d+f(32|64)"
        if vector_math and all(re.fullmatch(native, c) for c in calls):
            count += 1
    return count


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hot_loops_vectorise(dtype, monkeypatch):
    """Compile fresh copies of the kernels (cached code cannot be inspected) and count LLVM's vector loops."""
    compiled.warm()  # every kernel set counts as ready: the fresh copies have no disk cache to lock
    for name in KERNELS + HELPERS:
        monkeypatch.setattr(kernels, name, njit(error_model="numpy")(getattr(kernels, name).py_func))
    for cell, G in (("rnn", 1), ("lstm", 4), ("gru", 3), ("lstm97", 3), ("lstm97ig", 2)):
        Wx, b, Wh = (np.full(shape, 0.1, dtype=dtype) for shape in ((2, 3 * G), 3 * G, (3, 3 * G)))
        run = compiled.unroll(cell, np.ones((2, 2, 2), dtype=dtype), Wx, b, Wh, np.ones(3, dtype=dtype))
        compiled.backprop(cell, run, np.ones((2, 2, 3), dtype=dtype), Wh, x=np.ones((2, 2, 2), dtype=dtype))
    for name in KERNELS + HELPERS:
        kernel = getattr(kernels, name)
        loops = vector_loops(kernel.inspect_llvm(kernel.signatures[0]), "float64" if name in FLOAT64_SUMS else dtype)
        assert loops >= VECTOR_LOOPS[name], f"{name}: {loops} vectorised loops, expected {VECTOR_LOOPS[name]}"


@njit(error_model="numpy", fastmath={"contract"})
def kernel_tanh(x, out, K):
    C = kernels.scalars(K)  # made here: a tuple handed in from Python would hold float64s
    for i in range(x.shape[0]):
        out[i] = kernels.tanh(x[i], C)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_tanh_is_within_4_ulp_of_the_exact_value(dtype):
    """Against tanh in extended precision, on random, tiny, clamped and special arguments."""
    rng = np.random.default_rng(0)
    tiny = np.finfo(dtype).tiny
    x = np.concatenate([4 * rng.standard_normal(20_000), np.linspace(-1e-6, 1e-6, 1001), np.linspace(-30, 30, 3001),
                        [tiny, -tiny, 1e-30, 1e30, -np.finfo(dtype).max]]).astype(dtype)
    out = np.empty_like(x)
    kernel_tanh(x, out, kernels.constants(dtype))
    exact = np.tanh(x.astype(np.longdouble))
    ulps = np.abs(out.astype(np.longdouble) - exact) / np.spacing(np.abs(exact.astype(dtype))).astype(np.longdouble)
    assert ulps.max() <= 4, (float(ulps.max()), x[np.argmax(ulps)])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)
    kernel_tanh(special, out[:5], kernels.constants(dtype))
    np.testing.assert_array_equal(out[:5], [0.0, -0.0, 1.0, -1.0, np.nan])
    assert np.signbit(out[1])


def test_a_scalar_loop_is_detected():
    """The count above misses a loop around a scalar libm call, and finds the same loop with our tanh."""

    @njit(error_model="numpy")
    def libm(x, out):
        for i in range(x.shape[0]):
            out[i] = 2.0 * np.tanh(x[i])

    @njit(error_model="numpy")
    def ours(x, out, C):
        for i in range(x.shape[0]):
            out[i] = 2.0 * kernels.tanh(x[i], C)

    libm(np.ones(8), np.ones(8))
    ours(np.ones(8), np.ones(8), kernels.scalars(kernels.constants(np.float64)))
    assert vector_loops(libm.inspect_llvm(libm.signatures[0])) == 0
    assert vector_loops(ours.inspect_llvm(ours.signatures[0])) == 1
    x32 = np.ones(8, dtype=np.float32)
    ours(x32, x32, kernels.scalars(kernels.constants(np.float32)))  # 2.0 is a float64: the lanes are doubles
    assert vector_loops(ours.inspect_llvm(ours.signatures[-1]), "float32") == 0


WARM = """
import json
from lstmlab.core.engines import compiled, kernels
compiled.warm()
stats = {name: getattr(kernels, name).stats for name in %r}
print(json.dumps({name: [sum(s.cache_hits.values()), sum(s.cache_misses.values())] for name, s in stats.items()}))
""" % (KERNELS,)


def test_a_new_process_loads_the_kernels_from_the_disk_cache():
    compiled.warm()  # compiles on a machine's first run, fills the cache
    out = subprocess.run([sys.executable, "-c", WARM], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"})
    stats = json.loads(out.stdout)
    for name, (hits, misses) in stats.items():
        assert (hits, misses) == (2, 0), name  # float64 and float32 loaded, nothing compiled


CACHE_PATH = """
from lstmlab.core.engines import kernels
print(kernels.lstm_forward.stats.cache_path)
"""


def test_kernels_cache_in_the_user_cache_directory_when_the_install_is_read_only(tmp_path):
    """Where the kernels' own __pycache__ cannot be a writable directory (here a file stands in its place, which
    stops root too), the cache goes to the user's cache directory."""
    shutil.copytree(ROOT / "lstmlab", tmp_path / "pkg" / "lstmlab", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pkg" / "lstmlab" / "core" / "engines" / "__pycache__").write_text("not a directory")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pkg"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", CACHE_PATH], capture_output=True, text=True, check=True,
                         env=env, cwd=tmp_path)
    path = Path(out.stdout.strip())
    assert path.is_relative_to(tmp_path / "cache" / "numba") and path.is_dir()
    in_tree = subprocess.run([sys.executable, "-c", CACHE_PATH], capture_output=True, text=True, check=True,
                             cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"})
    assert Path(in_tree.stdout.strip()) == ROOT / "lstmlab" / "core" / "engines" / "__pycache__"


# ----------------------------------------------------------------- shards and threads


@pytest.fixture
def threads():
    """compiled.set_threads for one test, the process's setting restored after it."""
    before = compiled.threads()
    yield compiled.set_threads
    compiled.set_threads(before)


@pytest.mark.parametrize("B", [1, 31, 32, 63, 64, 65, 100, 1000])
def test_shards_cut_the_batch_into_near_equal_row_ranges(B):
    parts = compiled.shards(B)
    assert len(parts) == min(compiled.MAX_SHARDS, max(1, B // compiled.SHARD_ROWS))
    assert parts[0][0] == 0 and parts[-1][1] == B
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))  # contiguous, no gap, no overlap
    sizes = [b1 - b0 for b0, b1 in parts]
    assert max(sizes) - min(sizes) <= 1 and (min(sizes) >= compiled.SHARD_ROWS or len(parts) == 1)


SHARDED = [("lstm", 1, "last", "mse", 64), ("lstm", 2, "all", "xent", 77), ("gru", 2, "last", "mse", 70),
           ("gru", 1, "all", "mse", 64), ("rnn", 3, "all", "mse", 65), ("rnn", 1, "last", "xent", 100),
           ("rnn_relu", 2, "all", "mse", 66), ("rnn_logistic", 1, "last", "xent", 64), ("lstm97", 2, "all", "mse", 70),
           ("lstm97ig", 2, "all", "mse", 70)]


@pytest.mark.parametrize("gradient", ["full", "truncated"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell,layers,head,loss,B", SHARDED)
def test_threads_change_nothing_in_a_sharded_pass(cell, layers, head, loss, B, dtype, gradient, threads):
    """Batches of two shards, one thread and two: every array bit-identical, and the engines agree."""
    assert len(compiled.shards(B)) == 2
    spec, params, x, y = random_problem(cell, layers, head, loss, dtype, seed=B + layers, B=B, gradient=gradient)
    threads(1)
    one = results(bptt(spec, params, x, y, loss, engine="compiled"))
    threads(2)
    two = results(bptt(spec, params, x, y, loss, engine="compiled"))
    flow = results(bptt(spec, params, x, y, loss, engine="compiled", weight_grads=False))
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(two[name], one[name], err_msg=name)
        if not name.startswith("grads"):
            np.testing.assert_array_equal(flow[name], one[name], err_msg=name)
    ref = results(bptt(spec, params, x, y, loss, engine="reference"))
    for name in ref:
        assert rel(two[name], ref[name]) <= TOLERANCE[dtype], (name, rel(two[name], ref[name]))


def test_a_sharded_pass_runs_its_shards_in_two_threads(threads, monkeypatch):
    """With two threads the first shard runs in the calling thread and the second in the pool's."""
    seen = []
    real = kernels.lstm_forward

    def spy(*args):
        seen.append((threading.get_ident(), args[-2:]))
        return real(*args)

    monkeypatch.setattr(kernels, "lstm_forward", spy)
    spec, params, x, y = random_problem("lstm", 1, "last", "mse", "float64", seed=0, B=64)
    threads(2)
    forward(spec, params, x, engine="compiled")
    assert sorted(rows for _, rows in seen) == [(0, 32), (32, 64)]
    assert len({ident for ident, _ in seen}) == 2 and threading.get_ident() in {ident for ident, _ in seen}


def test_using_threads_sets_the_calling_threads_passes_only(threads, monkeypatch):
    """Inside ``using_threads(2)`` this thread's passes run their shards in two threads while another thread's, and
    the process-wide setting, stay at one; after the block (nested blocks restore theirs) it is one again."""
    seen = []
    real = kernels.lstm_forward

    def spy(*args):
        seen.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(kernels, "lstm_forward", spy)
    spec, params, x, _ = random_problem("lstm", 1, "last", "mse", "float64", seed=0, B=64)
    threads(1)
    other = {}

    def elsewhere():
        other["threads"] = compiled.threads()

    with engines.using_threads(2, "compiled"):
        helper = threading.Thread(target=elsewhere)
        helper.start()
        helper.join()
        inside = forward(spec, params, x, engine="compiled")
        assert compiled.threads() == 2 and other["threads"] == 1
        with compiled.using_threads(1):
            assert compiled.threads() == 1
        assert compiled.threads() == 2
    assert len(set(seen)) == 2  # the second shard ran in the pool's thread
    seen.clear()
    after = forward(spec, params, x, engine="compiled")
    assert compiled.threads() == 1 and set(seen) == {threading.get_ident()}
    np.testing.assert_array_equal(inside, after)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rows,k,n", [(6400, 512, 128), (6400, 128, 512), (4700, 33, 17), (3100, 7, 300), (129, 7, 33),
                                      (200, 64, 1), (127, 16, 16), (1000, 3, 256)])
def test_a_matmul_cut_into_threads_changes_no_bit(rows, k, n, dtype, threads, monkeypatch):
    """The rows of a product cut at multiples of MATMUL_ROWS, one part per thread: the same bits as one product,
    with a part in each of two threads where there are at least 2 MATMUL_ROWS rows."""
    rng = np.random.default_rng(rows + k + n)
    a, b = rng.standard_normal((rows, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    threads(1)
    one = compiled.matmul(a, b)
    seen = []
    real = blas.matmul

    def spy(x, y):
        seen.append((threading.get_ident(), x.shape[0]))
        return real(x, y)

    monkeypatch.setattr(blas, "matmul", spy)
    threads(2)
    two = compiled.matmul(a, b)
    np.testing.assert_array_equal(two, one)
    np.testing.assert_array_equal(compiled.matmul(a.reshape(rows, 1, k), b)[:, 0], one)  # leading axes: rows
    parts = [r for _, r in seen[:2]] if rows >= 2 * compiled.MATMUL_ROWS else [r for _, r in seen[:1]]
    assert sum(parts) == rows and all(r % compiled.MATMUL_ROWS == 0 for r in parts[:-1])
    assert len({i for i, _ in seen[:len(parts)]}) == len(parts)


def test_each_runs_every_item_at_one_thread(threads):
    """Items of ``each`` side by side: each sees one thread, so a pass inside one never waits for the pool."""
    threads(2)
    assert compiled.each(lambda i: (i, compiled.threads()), [0, 1]) == [(0, 1), (1, 1)]
    assert compiled.threads() == 2
    assert compiled.each(lambda i: compiled.matmul(np.ones((256, 4)), np.ones((4, 2)))[0, 0], [0, 1]) == [4.0, 4.0]


def test_each_shares_more_items_than_threads_between_them(threads):
    """Six items on two threads: results in item order, both threads at work; after a failure no item starts."""
    threads(2)
    seen = []

    def work(i):
        seen.append(threading.get_ident())
        time.sleep(0.05 if i == 0 else 0.01)  # the pool's thread takes the next items while the first runs
        return i * i

    assert compiled.each(work, list(range(6))) == [0, 1, 4, 9, 16, 25]
    assert len(seen) == 6 and len(set(seen)) == 2 and seen.count(threading.get_ident()) < 6
    started = []

    def failing(i):
        started.append(i)
        if i == 1:
            raise ValueError("item 1 failed")
        time.sleep(0.2)
        return i

    with pytest.raises(ValueError, match="item 1 failed"):
        compiled.each(failing, list(range(6)))
    assert sorted(started) == [0, 1]


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_using_threads_refuses_a_bad_count_and_changes_nothing(n):
    before = compiled.threads()
    with pytest.raises(ValueError, match=r"^threads=.*: expected an integer >= 1$"):
        with compiled.using_threads(n):
            pass
    assert compiled.threads() == before
    with engines.using_threads(3, "reference") as given:  # the reference engine runs in the calling thread anyway
        assert given == 3 and compiled.threads() == before


def test_the_kernels_release_the_gil():
    for name in KERNELS:
        assert getattr(kernels, name).targetoptions.get("nogil") is True, name


def test_an_error_in_one_shard_is_raised_after_every_shard_has_ended(threads):
    ended = []

    def work(item):
        if item == 0:
            raise ValueError("shard 0 failed")
        time.sleep(0.2)
        ended.append(item)
        return item

    threads(2)
    with pytest.raises(ValueError, match="shard 0 failed"):
        compiled.each(work, [0, 1])
    assert ended == [1]  # the other shard had finished before the error came out
    assert compiled.each(lambda i: i * 10, [1, 2]) == [10, 20]  # the pool still works


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_set_threads_names_a_bad_value(bad, threads):
    with pytest.raises(ValueError, match=r"threads=.*expected an integer >= 1"):
        threads(bad)
