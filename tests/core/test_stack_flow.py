"""lstmlab.core.model.stack_flow: a layer stack from given initial states, back from gradients given at its outputs,
against autograd on the cells unrolled in torch ops (tests/support/unrolled_torch.py), on both engines."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstmlab.core import engines
from lstmlab.core.model import stack_flow
from lstmlab.core.spec import ModelSpec
from lstmlab.core.torch_interop import module_layers
from tests.support.unrolled_torch import GATE_NAMES, grad, unrolled

T, B, IN, H = 6, 3, 2, 4
MODULES = {"rnn": (torch.nn.RNN, "RNN_TANH"), "rnn_relu": (torch.nn.RNN, "RNN_RELU"), "lstm": (torch.nn.LSTM, "LSTM"),
           "gru": (torch.nn.GRU, "GRU")}
# which gradients arrive from outside: the outputs only, also the final hidden states, also the final cell states
BOUNDARIES = ("out", "out+h_n", "out+h_n+c_n")
CASES = [(c, n, b, s) for c, n, b, s in itertools.product(MODULES, (1, 2, 3), BOUNDARIES, (False, True))
         if c == "lstm" or b != "out+h_n+c_n"]
IDS = [f"{c}-L{n}-{b}-{'h0' if s else 'zero'}" for c, n, b, s in CASES]


def problem(cell: str, layers: int, given_state: bool, dtype=torch.float64, seed: int = 0):
    """A module with random weights and biases, an input, initial states (or None) and random output gradients."""
    gen = torch.Generator().manual_seed(seed)
    cls, mode = MODULES[cell]
    extra = {"nonlinearity": "relu"} if mode == "RNN_RELU" else {}
    module = cls(IN, H, num_layers=layers, **extra).to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.6 * torch.randn(p.shape, generator=gen, dtype=dtype))
    x = torch.randn(T, B, IN, generator=gen, dtype=dtype)
    h0 = 0.5 * torch.randn(layers, B, H, generator=gen, dtype=dtype) if given_state else None
    c0 = 0.5 * torch.randn(layers, B, H, generator=gen, dtype=dtype) if given_state and cell == "lstm" else None
    g = {name: torch.randn(shape, generator=gen, dtype=dtype)
         for name, shape in (("out", (T, B, H)), ("h_n", (layers, B, H)), ("c_n", (layers, B, H)))}
    return module, x, h0, c0, g


def reference(module, x, h0, c0, g, boundary: str) -> dict:
    """Autograd through the unrolled cells of L = <out, g_out> (+ <h_n, g_h_n>) (+ <c_n, g_c_n>)."""
    ref = unrolled(module, x, h0, c0)
    loss = (ref["out"] * g["out"]).sum()
    if "h_n" in boundary:
        loss = loss + (ref["h_n"] * g["h_n"]).sum()
    if "c_n" in boundary:
        loss = loss + (ref["c_n"] * g["c_n"]).sum()
    loss.backward()
    return ref


def ours(module, x, h0, c0, g, boundary: str, cell: str, engine: str):
    dtype = "float64" if x.dtype == torch.float64 else "float32"
    spec = ModelSpec(cell=cell, input_size=IN, hidden_size=H, output_size=1, layers=module.num_layers, dtype=dtype)
    arr = lambda t: None if t is None else t.numpy()
    return stack_flow(spec, module_layers(module, cell), arr(x), arr(g["out"]), h0=arr(h0), c0=arr(c0),
                      dh_n=arr(g["h_n"]) if "h_n" in boundary else None,
                      dc_n=arr(g["c_n"]) if "c_n" in boundary else None, engine=engine)


def assert_close(value, want, what: str, rtol: float) -> None:
    """Elementwise rtol with atol at rtol times the reference's largest magnitude; never against all zeros."""
    scale = float(np.max(np.abs(want)))
    assert scale > 0, f"{what}: the reference is all zeros, the comparison would be vacuous"
    np.testing.assert_allclose(value, want, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("cell,layers,boundary,given_state", CASES, ids=IDS)
def test_states_and_flow_equal_autograd(cell, layers, boundary, given_state, engine):
    module, x, h0, c0, g = problem(cell, layers, given_state, seed=CASES.index((cell, layers, boundary, given_state)))
    ref = reference(module, x, h0, c0, g, boundary)
    res = ours(module, x, h0, c0, g, boundary, cell, engine)
    stacked = lambda f, key: np.array([[f(v) for v in layer] for layer in ref[key]])  # (L, T, B, H)
    value = lambda t: t.detach().numpy()
    assert_close(res.h, stacked(value, "h"), "h", 1e-12)
    assert_close(res.dh, stacked(grad, "h"), "dh", 1e-10)
    if cell == "lstm":
        assert_close(res.c, stacked(value, "c"), "c", 1e-12)
        assert_close(res.dc, stacked(grad, "c"), "dc", 1e-10)
    else:
        assert res.c is None and res.dc is None
    for gate in GATE_NAMES[MODULES[cell][1]]:
        want = np.array([[grad(pre[gate]) for pre in layer] for layer in ref["pre"]])
        assert_close(res.dgates[gate], want, f"dg_{gate}", 1e-10)


@pytest.mark.parametrize("cell", list(MODULES))
def test_float32_equals_autograd(cell, engine):
    module, x, h0, c0, g = problem(cell, 2, True, dtype=torch.float32, seed=7)
    boundary = "out+h_n+c_n" if cell == "lstm" else "out+h_n"
    ref = reference(module, x, h0, c0, g, boundary)
    res = ours(module, x, h0, c0, g, boundary, cell, engine)
    assert res.dh.dtype == np.float32
    for k in range(2):
        assert_close(res.dh[k], np.stack([grad(h) for h in ref["h"][k]]), f"dh, layer {k}", 1e-4)
        if cell == "lstm":
            assert_close(res.dc[k], np.stack([grad(c) for c in ref["c"][k]]), f"dc, layer {k}", 1e-4)


def test_the_final_cell_state_gradient_matters():
    """dc_n changes the flow (so the comparison above would catch an engine that dropped it), and both engines
    hand it on bit for bit alike in the steps it reaches first."""
    module, x, h0, c0, g = problem("lstm", 2, True)
    with_c = ours(module, x, h0, c0, g, "out+h_n+c_n", "lstm", "compiled")
    without = ours(module, x, h0, c0, g, "out+h_n", "lstm", "compiled")
    assert np.abs(with_c.dc[:, -1] - without.dc[:, -1]).max() > 0.1
    ref = ours(module, x, h0, c0, g, "out+h_n+c_n", "lstm", "reference")
    np.testing.assert_allclose(with_c.dc, ref.dc, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(with_c.dh, ref.dh, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("engine_name", engines.ENGINES)
def test_the_engines_sum_weight_gradients_with_dc_last(engine_name):
    """backprop(..., x=, dc_last=) sums dWh and dWx as autograd's chain rule gives them from the retained
    pre-activation gradients (the compiled engine's extra step adds nothing to them)."""
    module, x, h0, c0, g = problem("lstm", 1, True)
    eng = engines.get(engine_name)
    p = module_layers(module, "lstm")
    xs = x.numpy()
    run = eng.unroll("lstm", xs, p["l0.Wx"], p["l0.b"], p["l0.Wh"], None, h0[0].numpy(), c0[0].numpy())
    flow = eng.backprop("lstm", run, g["out"].numpy().copy(), p["l0.Wh"], x=xs, dc_last=g["c_n"][0].numpy())
    ref = reference(module, x, h0, c0, g, "out+h_n+c_n".replace("+h_n", ""))
    da = np.stack([np.concatenate([grad(pre[gate]) for gate in "ifno"], axis=1) for pre in ref["pre"][0]])
    h_prev = np.concatenate([h0[0].numpy()[None], np.stack([h.detach().numpy() for h in ref["h"][0][:-1]])])
    dWh = flow.dWh if flow.dWh is not None else np.einsum("tbh,tbg->hg", run.h[:-1], flow.da)
    dWx = flow.dWx if flow.dWx is not None else np.einsum("tbi,tbg->ig", xs, flow.da)
    assert_close(dWh, np.einsum("tbh,tbg->hg", h_prev, da), "dWh", 1e-10)
    assert_close(dWx, np.einsum("tbi,tbg->ig", xs, da), "dWx", 1e-10)
    assert flow.dh.shape == (T, B, H) and flow.da.shape == (T, B, 4 * H) and flow.dc.shape == (T, B, H)


@pytest.mark.parametrize("field,value,expected", [
    ("d_out", np.zeros((T, B, H + 1)), f"d_out: shape (6, 3, 5), expected {(T, B, H)}"),
    ("h0", np.full((2, B, H), np.nan), "h0: contains NaN or inf"),
    ("dc_n", np.zeros((2, B, H)), "c0, dc_n: given for cell 'gru', which has no cell state"),
])
def test_bad_boundaries_are_named(field, value, expected):
    module, x, _, _, g = problem("gru", 2, False)
    spec = ModelSpec(cell="gru", input_size=IN, hidden_size=H, output_size=1, layers=2)
    kwargs = {"d_out": g["out"].numpy(), field: value}
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        stack_flow(spec, module_layers(module, "gru"), x.numpy(), **kwargs)


def test_params_need_only_the_layers():
    module, x, _, _, g = problem("rnn", 2, False)
    spec = ModelSpec(cell="rnn", input_size=IN, hidden_size=H, output_size=1, layers=2)
    p = module_layers(module, "rnn")
    assert sorted(p) == ["l0.Wh", "l0.Wx", "l0.b", "l1.Wh", "l1.Wx", "l1.b"]
    del p["l1.Wh"]
    with pytest.raises(ValueError, match=r"params: missing \['l1.Wh'\]"):
        stack_flow(spec, p, x.numpy(), g["out"].numpy())


@pytest.mark.parametrize("cell", ["lstm97", "lstm97fc"])
def test_the_engines_hand_on_dc_last_alike_for_lstm97(cell):
    """The 1997 LSTM (no forget gate, c_t = c_{t-1} + i n) takes dc_last too: the compiled engine's extra step
    hands it on exactly as the reference engine's carousel starts from it, and it changes the flow; lstm97fc's
    weight gradient dWh, which the compiled engine sums over the extra step's u_T too, agrees as well."""
    gen = np.random.default_rng(3)
    I, GH = 2, 3 * H
    S = GH if cell == "lstm97fc" else H
    x = gen.standard_normal((T, B, I))
    Wx, b, Wh = 0.6 * gen.standard_normal((I, GH)), 0.6 * gen.standard_normal(GH), 0.6 * gen.standard_normal((S, GH))
    h0, c0 = 0.5 * gen.standard_normal((B, H)), 0.5 * gen.standard_normal((B, H))
    inject, dc_last = gen.standard_normal((T, B, H)), gen.standard_normal((B, H))
    flows, dWh = {}, {}
    for name in engines.ENGINES:
        eng = engines.get(name)
        run = eng.unroll(cell, x, Wx, b, Wh, None, h0, c0)
        flows[name] = eng.backprop(cell, run, inject.copy(), Wh, x=x, dc_last=dc_last)
        without = eng.backprop(cell, run, inject.copy(), Wh)
        assert np.abs(flows[name].dc[0] - without.dc[0]).max() > 0.1, name
        dWh[name] = flows[name].dWh if flows[name].dWh is not None else \
            np.einsum("tbs,tbg->sg", run.sources[:-1], flows[name].dhh)
    ref, comp = flows["reference"], flows["compiled"]
    for what in ("dh", "dc", "da"):
        np.testing.assert_allclose(getattr(comp, what), getattr(ref, what), rtol=1e-12, atol=1e-14, err_msg=what)
    assert dWh["compiled"].shape == (S, GH)
    np.testing.assert_allclose(dWh["compiled"], dWh["reference"], rtol=1e-12, atol=1e-13)


def test_the_layers_arrays_are_read_without_stacking_and_equal_the_stacked_ones():
    """StackFlow.per_layer hands out the engine's arrays of each layer (what flow_block reads), the same values as the
    (L, ...) arrays it stacks when those are read; c and dc are None for a cell without a cell state."""
    for cell in ("lstm", "gru"):
        module, x, h0, c0, g = problem(cell, 2, True)
        res = ours(module, x, h0, c0, g, "out+h_n", cell, "compiled")
        for name in ("h", "dh", "c", "dc", "acts", "dacts"):
            layers, stacked = res.per_layer(name), getattr(res, name)
            if cell == "gru" and name in ("c", "dc"):
                assert layers is None and stacked is None
                continue
            assert len(layers) == 2 and not np.shares_memory(layers[0], stacked)
            for k in range(2):
                np.testing.assert_array_equal(layers[k], stacked[k], err_msg=f"{cell} {name} layer {k}")
