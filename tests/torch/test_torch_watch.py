"""lstmlab.torch.watch with what users hand it: modules and calls it refuses (naming the feature, at watch() where
that can be known), calls it follows (truncated-BPTT loops, gradient accumulation, unbatched input, evaluation calls),
and a run store that fails, asks to stop, or outlives the process. Real SQLite stores, real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from lstmlab.core.engines import compiled
from lstmlab.store import RunStore, StoreError
from lstmlab.torch import RecorderWarning, recorder, watch
from lstmlab.training.train import train
from tests.support.torch_runs import recording_that_died
from tests.support.unrolled_torch import example_norms, unrolled

ROOT = Path(__file__).resolve().parents[2]
IN, H = 3, 4


class Wrapper(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(IN, H)
        self.head = torch.nn.Linear(H, 1)


class OwnForward(torch.nn.GRU):
    def forward(self, x, hx=None):
        return super().forward(x * 2, hx)


REFUSED = [
    (lambda: torch.nn.LSTM(IN, H, bidirectional=True), r"^bidirectional=True: the lab's cells run forward"),
    (lambda: torch.nn.LSTM(IN, H, proj_size=2), r"^proj_size=2: the lab's LSTM has no projection"),
    (lambda: torch.nn.GRU(IN, H, num_layers=2, dropout=0.25), r"^dropout=0.25: PyTorch draws its masks"),
    (lambda: torch.nn.Linear(IN, H), r"^module: expected a torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU, got Linear$"),
    (Wrapper, r"got Wrapper \(this one holds 'lstm': watch that\)"),
    (lambda: torch.nn.LSTMCell(IN, H), r"^module: LSTMCell is one step of a cell"),
    (lambda: torch.nn.LSTM(IN, H).half(), r"^dtype torch.float16: the lab computes in float32 or float64"),
    (lambda: OwnForward(IN, H), r"^module: OwnForward overrides forward\(\)"),
    (lambda: torch.nn.RNN(IN, 2048), r"^hidden_size=2048: expected an integer from 1 to 1024"),
    (lambda: torch.nn.GRU(IN, H, num_layers=5), r"^layers=5: expected an integer from 1 to 4"),
]


@pytest.mark.parametrize("build,message", REFUSED, ids=[m.split(":")[0].strip("^\\") + str(i)
                                                         for i, (_, m) in enumerate(REFUSED)])
def test_a_module_it_cannot_follow_is_refused_at_watch(tmp_path, build, message):
    module = build()
    with pytest.raises(ValueError, match=message):
        watch(module, store=str(tmp_path / "runs.db"))
    assert not getattr(module, "_forward_hooks", {}), "a refused watch leaves no hook behind"
    assert not (tmp_path / "runs.db").exists()


@pytest.mark.parametrize("kwargs,error,message", [
    ({"every": 0}, ValueError, r"^every=0: expected an integer from 1 to 1000000"),
    ({"every": 2.5}, ValueError, r"^every=2.5: expected an integer"),
    ({"steps": -1}, ValueError, r"^steps=-1: expected an integer from 0"),
    ({"name": "x" * 201}, ValueError, r"^name .* has 201 characters: expected at most 200"),
    ({"store": "postgresql+psycopg://u@host:notaport/db"}, StoreError, r"not a valid postgresql\+psycopg URL"),
])
def test_bad_arguments_are_named_at_watch(tmp_path, kwargs, error, message):
    module = torch.nn.LSTM(IN, H)
    with pytest.raises(error, match=message):
        watch(module, **{"store": str(tmp_path / "runs.db"), **kwargs})
    assert not module._forward_hooks


def lstm(batch_first=False, layers=1, seed=0):
    torch.manual_seed(seed)
    return torch.nn.LSTM(IN, H, num_layers=layers, batch_first=batch_first).double()


def test_a_packed_sequence_is_refused_at_its_call(tmp_path):
    module = lstm()
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, IN, dtype=torch.float64), [5, 3])
    with watch(module, store=str(tmp_path / "runs.db")):
        with pytest.raises(ValueError, match=r"^input: a PackedSequence .* pad the batch to one length"):
            module(packed)


def test_autocast_is_refused_at_its_call(tmp_path):
    module = torch.nn.LSTM(IN, H)
    with watch(module, store=str(tmp_path / "runs.db")):
        with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(ValueError, match=r"^dtype: .*autocast"):
            module(torch.randn(5, 2, IN))


def test_a_step_before_backward_or_without_a_call_is_refused(tmp_path):
    module = lstm()
    with watch(module, store=str(tmp_path / "runs.db")) as rec:
        with pytest.raises(ValueError, match=r"^step 0: the module was not called with gradients"):
            rec.step(1.0)
        out, _ = module(torch.randn(5, 2, IN, dtype=torch.float64))
        with pytest.raises(ValueError, match=r"^step 0: no gradient reached the module's outputs; call rec.step"):
            rec.step(out.sum())


def per_example_means(parts: list[dict], axis: int) -> dict[str, np.ndarray]:
    """Joined example_norms of several unrolled passes (axis 1: one after another in time; 2: side by side),
    averaged over the batch: the flow table's (L, T) values."""
    return {k: np.concatenate([p[k] for p in parts], axis=axis).mean(axis=2) for k in parts[0]}


