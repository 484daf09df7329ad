"""Recurrent cells as pairs of pure step functions.

Every cell works on one time step of a batch. The input projection
``xw_t = x_t Wx + b`` is computed for all time steps at once by the caller
(one large matmul instead of T small ones), so a step only adds the
recurrent term. Row-vector convention throughout: states are (B, H) and
``h @ Wh`` maps (B, H) @ (H, G*H) -> (B, G*H), the G gate blocks side by side
in the order of ``GATES[cell]`` (PyTorch's order).

Forward steps return ``(h_t, c_t, acts, cache)``: the new state (``c_t`` is
``None`` for cells without a cell state), the gate activations (B, G*H) and
everything the backward step needs.

Backward steps take ``dh``, the *total* derivative dL/dh_t (direct plus
through later steps), and for the LSTM ``dc_next``, the part of dL/dc_t that
arrives through c_{t+1}. They return ``(dxw, dhh, dh_prev, dc_prev, dc)``:

- ``dxw``  (B, G*H): dL/d(xw_t), also the gradient at every gate's
  pre-activation;
- ``dhh``  (B, G*H): dL/d(h_{t-1} Wh); equal to ``dxw`` except for the GRU's
  candidate block, where the reset gate sits between the two;
- ``dh_prev`` (B, H): the recurrent contribution to dL/dh_{t-1};
- ``dc_prev`` (B, H) or ``None``: the part of dL/dc_{t-1} through c_t;
- ``dc`` (B, H) or ``None``: the total dL/dc_t.

Weight gradients are not formed here: the caller batches them over all time
steps, ``dWh = sum_t h_{t-1}^T dhh_t``, in one matmul.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

GATES: dict[str, tuple[str, ...]] = {
    "rnn": ("h",),
    "lstm": ("i", "f", "n", "o"),
    "gru": ("r", "z", "n"),
}


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function via sigma(a) = (1 + tanh(a/2)) / 2: never overflows."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


# --------------------------------------------------------------------- RNN


def rnn_forward(xw, h_prev, c_prev, p):
    """Elman RNN step.

    h_t = tanh(x_t Wx + b + h_{t-1} Wh)

    xw: (B, H), h_prev: (B, H), p["Wh"]: (H, H). ``c_prev`` is unused (None).
    """
    h = np.tanh(xw + h_prev @ p["Wh"])
    return h, None, h, (h,)


def rnn_backward(dh, dc_next, cache, p):
    """Backward of :func:`rnn_forward`.

    da_t = (1 - h_t^2) * dL/dh_t ;  dL/dh_{t-1} += da_t Wh^T
    """
    (h,) = cache
    da = (1.0 - h * h) * dh  # backprop through tanh
    dh_prev = da @ p["Wh"].T  # backprop through h_{t-1} Wh
    return da, da, dh_prev, None, None


# -------------------------------------------------------------------- LSTM


def lstm_forward(xw, h_prev, c_prev, p):
    """LSTM step (Hochreiter & Schmidhuber 1997, with forget gate).

    a = x_t Wx + b + h_{t-1} Wh                     (B, 4H), blocks i f n o
    i = sigma(a_i), f = sigma(a_f), n = tanh(a_n), o = sigma(a_o)
    c_t = f * c_{t-1} + i * n
    h_t = o * tanh(c_t)

    All four nonlinearities take one tanh call: sigma(a) = (1 + tanh(a/2))/2,
    so the sigmoid blocks are halved before and mapped back after.
    """
    H = h_prev.shape[1]
    scale, shift = _lstm_affine(H, xw.dtype)
    a = xw + h_prev @ p["Wh"]
    g = np.tanh(a * scale) * scale + shift  # [sigma(a_i), sigma(a_f), tanh(a_n), sigma(a_o)]
    i, f, n, o = g[:, :H], g[:, H : 2 * H], g[:, 2 * H : 3 * H], g[:, 3 * H :]
    c = f * c_prev + i * n
    tc = np.tanh(c)
    h = o * tc
    return h, c, g, (c_prev, g, tc)


def lstm_backward(dh, dc_next, cache, p):
    """Backward of :func:`lstm_forward`.

    dc   = dc_next + dh * o * (1 - tanh(c_t)^2)     total dL/dc_t
    do   = dh * tanh(c_t)
    di   = dc * n,  df = dc * c_{t-1},  dn = dc * i
    dc_{t-1} (through c_t) = dc * f
    da   = [di i(1-i), df f(1-f), dn (1-n^2), do o(1-o)]
    dL/dh_{t-1} += da Wh^T
    """
    c_prev, g, tc = cache
    H = tc.shape[1]
    i, f, n, o = g[:, :H], g[:, H : 2 * H], g[:, 2 * H : 3 * H], g[:, 3 * H :]
    dc = dc_next + dh * o * (1.0 - tc * tc)  # backprop through h = o * tanh(c)
    dg = np.empty_like(g)
    dg[:, :H] = dc * n  # di
    dg[:, H : 2 * H] = dc * c_prev  # df
    dg[:, 2 * H : 3 * H] = dc * i  # dn
    dg[:, 3 * H :] = dh * tc  # do
    # backprop through the nonlinearities: sigma' = s(1-s) on i f o, tanh' = 1-n^2 on n
    deriv = g * (1.0 - g)
    deriv[:, 2 * H : 3 * H] = 1.0 - n * n
    da = dg * deriv
    dh_prev = da @ p["Wh"].T
    return da, da, dh_prev, dc * f, dc


def _lstm_affine(H: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    key = (H, np.dtype(dtype).str)
    hit = _AFFINE_CACHE.get(key)
    if hit is None:
        scale = np.full(4 * H, 0.5, dtype=dtype)
        scale[2 * H : 3 * H] = 1.0
        shift = np.full(4 * H, 0.5, dtype=dtype)
        shift[2 * H : 3 * H] = 0.0
        hit = _AFFINE_CACHE[key] = (scale, shift)
    return hit


_AFFINE_CACHE: dict = {}


# --------------------------------------------------------------------- GRU


def gru_forward(xw, h_prev, c_prev, p):
    """GRU step in PyTorch's formulation (Cho et al. 2014).

    hh = h_{t-1} Wh                                  (B, 3H), blocks r z n
    r = sigma(xw_r + hh_r),  z = sigma(xw_z + hh_z)
    n = tanh(xw_n + r * (hh_n + bhn))
    h_t = (1 - z) * n + z * h_{t-1}

    ``xw`` already holds b; ``p["bhn"]`` (H,) is the hidden-side candidate bias,
    which the reset gate scales and so cannot be folded into b.
    """
    H = h_prev.shape[1]
    hh = h_prev @ p["Wh"]
    hn = hh[:, 2 * H :] + p["bhn"]
    g = np.empty_like(hh)
    g[:, : 2 * H] = sigmoid(xw[:, : 2 * H] + hh[:, : 2 * H])
    r, z = g[:, :H], g[:, H : 2 * H]
    g[:, 2 * H :] = np.tanh(xw[:, 2 * H :] + r * hn)
    n = g[:, 2 * H :]
    h = n + z * (h_prev - n)
    return h, None, g, (h_prev, g, hn)


def gru_backward(dh, dc_next, cache, p):
    """Backward of :func:`gru_forward`.

    dn = dh (1 - z),  dz = dh (h_{t-1} - n),  dL/dh_{t-1} = dh z + dhh Wh^T
    da_n = dn (1 - n^2),  dr = da_n * hn,  dhn = da_n * r
    dxw = [dr r(1-r), dz z(1-z), da_n],  dhh = [dr r(1-r), dz z(1-z), dhn]
    """
    h_prev, g, hn = cache
    H = h_prev.shape[1]
    r, z, n = g[:, :H], g[:, H : 2 * H], g[:, 2 * H :]
    dxw = np.empty_like(g)
    dan = dh * (1.0 - z) * (1.0 - n * n)  # through h = (1-z) n + z h_prev, then tanh
    dxw[:, :H] = dan * hn * r * (1.0 - r)  # through r * hn, then sigmoid
    dxw[:, H : 2 * H] = dh * (h_prev - n) * z * (1.0 - z)  # through z, then sigmoid
    dxw[:, 2 * H :] = dan
    dhh = dxw.copy()
    dhh[:, 2 * H :] = dan * r  # the candidate's hidden path passes the reset gate
    dh_prev = dh * z + dhh @ p["Wh"].T
    return dxw, dhh, dh_prev, None, None


# ------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Cell:
    """A cell's step pair and what the shared BPTT loop needs to know of it."""

    name: str
    gates: tuple[str, ...]
    has_cell_state: bool
    forward: Callable
    backward: Callable


CELLS: dict[str, Cell] = {
    "rnn": Cell("rnn", GATES["rnn"], False, rnn_forward, rnn_backward),
    "lstm": Cell("lstm", GATES["lstm"], True, lstm_forward, lstm_backward),
    "gru": Cell("gru", GATES["gru"], False, gru_forward, gru_backward),
}
