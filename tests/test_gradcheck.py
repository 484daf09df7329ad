"""Central-difference gradient checks of every cell, depth, head and loss."""

import itertools

import numpy as np
import pytest

from lstmlab import ModelSpec, bptt, grad_check, init_params

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
def test_gradients_match_central_differences(cell, layers, head, loss):
    spec, params, x, y = make_problem(cell, layers, head, loss, seed=hash((cell, layers, head, loss)) % 2**32)
    report = grad_check(spec, params, x, y, loss, eps=1e-5)
    assert set(report.errors) == set(params)
    assert report.max_error < 1e-6, report.errors


def test_grad_check_detects_a_wrong_gradient(monkeypatch):
    """The checker itself must fail on a broken backward pass."""
    import dataclasses

    import lstmlab.cells as cells

    spec, params, x, y = make_problem("lstm", 1, "last", "mse", seed=3)
    good = cells.CELLS["lstm"]

    def broken(tape, j, dh, dc_next, p):
        dh_prev, dc_prev = good.backward(tape, j, dh, dc_next, p)
        return dh_prev, dc_prev * 0.5  # forget-gate path halved

    monkeypatch.setitem(cells.CELLS, "lstm", dataclasses.replace(good, backward=broken))
    assert grad_check(spec, params, x, y, "mse").max_error > 1e-3


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_dh_is_total_derivative_by_perturbing_a_hidden_state(cell, monkeypatch):
    """dL/dh_t checked by central differences on an offset added to h_t inside the unroll."""
    import dataclasses

    import lstmlab.cells as cells
    from lstmlab.model import forward, loss_fn

    spec, params, x, y = make_problem(cell, 2, "all", "mse", seed=5)
    res = bptt(spec, params, x, y, "mse")
    T = x.shape[0]
    base = cells.CELLS[cell]
    eps = 1e-6
    for layer, j, b, u in [(0, 1, 0, 1), (1, 0, 1, 0), (0, T - 1, 1, 1)]:
        values = []
        for sign in (+1, -1):
            calls = {"n": 0}

            def shifted(tape, step, p, sign=sign, calls=calls):
                base.forward(tape, step, p)
                if calls["n"] == layer * T + j:  # layers unroll in order: layer 0's steps come first
                    tape.h[step + 1, b, u] += sign * eps
                calls["n"] += 1

            monkeypatch.setitem(cells.CELLS, cell, dataclasses.replace(base, forward=shifted))
            values.append(loss_fn(forward(spec, params, x), y, "mse")[0])
            monkeypatch.setitem(cells.CELLS, cell, base)
        numeric = (values[0] - values[1]) / (2 * eps)
        assert numeric == pytest.approx(res.dh[layer, j, b, u], rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_backward_coefficients_in_blocks_change_nothing(cell, monkeypatch):
    """Long sequences form the backward coefficients block by block: the results are bit-identical."""
    import lstmlab.model as model

    spec, params, x, y = make_problem(cell, 2, "all", "mse", seed=11)
    x = np.concatenate([x] * 5)[:21]  # 21 steps: blocks of 8, 8 and 5
    y = np.concatenate([y] * 5)[:21]
    whole = bptt(spec, params, x, y, "mse")
    monkeypatch.setattr(model, "COEFFICIENT_BYTES", 1)
    assert model.coefficient_chunk(model._forward_all(spec, spec.check_params(params), x)[0][0][1]) == 8
    blocks = bptt(spec, params, x, y, "mse")
    for name in whole.grads:
        np.testing.assert_array_equal(blocks.grads[name], whole.grads[name])
    np.testing.assert_array_equal(blocks.dh, whole.dh)
    if whole.dc is not None:
        np.testing.assert_array_equal(blocks.dc, whole.dc)
    for g in whole.dgates:
        np.testing.assert_array_equal(blocks.dgates[g], whole.dgates[g])
    assert grad_check(spec, params, x[:9], y[:9], "mse").max_error < 1e-6
