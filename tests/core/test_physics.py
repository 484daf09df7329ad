"""The error-flow physics the project exists to show, asserted."""

import numpy as np
import pytest

from lstmlab.core.model import bptt
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec


def per_example_ratio(d: np.ndarray) -> np.ndarray:
    """||dL/dh_1|| / ||dL/dh_T|| per example; d is (T, B, H)."""
    norms = np.linalg.norm(d, axis=-1)
    return norms[0] / norms[-1]


@pytest.mark.parametrize("scale", [0.9, 1.1])
def test_rnn_error_scales_by_weight_scale_per_step(scale):
    T, B = 100, 4
    spec = ModelSpec(cell="rnn", input_size=3, hidden_size=16, output_size=1, head="last")
    params = init_params(spec, weight_scale=scale, init="orthogonal", seed=1)
    rng = np.random.default_rng(0)
    x = 1e-8 * rng.standard_normal((T, B, 3))  # tiny inputs keep tanh in its linear regime
    y = rng.standard_normal((B, 1))
    res = bptt(spec, params, x, y, "mse")
    np.testing.assert_allclose(per_example_ratio(res.dh[0]), scale ** (T - 1), rtol=0.05)


def test_lstm_constant_error_carousel_over_1000_steps():
    T, B, H = 1000, 3, 8
    spec = ModelSpec(cell="lstm", input_size=2, hidden_size=H, output_size=1, head="last")
    params = init_params(spec, weight_scale=1.0, forget_bias=50.0, seed=2)  # forget gate saturated open
    params["l0.b"][:H] = -50.0  # input gate shut
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, 2))
    y = rng.standard_normal((B, 1))
    res = bptt(spec, params, x, y, "mse")
    dc = res.dc[0]
    assert np.linalg.norm(dc[-1]) > 1e-3
    np.testing.assert_allclose(dc, np.broadcast_to(dc[-1], dc.shape), rtol=1e-12, atol=0)
    # the hidden-state error, in contrast, arrives only at the last step
    assert np.linalg.norm(res.dh[0, 0]) < 1e-12 * np.linalg.norm(res.dh[0, -1])


def test_lstm_with_closed_forget_gate_loses_the_error():
    """The same network with forget bias -5 forgets: the carousel needs f = 1."""
    T, H = 100, 8
    spec = ModelSpec(cell="lstm", input_size=2, hidden_size=H, output_size=1, head="last")
    params = init_params(spec, forget_bias=-5.0, seed=2)
    rng = np.random.default_rng(1)
    res = bptt(spec, params, rng.standard_normal((T, 3, 2)), rng.standard_normal((3, 1)), "mse")
    assert np.all(per_example_ratio(res.dc[0]) < 1e-40)