def stored(path, run_id, step=0) -> dict[str, np.ndarray]:
    run = RunStore(path).load(run_id)
    f = run.flow[run.flow["step"] == step].sort_values(["layer", "t"])
    L = int(f["layer"].max()) + 1
    return {c: f[c].to_numpy(dtype=float).reshape(L, -1) for c in ("dh_norm", "dc_norm", "dg_i", "dg_f", "dg_n",
                                                                   "dg_o")}


def assert_same(got: dict, want: dict) -> None:
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5 * np.abs(value).max(), err_msg=key)


@pytest.mark.parametrize("detach", [True, False])
def test_a_truncated_bptt_loop_is_one_pass_in_time(tmp_path, detach):
    """Three calls, each from the state the last one ended with (detached or not), one backward: recorded as one
    sequence of 3 x 4 steps, equal to autograd through the same unrolled calls."""
    module, path = lstm(layers=2), str(tmp_path / "runs.db")
    head = torch.nn.Linear(H, 1).double()
    gen = torch.Generator().manual_seed(3)
    chunks = [torch.randn(4, 2, IN, generator=gen, dtype=torch.float64) for _ in range(3)]

    def loop(call):
        state, loss = None, 0.0
        for x in chunks:
            out, state = call(x, state)
            loss = loss + (head(out) ** 2).mean()
            if detach:
                state = tuple(s.detach() for s in state)
        return loss

    with watch(module, store=path, every=1) as rec:
        loop(lambda x, s: module(x, s)).backward()
        rec.step(0.0)
    refs = []

    def ref_call(x, state):
        ref = unrolled(module, x, *(state if state is not None else (None, None)))
        refs.append(ref)
        return ref["out"], (ref["h_n"], ref["c_n"])

    loop(ref_call).backward()
    run = RunStore(path).load(rec.run_id)
    assert run.config.seq_len == 12 and sorted(set(run.flow["t"])) == list(range(1, 13))
    assert_same(stored(path, rec.run_id), per_example_means([example_norms(r, "LSTM") for r in refs], axis=1))


