"""Central-difference gradient checks of every cell, depth, head and loss."""

import itertools

import numpy as np
import pytest

from lstmlab.core.engines import reference
from lstmlab.core.gradcheck import grad_check
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec

CASES = list(itertools.product(["rnn", "lstm", "gru"], [1, 2], ["last", "all"], ["mse", "xent"]))


def make_problem(cell, layers, head, loss, seed):
    rng = np.random.default_rng(seed)
    T, B, I, H, O = rng.integers(3, 7), rng.integers(2, 4), rng.integers(1, 4), rng.integers(2, 6), 3
    spec = ModelSpec(cell=cell, input_size=int(I), hidden_size=int(H), output_size=O, layers=layers, head=head)
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


def test_grad_check_detects_a_wrong_gradient(monkeypatch):
    """The checker itself must fail on a broken backward pass."""
    spec, params, x, y = make_problem("lstm", 1, "last", "mse", seed=3)
    good = reference.STEPS["lstm"]

    def broken(dh, dc_next, cache, Wh):
        g = good.backward(dh, dc_next, cache, Wh)
        return g._replace(c_prev=g.c_prev * 0.5)  # forget-gate path halved

    monkeypatch.setitem(reference.STEPS, "lstm", good._replace(backward=broken))
    assert grad_check(spec, params, x, y, "mse", engine="reference").max_error > 1e-3


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
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
