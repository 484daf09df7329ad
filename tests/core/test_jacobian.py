"""Jacobian spectra against explicit products and finite differences."""

import numpy as np
import pytest

from lstmlab import cell_state_jacobian
from lstmlab.core.engines import reference
from lstmlab.core.jacobian import jacobian_spectrum
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec


def test_rnn_spectrum_equals_explicit_product():
    T, H = 12, 6
    spec = ModelSpec(cell="rnn", input_size=2, hidden_size=H, output_size=1)
    params = init_params(spec, weight_scale=1.3, seed=4)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, 3, 2))
    sv = jacobian_spectrum(spec, params, x, example=1)
    h = bptt(spec, params, x, np.zeros((3, 1))).h[0, :, 1]  # (T, H)
    Wh = params["l0.Wh"]
    J = np.eye(H)
    np.testing.assert_allclose(sv[0], 1.0)
    for k in range(1, T + 1):
        j = T - k  # 0-based index of h_{T-k+1}
        J = J @ (np.diag(1 - h[j] ** 2) @ Wh.T)  # d h_T / d h_{T-k}, column convention
        expected = np.linalg.svd(J, compute_uv=False)
        np.testing.assert_allclose(sv[k], expected, rtol=1e-10, atol=1e-12 * expected[0])


def test_orthogonal_linear_regime_spectrum_is_scale_to_the_lag():
    T, H, s = 50, 8, 0.9
    spec = ModelSpec(cell="rnn", input_size=1, hidden_size=H, output_size=1)
    params = init_params(spec, weight_scale=s, seed=0)
    sv = jacobian_spectrum(spec, params, np.full((T, 1, 1), 1e-9))
    np.testing.assert_allclose(sv, s ** np.arange(T + 1)[:, None] * np.ones((1, H)), rtol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm97", "lstm97ig", "rnn_relu", "rnn_logistic"])
def test_gated_spectrum_matches_finite_differences(cell):
    T, H, k, eps = 6, 3, 4, 1e-6
    spec = ModelSpec(cell=cell, input_size=2, hidden_size=H, output_size=1)
    params = init_params(spec, weight_scale=1.0, seed=1)
    x = np.random.default_rng(2).standard_normal((T, 1, 2))
    sv = jacobian_spectrum(spec, params, x)
    lstm = cell in ("lstm", "lstm97", "lstm97ig")
    S = 2 * H if lstm else H

    def run(steps, state=None):
        """The state after the given steps of x, starting from ``state`` (zero if None)."""
        h0 = c0 = None
        if state is not None:
            h0, c0 = state[None, :H], (state[None, H:] if lstm else None)
        out = reference.unroll(cell, x[steps], params["l0.Wx"], params["l0.b"], params["l0.Wh"], params.get("l0.bhn"),
                               h0=h0, c0=c0)
        return np.concatenate([out.h[-1, 0], out.c[-1, 0]]) if lstm else out.h[-1, 0]

    base = run(slice(0, T - k))
    J = np.empty((S, S))
    for j in range(S):
        e = np.zeros(S)
        e[j] = eps
        J[:, j] = (run(slice(T - k, T), base + e) - run(slice(T - k, T), base - e)) / (2 * eps)
    np.testing.assert_allclose(sv[k], np.linalg.svd(J, compute_uv=False), rtol=1e-7, atol=1e-9)


def test_lstm97fc_spectrum_matches_finite_differences_of_its_whole_state():
    """lstm97fc's state is (h_t, i_t, o_t, c_t): the next step reads the gates' outputs too."""
    T, H, k, eps = 6, 3, 4, 1e-6
    spec = ModelSpec(cell="lstm97fc", input_size=2, hidden_size=H, output_size=1)
    params = init_params(spec, weight_scale=0.5, init="uniform", seed=1)
    x = np.random.default_rng(2).standard_normal((T, 1, 2))
    sv = jacobian_spectrum(spec, params, x)
    xw = x @ params["l0.Wx"] + params["l0.b"]

    def run(steps, state):
        """The state (h, i, o, c) after the given steps of x, starting from ``state``."""
        u, c = state[None, : 3 * H], state[None, 3 * H :]
        for t in steps:
            h, c, gates, _ = reference.lstm97fc_step_forward(xw[t], u, c, params["l0.Wh"], None)
            u = np.concatenate([h, gates[:, :H], gates[:, 2 * H :]], axis=1)
        return np.concatenate([u[0], c[0]])

    base = run(range(T - k), np.zeros(4 * H))
    J = np.empty((4 * H, 4 * H))
    for j in range(4 * H):
        e = np.zeros(4 * H)
        e[j] = eps
        J[:, j] = (run(range(T - k, T), base + e) - run(range(T - k, T), base - e)) / (2 * eps)
    assert sv.shape == (T + 1, 4 * H)
    np.testing.assert_allclose(sv[k], np.linalg.svd(J, compute_uv=False), rtol=1e-7, atol=1e-9)


def test_bad_layer_and_example():
    spec = ModelSpec(cell="rnn", input_size=1, hidden_size=2, output_size=1)
    p = init_params(spec)
    with pytest.raises(ValueError, match="^layer="):
        jacobian_spectrum(spec, p, np.zeros((3, 1, 1)), layer=1)
    with pytest.raises(ValueError, match="^example="):
        jacobian_spectrum(spec, p, np.zeros((3, 1, 1)), example=2)


def test_the_cell_state_jacobian_of_the_1997_lstm_is_the_identity_at_every_step():
    """The constant error carousel, by central differences on c_{t-1} with h_{t-1} held: exactly I in lstmlab's
    Jacobian, I to the differences' accuracy in the forward pass; the LSTM's is diag(f_t) instead."""
    T, H, eps = 5, 3, 1e-6
    x = np.random.default_rng(3).standard_normal((T, 2, 2))
    for cell in ("lstm97", "lstm"):
        spec = ModelSpec(cell=cell, input_size=2, hidden_size=H, output_size=1)
        params = init_params(spec, weight_scale=1.2, seed=5)
        params = {k: v + 0.5 for k, v in params.items()}  # non-zero biases: no gate sits at 1/2
        J = cell_state_jacobian(spec, params, x, example=1)
        run = reference.unroll(cell, x[:, 1:], params["l0.Wx"], params["l0.b"], params["l0.Wh"])
        for t in range(T):
            numeric = np.empty((H, H))
            for j in range(H):
                e = np.zeros((1, H))
                e[0, j] = eps
                step = reference.STEPS[cell].forward
                xw = x[t, 1:] @ params["l0.Wx"] + params["l0.b"]
                plus = step(xw, run.h[t], run.c[t] + e, params["l0.Wh"], None)[1]
                minus = step(xw, run.h[t], run.c[t] - e, params["l0.Wh"], None)[1]
                numeric[:, j] = (plus - minus)[0] / (2 * eps)
            if cell == "lstm97":
                np.testing.assert_array_equal(J[t], np.eye(H))
                np.testing.assert_allclose(numeric, np.eye(H), atol=1e-9)
            else:
                np.testing.assert_allclose(J[t], np.diag(run.gates[t, 0, H : 2 * H]), rtol=1e-15)
                np.testing.assert_allclose(numeric, J[t], atol=1e-9)
                assert np.abs(J[t] - np.eye(H)).max() > 0.1


def test_the_cell_state_jacobian_needs_a_cell_state():
    spec = ModelSpec(cell="gru", input_size=1, hidden_size=2, output_size=1)
    with pytest.raises(ValueError,
                       match=r"^cell='gru': expected a cell with a cell state \(lstm, lstm97, lstm97fc, lstm97ig\)$"):
        cell_state_jacobian(spec, init_params(spec), np.zeros((3, 1, 1)))
