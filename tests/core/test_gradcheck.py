"""Central-difference gradient checks of every cell, depth, head and loss."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from lstmlab.core.config import CELLS
from lstmlab.core.engines import reference
from lstmlab.core.gradcheck import grad_check
from lstmlab.core.model import bptt, loss_fn
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec

CASES = list(itertools.product(CELLS, [1, 2], ["last", "all"], ["mse", "xent"]))


def make_problem(cell, layers, head, loss, seed, gradient="full", direct="no"):
    rng = np.random.default_rng(seed)
    T, B, I, H, O = rng.integers(3, 7), rng.integers(2, 4), rng.integers(1, 4), rng.integers(2, 6), 3
    spec = ModelSpec(cell=cell, input_size=int(I), hidden_size=int(H), output_size=O, layers=layers, head=head,
                     gradient=gradient, direct=direct)
    params = init_params(spec, weight_scale=1.1, seed=seed)
    # perturb so that biases and GRU's bhn are non-zero and no symmetry hides a wrong term
    params = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in params.items()}
    x = rng.standard_normal((T, B, I))
    lead = (B,) if head == "last" else (T, B)
    y = rng.integers(0, O, lead) if loss == "xent" else rng.standard_normal(lead + (O,))
    return spec, params, x, y


@pytest.mark.parametrize("cell,layers,head,loss", CASES)
def test_gradients_match_central_differences(cell, layers, head, loss, engine):
    spec, params, x, y = make_problem(cell, layers, head, loss, seed=hash((cell, layers, head, loss)) % 2**32)
    report = grad_check(spec, params, x, y, loss, eps=1e-5, engine=engine)
    assert set(report.errors) == set(params)
    assert report.max_error < 1e-6, report.errors


@pytest.mark.parametrize("cell,head,loss", list(itertools.product(CELLS, ["last", "all"], ["mse", "xent"])))
def test_input_to_output_weights_match_central_differences(cell, head, loss, engine):
    """A head reading the input too (``direct="yes"``): head.Wx's gradient and every other."""
    spec, params, x, y = make_problem(cell, 2, head, loss, seed=hash((cell, head, loss, "direct")) % 2**32,
                                      direct="yes")
    report = grad_check(spec, params, x, y, loss, eps=1e-5, engine=engine)
    assert set(report.errors) == set(params) and "head.Wx" in report.errors
    assert report.max_error < 1e-6, report.errors


def test_grad_check_detects_a_wrong_gradient(monkeypatch):
    """The checker itself must fail on a broken backward pass."""
    spec, params, x, y = make_problem("lstm", 1, "last", "mse", seed=3)
    good = reference.STEPS["lstm"]

    def broken(dh, dc_next, cache, Wh, truncated=False):
        g = good.backward(dh, dc_next, cache, Wh, truncated)
        return g._replace(c_prev=g.c_prev * 0.5)  # forget-gate path halved

    monkeypatch.setitem(reference.STEPS, "lstm", good._replace(backward=broken))
    assert grad_check(spec, params, x, y, "mse", engine="reference").max_error > 1e-3


@pytest.mark.parametrize("cell", CELLS)
def test_dh_is_total_derivative_by_perturbing_a_hidden_state(cell, engine, monkeypatch):
    """dL/dh_t checked by central differences on an offset added to h_t inside the reference unroll."""
    from lstmlab.core.model import forward, loss_fn

    spec, params, x, y = make_problem(cell, 2, "all", "mse", seed=5)
    res = bptt(spec, params, x, y, "mse", engine=engine)
    T = x.shape[0]
    base = reference.STEPS[cell]
    eps = 1e-6
    for layer, j, b, u in [(0, 1, 0, 1), (1, 0, 1, 0), (0, T - 1, 1, 1)]:
        values = []
        for sign in (+1, -1):
            calls = {"n": 0}

            def shifted(xw, h_prev, c_prev, Wh, bhn, sign=sign, calls=calls):
                h, c, gates, cache = base.forward(xw, h_prev, c_prev, Wh, bhn)
                if calls["n"] == layer * T + j:  # layers unroll in order: layer 0's steps come first
                    h = h.copy()
                    h[b, u] += sign * eps
                calls["n"] += 1
                return h, c, gates, cache

            monkeypatch.setitem(reference.STEPS, cell, base._replace(forward=shifted))
            values.append(loss_fn(forward(spec, params, x, engine="reference"), y, "mse")[0])
            monkeypatch.setitem(reference.STEPS, cell, base)
        numeric = (values[0] - values[1]) / (2 * eps)
        assert numeric == pytest.approx(res.dh[layer, j, b, u], rel=1e-6, abs=1e-10)


