"""Singular values of the recurrent Jacobian products behind vanishing and exploding gradients."""

from __future__ import annotations

import numpy as np

from lstmlab.core.config import MEMORY_CELLS
from lstmlab.core.engines import reference
from lstmlab.core.model import _forward_all, check_x
from lstmlab.core.spec import ModelSpec

MAX_STATE = 1024


def _check(spec: ModelSpec, x, layer, example) -> np.ndarray:
    x = check_x(spec, x)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < spec.layers:
        raise ValueError(f"layer={layer!r}: expected an integer from 0 to {spec.layers - 1}")
    if isinstance(example, bool) or not isinstance(example, (int, np.integer)) or not 0 <= example < x.shape[1]:
        raise ValueError(f"example={example!r}: expected an integer from 0 to {x.shape[1] - 1}")
    return x


def _example_unroll(spec: ModelSpec, params: dict, x: np.ndarray, layer: int, example: int, copies: int):
    """The reference engine's unroll of ``layer`` on one example repeated ``copies`` times, and the layer's Wh."""
    params = spec.check_params(params)
    inputs, _, _ = _forward_all(spec, params, x[:, example : example + 1], reference)
    xin = np.repeat(inputs[layer], copies, axis=1)  # (T, copies, in)
    Wh = params[f"l{layer}.Wh"]
    run = reference.unroll(spec.cell, xin, params[f"l{layer}.Wx"], params[f"l{layer}.b"], Wh,
                           params.get(f"l{layer}.bhn"))
    return run, Wh


def cell_state_jacobian(spec: ModelSpec, params: dict, x, layer: int = 0, example: int = 0) -> np.ndarray:
    """∂c_t/∂c_{t-1} along the cell state alone (h_{t-1} held fixed) at every step t = 1 ... T of one example:
    (T, H, H), row i the derivative of c_t[i]. For "lstm" it is diag(f_t); for "lstm97" the identity at every
    step (Hochreiter & Schmidhuber's constant error carousel: c_t = c_{t-1} + i_t g(a_n)). It is all the error
    crosses between steps under the truncated gradient when no loss sits in between.

    Computed by the reference engine's backward steps, fed dL/dh_t = 0 and the rows of the identity as the
    error arriving at c_t: the error they pass to c_{t-1}. Cells without a cell state raise ValueError.
    """
    if not spec.has_cell_state:
        raise ValueError(f"cell={spec.cell!r}: expected a cell with a cell state ({', '.join(MEMORY_CELLS)})")
    x = _check(spec, x, layer, example)
    H = spec.hidden_size
    if H > MAX_STATE:
        raise ValueError(f"hidden_size={H}: expected at most {MAX_STATE} for a Jacobian")
    run, Wh = _example_unroll(spec, params, x, layer, example, H)
    step_backward = reference.STEPS[spec.cell].backward
    eye = np.eye(H, dtype=spec.np_dtype)
    zero = np.zeros((H, spec.source_size), dtype=spec.np_dtype)  # no error on u_t (h_t; lstm97fc: h_t, i_t, o_t)
    return np.stack([step_backward(zero, eye, run.cache[t], Wh).c_prev for t in range(x.shape[0])])


def cell_state_carry(spec: ModelSpec, params: dict, x, layer: int = 0) -> np.ndarray:
    """The diagonal of ∂c_t/∂c_{t-1} along the cell state (:func:`cell_state_jacobian`) at every step of every
    example: (T, B, H); f_t for "lstm", exactly 1 for "lstm97". The cell-state update is elementwise, so that
    Jacobian is diagonal, and its diagonal is what the reference engine's backward step passes to c_{t-1} from an
    error of ones on c_t (with no error on h_t)."""
    if not spec.has_cell_state:
        raise ValueError(f"cell={spec.cell!r}: expected a cell with a cell state ({', '.join(MEMORY_CELLS)})")
    x = _check(spec, x, layer, 0)
    params = spec.check_params(params)
    _, runs, _ = _forward_all(spec, params, x, reference)
    step_backward = reference.STEPS[spec.cell].backward
    run = runs[layer]
    ones = np.ones(run.h.shape[1:], dtype=spec.np_dtype)
    zero = np.zeros((ones.shape[0], spec.source_size), dtype=spec.np_dtype)
    return np.stack([step_backward(zero, ones, run.cache[t], params[f"l{layer}.Wh"]).c_prev
                     for t in range(x.shape[0])])


def jacobian_spectrum(spec: ModelSpec, params: dict, x, layer: int = 0, example: int = 0) -> np.ndarray:
    """Singular values of d s_T / d s_{T-k} for every lag k = 0 ... T, for one example.

    s_t is the layer's recurrent state: h_t (H values) for the RNNs and the GRU,
    (h_t, c_t) (2H values) for "lstm" and "lstm97", (h_t, i_t, o_t, c_t) (4H values) for "lstm97fc", whose
    gates' outputs are part of what the next step reads. The product
        d s_T / d s_{T-k} = prod_{j=T-k+1}^{T} d s_j / d s_{j-1}
    is what backpropagation through time multiplies the error by over k steps;
    for the tanh RNN each factor is Wh^T diag(1 - h_j^2), so sigma_max <=
    sigma_max(Wh)^k (Pascanu et al. 2013, gamma = 1 for tanh; 1/4 for the
    logistic RNN). It is the forward map's Jacobian, whatever ``spec.gradient``
    says (a truncated gradient leaves parts of it out: :func:`cell_state_jacobian`).

    The factors come from the reference engine's backward steps, fed the rows
    of the identity as incoming gradients (one batch of S vector-Jacobian products).
    Returns an array (T + 1, S), row k sorted in descending order; row 0 is all
    ones, row T is d s_T / d s_0 with s_0 the zero initial state.
    """
    x = _check(spec, x, layer, example)
    T = x.shape[0]
    H, U = spec.hidden_size, spec.source_size
    lstm = spec.has_cell_state
    S = U + H if lstm else U
    if S > MAX_STATE:
        raise ValueError(f"hidden_size={H}: the state has {S} values, expected at most {MAX_STATE} for a Jacobian")
    run, Wh = _example_unroll(spec, params, x, layer, example, S)
    step_backward = reference.STEPS[spec.cell].backward

    eye = np.eye(S, dtype=spec.np_dtype)
    dh, dc = eye[:, :U], (eye[:, U:] if lstm else None)
    out = np.empty((T + 1, S), dtype=spec.np_dtype)
    out[0] = 1.0
    for k in range(1, T + 1):
        g = step_backward(dh, dc, run.cache[T - k], Wh)
        dh, dc = g.h_prev, g.c_prev
        rows = dh if dc is None else np.concatenate([dh, dc], axis=1)  # row i: d s_T[i] / d s_{T-k}
        out[k] = np.linalg.svd(rows, compute_uv=False)
    return out