def test_gradient_accumulation_calls_are_one_batch(tmp_path):
    """Two micro-batches of one length, each with its own backward, an evaluation call under no_grad and a call the
    loss never used: recorded as one batch of the two micro-batches' examples."""
    module, path = lstm(batch_first=True), str(tmp_path / "runs.db")
    gen = torch.Generator().manual_seed(4)
    batches = [torch.randn(b, 6, IN, generator=gen, dtype=torch.float64) for b in (3, 2)]
    with watch(module, store=path, every=1) as rec:
        for x in batches:
            out, _ = module(x)
            ((out[:, -1] - 0.5) ** 2).mean().backward()
            with torch.no_grad():
                module(x)
        module(batches[0])  # with gradients, never backpropagated
        rec.step(0.0)
    parts = []
    for x in batches:
        ref = unrolled(module, x.transpose(0, 1))
        ((ref["out"][-1] - 0.5) ** 2).mean().backward()
        parts.append(example_norms(ref, "LSTM"))
    assert RunStore(path).load(rec.run_id).config.batch_size == 5
    assert_same(stored(path, rec.run_id), per_example_means(parts, axis=2))


def test_calls_of_several_lengths_side_by_side_are_refused(tmp_path):
    module = lstm()
    with watch(module, store=str(tmp_path / "runs.db")) as rec:
        for T in (5, 6):
            out, _ = module(torch.randn(T, 2, IN, dtype=torch.float64))
            out.sum().backward()
        with pytest.raises(ValueError, match=r"^step 0: the module was called 2 times with sequences of lengths "
                                             r"\[5, 6\], none continuing another"):
            rec.step(0.0)


def test_unbatched_input_is_one_example(tmp_path):
    torch.manual_seed(1)
    module, path = torch.nn.GRU(IN, H, num_layers=2).double(), str(tmp_path / "runs.db")
    x = torch.randn(6, IN, dtype=torch.float64)
    with watch(module, store=path, every=1) as rec:
        out, h_n = module(x)
        (out.sum() + h_n.sum()).backward()
        rec.step(0.0)
    ref = unrolled(module, x[:, None])
    (ref["out"].sum() + ref["h_n"].sum()).backward()
    got = RunStore(path).load(rec.run_id).flow.sort_values(["layer", "t"])
    want = example_norms(ref, "GRU")
    for column in ("dh_norm", "dg_r", "dg_z", "dg_n"):
        np.testing.assert_allclose(got[column].to_numpy().reshape(2, 6), want[column][..., 0], rtol=1e-10)


def train_a_few_steps(rec, module, steps: int, after=None) -> list[float]:
    """A plain training loop with the recorder; ``after(k)`` is called after step k. Returns the losses."""
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(9)
    losses = []
    for k in range(steps):
        out, _ = module(torch.randn(5, 2, IN, generator=gen, dtype=torch.float64))
        loss = (out ** 2).mean()
        loss.backward()
        rec.step(loss)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        if after is not None:
            after(k)
    return losses


def test_the_last_expected_step_is_recorded_too(tmp_path):
    path, module = str(tmp_path / "runs.db"), lstm()
    with watch(module, store=path, every=4, steps=7) as rec:
        train_a_few_steps(rec, module, 7)
    run = RunStore(path).load(rec.run_id)
    assert list(run.eval["step"]) == [0, 4, 6] and run.config.steps == 7 and len(run.steps) == 7


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_store_never_stops_training(tmp_path):
    """A PostgreSQL server that is not there: training runs to its end, one warning names the store's error, and
    the recorder lists every recording as missing."""
    module = lstm()
    url = f"postgresql+psycopg://lab:secret@127.0.0.1:{free_port()}/lstmlab"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with watch(module, store=url, every=2) as rec:
            losses = train_a_few_steps(rec, module, 6)
    assert len(losses) == 6 and rec.missing == [0, 2, 4] and rec.run_id is None
    mine = [w for w in caught if issubclass(w.category, RecorderWarning)]
    assert len(mine) == 1, [str(w.message) for w in mine]
    text = str(mine[0].message)
    assert "recording of step 0 is lost" in text and "cannot reach the database server at 127.0.0.1" in text
    assert "secret" not in text


