"""lstmlab.torch.watch: the flow a PyTorch module's recording stores equals autograd on its cells unrolled with
retain_grad on every h_t, c_t and gate pre-activation (tests/unrolled_torch.py), read back from a real SQLite store.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstmlab.store import RunStore
from lstmlab.torch import watch
from tests.support.unrolled_torch import flow_norms, unrolled

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
LOSSES = ("last", "every", "final_states")
IN, H, T, B = 3, 5, 7, 4
RTOL = {torch.float64: 1e-5, torch.float32: 1e-4}
CASES = list(itertools.product(MODES, (1, 2, 3), (False, True), (False, True), LOSSES))
CASES += [(mode, layers, batch_first, given, loss, "float32") for mode in MODES for loss in LOSSES
          for layers, batch_first, given in ((2, True, True), (1, False, False))]
CASES = [c if len(c) == 6 else (*c, "float64") for c in CASES]
IDS = [f"{m}-L{n}-{'bf' if bf else 'tf'}-{'h0' if s else 'zero'}-{loss}-{d}" for m, n, bf, s, loss, d in CASES]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """One SQLite run store for the module's recordings (each test records a run of its own)."""
    return str(tmp_path_factory.mktemp("torchrec") / "runs.db")


def make_module(mode: str, layers: int, batch_first: bool, dtype, seed: int):
    torch.manual_seed(seed)
    cls = {"RNN_TANH": torch.nn.RNN, "RNN_RELU": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[mode]
    kwargs = {"nonlinearity": "relu" if mode == "RNN_RELU" else "tanh"} if mode.startswith("RNN") else {}
    module = cls(IN, H, num_layers=layers, batch_first=batch_first, **kwargs).to(dtype)
    with torch.no_grad():  # biases and weights away from PyTorch's small uniform init, so every path matters
        for p in module.parameters():
            p.mul_(2.0).add_(0.1 * torch.randn_like(p))
    return module


class Loss:
    """The user's loss on the module's outputs, the same function of the unrolled reference's: on the last output,
    on every output, or on the final states (h_n of every layer, and c_n for an LSTM)."""

    def __init__(self, kind: str, dtype, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.kind = kind
        self.head = torch.nn.Linear(H, 2).to(dtype)
        self.y = torch.randn(T, B, 2, generator=gen, dtype=dtype)

    def __call__(self, out_time_major, h_n, c_n):
        if self.kind == "last":
            return ((self.head(out_time_major[-1]) - self.y[-1]) ** 2).mean()
        if self.kind == "every":
            return ((self.head(out_time_major) - self.y) ** 2).mean()
        loss = ((self.head(h_n[-1]) - self.y[-1]) ** 2).mean() + 0.3 * (h_n ** 2).mean()
        return loss if c_n is None else loss + 0.2 * (c_n ** 2).mean()


def user_step(module, x_tm, h0, c0, loss_fn):
    """What the user's loop does with the module: call it (batch_first as it is built), take the loss, backward."""
    x = x_tm.transpose(0, 1) if module.batch_first else x_tm
    hx = None if h0 is None else ((h0, c0) if module.mode == "LSTM" else h0)
    out, hidden = module(x, hx)
    h_n, c_n = hidden if isinstance(hidden, tuple) else (hidden, None)
    loss = loss_fn(out.transpose(0, 1) if module.batch_first else out, h_n, c_n)
    loss.backward()
    return loss, out


def reference(module, x_tm, h0, c0, loss_fn) -> dict:
    """Autograd on the unrolled cells with the module's current weights: the flow columns, (L, T) each."""
    ref = unrolled(module, x_tm, h0, c0)
    loss_fn(ref["out"], ref["h_n"], ref["c_n"]).backward()
    return ref


def record_case(store: str, mode: str, layers: int, batch_first: bool, given_state: bool, loss_kind: str, dtype,
                seed: int):
    """One training step of a case recorded into ``store`` (every=1): (module, time-major x, h0, c0, loss function,
    recorder, loss, module output)."""
    module = make_module(mode, layers, batch_first, dtype, seed)
    gen = torch.Generator().manual_seed(seed)
    x_tm = torch.randn(T, B, IN, generator=gen, dtype=dtype)
    h0 = 0.5 * torch.randn(layers, B, H, generator=gen, dtype=dtype) if given_state else None
    c0 = 0.5 * torch.randn(layers, B, H, generator=gen, dtype=dtype) if given_state and mode == "LSTM" else None
    loss_fn = Loss(loss_kind, dtype, seed)
    with watch(module, store=store, name=f"case {seed}", every=1) as rec:
        loss, out = user_step(module, x_tm, h0, c0, loss_fn)
        rec.step(loss)
    return module, x_tm, h0, c0, loss_fn, rec, loss, out


def stored_flow(run, step: int, layers: int) -> dict[str, np.ndarray]:
    """The run's flow rows of one recording as (L, T) arrays per column."""
    f = run.flow[run.flow["step"] == step].sort_values(["layer", "t"])
    assert list(f["t"]) == list(range(1, T + 1)) * layers and list(f["lag"]) == list(range(T - 1, -1, -1)) * layers
    return {c: f[c].to_numpy(dtype=float).reshape(layers, T) for c in f.columns if c.startswith(("dh", "dc", "dg"))}


def assert_flow(stored: dict, expected: dict, rtol: float, what: str) -> None:
    assert sorted(c for c in stored if not np.isnan(stored[c]).all()) == sorted(expected), what
    for column, want in expected.items():
        scale = float(np.max(np.abs(want)))
        assert scale > 0, f"{what} {column}: the reference is all zeros"
        np.testing.assert_allclose(stored[column], want, rtol=rtol, atol=rtol * scale, err_msg=f"{what} {column}")


@pytest.mark.parametrize("mode,layers,batch_first,given_state,loss_kind,dtype_name", CASES, ids=IDS)
def test_stored_flow_equals_autograd(store_path, mode, layers, batch_first, given_state, loss_kind, dtype_name):
    dtype = getattr(torch, dtype_name)
    seed = CASES.index((mode, layers, batch_first, given_state, loss_kind, dtype_name))
    module, x_tm, h0, c0, loss_fn, rec, loss, out = record_case(store_path, mode, layers, batch_first, given_state,
                                                                loss_kind, dtype, seed)
    assert rec.missing == []
    run = RunStore(store_path).load(rec.run_id)

    ref = reference(module, x_tm, h0, c0, loss_fn)
    out_tm = out.transpose(0, 1) if batch_first else out
    np.testing.assert_allclose(ref["out"].detach().numpy(), out_tm.detach().numpy(), rtol=RTOL[dtype],
                               atol=1e-6, err_msg="the unrolled reference computes what the module computes")
    assert run.status == "finished" and run.config.source.startswith("PyTorch ")
    assert (run.config.cell, run.config.layers, run.config.seq_len, run.config.batch_size) == (
        {"RNN_TANH": "rnn", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}[mode], layers, T, B)
    assert list(run.eval["step"]) == [0] and float(run.steps["loss"].iloc[0]) == pytest.approx(loss.item(), rel=1e-12)
    assert_flow(stored_flow(run, 0, layers), flow_norms(ref, mode), RTOL[dtype], IDS[seed])


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_each_recording_uses_the_weights_of_its_step(store_path, mode):
    """Recorded steps 0, 2, 4 of a training loop (every=2) each equal autograd with the weights of that step; the
    steps table has a row per step with its loss and the module's gradient norms."""
    module = make_module(mode, 2, True, torch.float64, seed=11)
    loss_fn = Loss("every", torch.float64, 11)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(5)
    expected, losses, norms, sigmas = {}, [], [], []
    with watch(module, store=store_path, every=2) as rec:
        for k in range(5):
            x_tm = torch.randn(T, B, IN, generator=gen, dtype=torch.float64)
            loss, _ = user_step(module, x_tm, None, None, loss_fn)
            norms.append(float(np.linalg.norm(module.weight_hh_l1.grad.numpy())))
            rec.step(loss)
            losses.append(loss.item())
            if k % 2 == 0:
                expected[k] = flow_norms(reference(module, x_tm, None, None, loss_fn), mode)
                W = module.weight_hh_l0.detach().numpy()  # (G H, H): each gate's block's largest singular value
                sigmas.append(max(np.linalg.svd(W[g * H:(g + 1) * H], compute_uv=False)[0]
                                  for g in range(W.shape[0] // H)))
            opt.step()
            opt.zero_grad()
    run = RunStore(store_path).load(rec.run_id)
    assert list(run.eval["step"]) == [0, 2, 4] and sorted(expected) == [0, 2, 4]
    for k, want in expected.items():
        assert_flow(stored_flow(run, k, 2), want, 1e-5, f"step {k}")
    assert list(run.steps["step"]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(run.steps["loss"], losses, rtol=1e-12)
    np.testing.assert_allclose(run.steps["gnorm:l1.Wh"], norms, rtol=1e-12)
    assert run.steps["sigma_max:l0"].notna().tolist() == [True, False, True, False, True]
    np.testing.assert_allclose(run.steps["sigma_max:l0"].dropna(), sigmas, rtol=1e-10)
    assert (run.steps["forget_mean"].notna().tolist() == [True, False, True, False, True]) == (mode == "LSTM")
    assert run.status == "finished" and run.message.startswith("recorded from PyTorch every 2 steps, 5 steps")