# ------------------------------------------------------------------ the truncated gradient


def frozen_recurrence_loss(spec, params, x, y, loss, frozen):
    """The loss of the network in which step t of layer k reads ``frozen[k][t]`` as its recurrent input u_{t-1}
    (fixed arrays: h_{t-1}, or [h_{t-1}, i_{t-1}, o_{t-1}] for "lstm97fc") instead of its own previous one;
    everything else (the input from the layer below, the cell state) flows as usual.

    For the cells whose h_{t-1} enters a step only through h_{t-1} Wh (all but the GRU), the gradient of this loss
    at frozen = the network's own states is the truncated gradient: the same network, with no path through
    h_{t-1} Wh.
    """
    inp = x
    for k in range(spec.layers):
        xw = inp @ params[f"l{k}.Wx"] + params[f"l{k}.b"]
        c = np.zeros((x.shape[1], spec.hidden_size))
        hs = []
        for t in range(x.shape[0]):
            h, c, _, _ = reference.STEPS[spec.cell].forward(xw[t], frozen[k][t], c, params[f"l{k}.Wh"], None)
            hs.append(h)
        inp = np.stack(hs)
    feats = inp[-1] if spec.head == "last" else inp
    return loss_fn(feats @ params["head.W"] + params["head.b"], y, loss)[0]


@pytest.mark.parametrize("cell", [c for c in CELLS if c != "gru"])
@pytest.mark.parametrize("layers,head", [(1, "last"), (2, "all")])
def test_the_truncated_gradient_is_the_gradient_with_the_recurrent_input_held_fixed(cell, layers, head, engine):
    """Central differences on the loss with every h_{t-1} Wh reading the unperturbed network's h_{t-1}."""
    spec, params, x, y = make_problem(cell, layers, head, "mse", seed=17 + layers, gradient="truncated")
    res = bptt(spec, params, x, y, "mse", engine=engine)
    ref = bptt(spec, params, x, y, "mse", engine="reference")  # unperturbed
    states = ref.h if cell != "lstm97fc" else np.concatenate([ref.h, ref.gates["i"], ref.gates["o"]], axis=-1)
    frozen = [np.concatenate([np.zeros_like(states[k, :1]), states[k, :-1]]) for k in range(layers)]
    eps = 1e-6
    for name, arr in params.items():
        numeric = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            plus = frozen_recurrence_loss(spec, params, x, y, "mse", frozen)
            arr[i] = old - eps
            minus = frozen_recurrence_loss(spec, params, x, y, "mse", frozen)
            arr[i] = old
            numeric[i] = (plus - minus) / (2 * eps)
        err = np.linalg.norm(res.grads[name] - numeric) / max(np.linalg.norm(res.grads[name]) + np.linalg.norm(numeric),
                                                             1e-300)
        assert err < 1e-6, (name, err)
    full = bptt(replace(spec, gradient="full"), params, x, y, "mse", engine=engine)
    assert np.linalg.norm(full.grads["l0.Wx"] - res.grads["l0.Wx"]) > 1e-6 * np.linalg.norm(full.grads["l0.Wx"])


def test_grad_check_refuses_the_truncated_gradient():
    spec, params, x, y = make_problem("lstm97", 1, "last", "mse", seed=3, gradient="truncated")
    with pytest.raises(ValueError, match=r"^gradient='truncated': expected 'full'"):
        grad_check(spec, params, x, y, "mse")