DISK_FULL = textwrap.dedent("""
    import resource, sys, warnings, torch
    from lstmlab.torch import watch
    path = sys.argv[1]
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4).double()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    warnings.simplefilter("always")
    with watch(module, store=path, every=1, name="full disk") as rec:
        for k in range(8):
            if k == 3:  # the disk fills up: no file may grow past 4 KiB
                rec.flush()
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
            if k == 6:  # and has room again
                rec.flush()
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            out, h = module(torch.randn(5, 2, 3, dtype=torch.float64))
            loss = (out ** 2).mean()
            loss.backward()
            rec.step(loss)
            opt.step(); opt.zero_grad()
    print("RUN", rec.run_id, "MISSING", rec.missing, "STEPS", k + 1)
""")


def test_a_full_disk_loses_recordings_not_training(tmp_path):
    """A real write failure mid-run (the process may not grow any file: SQLite cannot write): training finishes,
    the recordings made meanwhile are missing and the run's message names them; its steps rows are all there."""
    path = str(tmp_path / "runs.db")
    out = subprocess.run([sys.executable, "-c", DISK_FULL, path], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "STEPS 8" in out.stdout and "MISSING [3, 4, 5]" in out.stdout, out.stdout + out.stderr
    assert out.stderr.count("RecorderWarning") == 1, out.stderr
    run = RunStore(path).load(out.stdout.split()[1])
    assert run.status == "finished"
    assert "3 recording(s) missing, of step(s) 3, 4, 5: the store did not take it (StoreError)" in run.message
    assert str(tmp_path) not in run.message  # the dashboard shows it: the store's location is not for every viewer
    assert "disk I/O error" in out.stderr or "disk is full" in out.stderr  # the user's warning says what happened
    assert list(run.eval["step"]) == [0, 1, 2, 6, 7] and sorted(set(run.flow["step"])) == [0, 1, 2, 6, 7]
    assert list(run.steps["step"]) == list(range(1, 9))


def test_a_stop_request_ends_the_recording_not_training(tmp_path):
    path = str(tmp_path / "runs.db")
    module = lstm()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with watch(module, store=path, every=1) as rec:
            def stop_after_first(k):
                if k == 0:
                    rec.flush()
                    RunStore(path).request_stop(rec.run_id)
            losses = train_a_few_steps(rec, module, 6, after=stop_after_first)
    assert len(losses) == 6
    run = RunStore(path).load(rec.run_id)
    assert run.status == "stopped" and run.message.startswith("recording stopped on request after step")
    assert len(run.eval) < 6 and rec.stopped
    assert any("stopped on request" in str(w.message) for w in caught if issubclass(w.category, RecorderWarning))


def test_a_recording_process_that_dies_leaves_a_lost_run_the_lab_will_not_train(tmp_path):
    path = str(tmp_path / "runs.db")
    run = RunStore(path, lost_after=0.0).load(recording_that_died(path, "torch.nn.RNN(3, 4)"))
    assert run.status == "lost"
    with pytest.raises(ValueError, match=r"^source='PyTorch .*: the run was recorded elsewhere"):
        train(run.config)


def test_a_recorded_run_exports_as_csv_like_the_labs(tmp_path):
    """flow.csv and runs.csv of a recorded run and a lab run together: the recorded one names its source, and its
    flow rows read back exactly."""
    import io

    import pandas as pd

    from lstmlab.core.config import RunConfig
    from lstmlab.views import export

    path = str(tmp_path / "runs.db")
    module = lstm()
    with watch(module, store=path, every=2) as rec:
        train_a_few_steps(rec, module, 3)
    store = RunStore(path)
    lab = store.save(train(RunConfig(seq_len=4, hidden_size=3, steps=2, record_every=1, batch_size=2, eval_size=2)))
    runs = [store.load(rec.run_id), store.load(lab)]
    flow = pd.read_csv(io.StringIO(export.table_csv(runs, "flow")), keep_default_na=False, na_values=[""])
    mine = flow[flow["run_id"] == rec.run_id]
    assert set(mine["source"]) == {runs[0].config.source} and mine["source"].iloc[0].startswith("PyTorch ")
    assert set(flow.loc[flow["run_id"] == lab, "source"].isna()) == {True}
    np.testing.assert_array_equal(mine["dh_norm"].to_numpy(), runs[0].flow["dh_norm"].to_numpy())
    listed = pd.read_csv(io.StringIO(export.table_csv(runs, "runs")), keep_default_na=False, na_values=[""])
    assert list(listed["task"].fillna("")) == ["", "adding"]


def test_recordings_go_beside_training_only_while_torch_leaves_a_core_free(tmp_path):
    """Computed on the recorder's thread while torch's intra-op threads leave a core free, else in rec.step; the
    recorder's thread itself (it stores) runs at WRITER_NICE, below training."""
    cores = len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    rec = watch(lstm(), store=str(tmp_path / "runs.db"))
    try:
        torch.set_num_threads(cores)
        assert not rec.beside()
        if cores > 1:
            torch.set_num_threads(cores - 1)
            assert rec.beside()
        assert os.getpriority(os.PRIO_PROCESS, rec._writer.native_id) == min(19, os.nice(0) + recorder.WRITER_NICE)
    finally:
        torch.set_num_threads(before)
        rec.close()


def test_a_recording_computed_between_steps_is_the_one_computed_beside_them(tmp_path, monkeypatch):
    """The same loop recorded both ways: between steps the lab's pass runs on the training thread with torch's
    thread count, beside them on the recorder's thread; the stored runs' flow and steps are identical."""
    real, seen = recorder.stack_flow, []

    def spy(*args, **kwargs):
        seen.append((threading.current_thread() is threading.main_thread(), compiled.threads()))
        return real(*args, **kwargs)

    monkeypatch.setattr(recorder, "stack_flow", spy)
    runs = {}
    for beside in (True, False):
        monkeypatch.setattr(recorder.Recorder, "beside", lambda self, beside=beside: beside)
        seen.clear()
        path, module = str(tmp_path / f"{beside}.db"), lstm(layers=2)
        with watch(module, store=path, every=2) as rec:
            train_a_few_steps(rec, module, 5)
        assert len(seen) == 3 and {on_main for on_main, _ in seen} == {not beside}
        if not beside:
            assert {n for _, n in seen} == {torch.get_num_threads()}
        runs[beside] = RunStore(path).load(rec.run_id)
    assert list(runs[True].eval["step"]) == [0, 2, 4]
    pd.testing.assert_frame_equal(runs[False].flow, runs[True].flow)
    pd.testing.assert_frame_equal(runs[False].steps.drop(columns="wall_time"), runs[True].steps.drop(columns="wall_time"))


@pytest.mark.parametrize("beside", [True, False])
def test_a_store_that_lags_holds_training_at_max_pending_recordings(tmp_path, monkeypatch, beside):
    """Recordings waiting to be stored are bounded (recorder.MAX_PENDING) however they were computed: with the
    store held, rec.step waits at the recording after them; released, every recording is stored."""
    held, real = threading.Event(), recorder._Writer._record

    def slow(self, *args):
        held.wait(60)
        return real(self, *args)

    monkeypatch.setattr(recorder._Writer, "_record", slow)
    monkeypatch.setattr(recorder.Recorder, "beside", lambda self: beside)
    path, module = str(tmp_path / "runs.db"), lstm()
    rec = watch(module, store=path, every=1)
    loop = threading.Thread(target=train_a_few_steps, args=(rec, module, 5))
    loop.start()
    deadline = time.monotonic() + 30
    while rec._step < recorder.MAX_PENDING and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    assert rec._step == recorder.MAX_PENDING and loop.is_alive()
    held.set()
    loop.join(60)
    rec.close()
    assert list(RunStore(path).load(rec.run_id).eval["step"]) == [0, 1, 2, 3, 4]
