"""Singular values of the recurrent Jacobian products behind vanishing and exploding gradients."""

from __future__ import annotations

import numpy as np

from lstmlab.core.engines import reference
from lstmlab.core.model import _forward_all, check_x
from lstmlab.core.spec import ModelSpec

MAX_STATE = 1024


def jacobian_spectrum(spec: ModelSpec, params: dict, x, layer: int = 0, example: int = 0) -> np.ndarray:
    """Singular values of d s_T / d s_{T-k} for every lag k = 0 ... T, for one example.

    s_t is the layer's recurrent state: h_t (H values) for "rnn" and "gru",
    (h_t, c_t) (2H values) for "lstm". The product
        d s_T / d s_{T-k} = prod_{j=T-k+1}^{T} d s_j / d s_{j-1}
    is what backpropagation through time multiplies the error by over k steps;
    for the tanh RNN each factor is Wh^T diag(1 - h_j^2), so sigma_max <=
    sigma_max(Wh)^k (Pascanu et al. 2013, gamma = 1 for tanh).

    The factors come from the reference engine's backward steps, fed the rows
    of the identity as incoming gradients (one batch of S vector-Jacobian products).
    Returns an array (T + 1, S), row k sorted in descending order; row 0 is all
    ones, row T is d s_T / d s_0 with s_0 the zero initial state.
    """
    x = check_x(spec, x)
    T, B, _ = x.shape
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < spec.layers:
        raise ValueError(f"layer={layer!r}: expected an integer from 0 to {spec.layers - 1}")
    if isinstance(example, bool) or not isinstance(example, (int, np.integer)) or not 0 <= example < B:
        raise ValueError(f"example={example!r}: expected an integer from 0 to {B - 1}")
    H = spec.hidden_size
    lstm = spec.cell == "lstm"
    S = 2 * H if lstm else H
    if S > MAX_STATE:
        raise ValueError(f"hidden_size={H}: the state has {S} values, expected at most {MAX_STATE} for a Jacobian")
    params = spec.check_params(params)

    inputs, _, _ = _forward_all(spec, params, x[:, example : example + 1], reference)
    xin = np.repeat(inputs[layer], S, axis=1)  # (T, S, in): the example once per state unit
    Wh = params[f"l{layer}.Wh"]
    run = reference.unroll(spec.cell, xin, params[f"l{layer}.Wx"], params[f"l{layer}.b"], Wh,
                           params.get(f"l{layer}.bhn"))
    step_backward = reference.STEPS[spec.cell].backward

    eye = np.eye(S, dtype=spec.np_dtype)
    dh, dc = eye[:, :H], (eye[:, H:] if lstm else None)
    out = np.empty((T + 1, S), dtype=spec.np_dtype)
    out[0] = 1.0
    for k in range(1, T + 1):
        g = step_backward(dh, dc, run.cache[T - k], Wh)
        dh, dc = g.h_prev, g.c_prev
        rows = dh if dc is None else np.concatenate([dh, dc], axis=1)  # row i: d s_T[i] / d s_{T-k}
        out[k] = np.linalg.svd(rows, compute_uv=False)
    return out
