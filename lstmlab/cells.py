"""Recurrent cells as pure step functions over an explicit, time-indexed cache (the tape).

One layer's unroll keeps everything backpropagation needs in a :class:`Tape`:
arrays indexed by time, allocated once, so a step writes into slices instead
of allocating. Row-vector convention: states are (B, H) and ``h @ Wh`` maps
(B, H) @ (H, G*H) -> (B, G*H), the G gate blocks side by side in the order
of ``GATES[cell]`` (PyTorch's order).

Time: steps t = 1..T are stored at index j = t - 1 in the (T, ...) arrays;
the state arrays have T + 1 rows with row 0 the initial state, so
``tape.h[j]`` is h_{t-1} and ``tape.h[j + 1]`` is h_t.

Every cell is three functions:

- ``forward(tape, j, p)`` runs step t = j + 1, reading ``tape.xw[j]`` (the
  input projection x_t Wx + b, done for all steps at once by the caller) and
  the previous state, writing the new state and the gate activations;
- ``prepare_backward(tape, lo, hi)`` forms, for steps lo .. hi - 1 in one
  batched pass, the per-step coefficients of the backward step that do not
  depend on the incoming gradient (derivatives of the nonlinearities and their
  products with the forward values), so the backward time loop only does what
  must be sequential;
- ``backward(tape, j, dh, dc_next, p) -> (dh_prev, dc_prev)`` takes dh, the
  total dL/dh_t, and, for the LSTM, dc_next, the part of dL/dc_t arriving
  through c_{t+1}; it writes ``tape.dxw[j]`` (dL/d(xw_t), which is also the
  gradient at every gate's pre-activation), ``tape.dhh[j]``
  (dL/d(h_{t-1} Wh), equal to dxw except in the GRU's candidate block) and
  ``tape.dc[j]`` (total dL/dc_t), and returns the recurrent part of
  dL/dh_{t-1} and the part of dL/dc_{t-1} through c_t.

``p`` holds the layer's ``Wh``, its transpose ``WhT`` (contiguous, for the
backward matmuls) and, for the GRU, ``bhn``. Sigmoids are
evaluated as sigma(a) = (1 + tanh(a / 2)) / 2, which never overflows and lets
all gates of a step share one tanh call: the sigmoid blocks of Wx, b and Wh
are halved once per pass (exact in binary floating point) into ``p["Whs"]``
and the scaled input projection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

GATES: dict[str, tuple[str, ...]] = {
    "rnn": ("h",),
    "lstm": ("i", "f", "n", "o"),
    "gru": ("r", "z", "n"),
}


@dataclass(eq=False)
class Tape:
    """The explicit cache of one layer's unroll over T steps, batch B, H units, G gates.

    xw:  (T, B, G*H)   input projection, sigmoid blocks halved (set before stepping)
    h:   (T+1, B, H)   h[0] initial state, h[j+1] = h_t
    c:   (T+1, B, H)   LSTM cell states, like h; None otherwise
    g:   (T, B, G*H)   gate activations of step t at row t-1
    dxw: (T, B, G*H)   dL/d(pre-activation) per gate, filled by backward
    dhh: (T, B, G*H)   dL/d(h_{t-1} Wh); the same array as dxw except for the GRU
    dc:  (T, B, H)     total dL/dc_t (LSTM), None otherwise
    aux: cell-specific per-step arrays (tanh(c_t), hn_t) and the backward
         coefficients of steps lo .. lo + len - 1
    """

    xw: np.ndarray
    h: np.ndarray
    c: np.ndarray | None
    g: np.ndarray
    dxw: np.ndarray
    dhh: np.ndarray
    dc: np.ndarray | None
    aux: dict = field(default_factory=dict)
    lo: int = 0  # first step whose backward coefficients aux holds (see prepare_backward)


# --------------------------------------------------------------------- RNN


def rnn_forward(tape: Tape, j: int, p: dict) -> None:
    """Elman RNN step: h_t = tanh(x_t Wx + b + h_{t-1} Wh). The gate "h" is h_t itself."""
    h = tape.h[j + 1]
    np.dot(tape.h[j], p["Wh"], h)
    h += tape.xw[j]
    np.tanh(h, out=h)


def rnn_prepare_backward(tape: Tape, lo: int, hi: int) -> None:
    """tanh'(a_t) = 1 - h_t^2 for steps lo .. hi - 1."""
    h = tape.h[lo + 1 : hi + 1]
    tape.aux["dtanh"], tape.lo = 1.0 - h * h, lo


def rnn_backward(tape: Tape, j: int, dh, dc_next, p: dict):
    """da_t = (1 - h_t^2) * dL/dh_t ;  dL/dh_{t-1} += da_t Wh^T"""
    da = tape.dxw[j]
    np.multiply(dh, tape.aux["dtanh"][j - tape.lo], out=da)  # backprop through tanh
    return np.dot(da, p["WhT"]), None  # backprop through h_{t-1} Wh


# -------------------------------------------------------------------- LSTM


def lstm_forward(tape: Tape, j: int, p: dict) -> None:
    """LSTM step (Hochreiter & Schmidhuber 1997, with forget gate).

    a = x_t Wx + b + h_{t-1} Wh                     (B, 4H), blocks i f n o
    i = sigma(a_i), f = sigma(a_f), n = tanh(a_n), o = sigma(a_o)
    c_t = f * c_{t-1} + i * n
    h_t = o * tanh(c_t)
    """
    H = tape.h.shape[2]
    g = tape.g[j]
    np.dot(tape.h[j], p["Whs"], g)
    g += tape.xw[j]
    np.tanh(g, out=g)
    g *= p["scale"]  # [sigma(a_i), sigma(a_f), tanh(a_n), sigma(a_o)]
    g += p["shift"]
    i, f, n, o = g[:, :H], g[:, H : 2 * H], g[:, 2 * H : 3 * H], g[:, 3 * H :]
    c = tape.c[j + 1]
    np.multiply(f, tape.c[j], out=c)
    c += i * n
    tc = tape.aux["tanh_c"][j]
    np.tanh(c, out=tc)
    np.multiply(o, tc, out=tape.h[j + 1])


def lstm_prepare_backward(tape: Tape, lo: int, hi: int) -> None:
    """Per-step coefficients of steps lo .. hi - 1, batched.

    u_t = o * (1 - tanh(c_t)^2)                    dL/dc_t gains dh_t * u_t
    K_t = [n sigma'_i, c_{t-1} sigma'_f, i tanh'_n, tanh(c_t) sigma'_o]
    so that da_t = [dc, dc, dc, dh] * K_t, with sigma' = s (1 - s), tanh' = 1 - n^2.
    """
    H = tape.h.shape[2]
    g, tc = tape.g[lo:hi], tape.aux["tanh_c"][lo:hi]
    i, f, n, o = g[..., :H], g[..., H : 2 * H], g[..., 2 * H : 3 * H], g[..., 3 * H :]
    u = np.multiply(tc, tc)
    np.subtract(1.0, u, out=u)
    u *= o
    K = np.subtract(1.0, g)
    K *= g
    K[..., :H] *= n
    K[..., H : 2 * H] *= tape.c[lo:hi]
    Kn = K[..., 2 * H : 3 * H]
    np.multiply(n, n, out=Kn)
    np.subtract(1.0, Kn, out=Kn)
    Kn *= i
    K[..., 3 * H :] *= tc
    tape.aux["u"], tape.aux["K"], tape.lo = u, K, lo


def lstm_backward(tape: Tape, j: int, dh, dc_next, p: dict):
    """Backward of :func:`lstm_forward`.

    dc   = dc_next + dh * o * (1 - tanh(c_t)^2)     total dL/dc_t
    da   = [dc n i(1-i), dc c_{t-1} f(1-f), dc i (1-n^2), dh tanh(c_t) o(1-o)]
    dL/dh_{t-1} += da Wh^T,   dL/dc_{t-1} (through c_t) = dc * f
    """
    H = tape.h.shape[2]
    dc = tape.dc[j]
    np.multiply(dh, tape.aux["u"][j - tape.lo], out=dc)  # backprop through h = o * tanh(c)
    dc += dc_next
    B = dc.shape[0]
    da = tape.dxw[j]
    K = tape.aux["K"][j - tape.lo]
    # the i, f, n blocks all scale dc: one broadcast multiply over a (B, 3, H) view
    np.multiply(K[:, : 3 * H].reshape(B, 3, H), dc[:, None, :], out=da[:, : 3 * H].reshape(B, 3, H))
    np.multiply(K[:, 3 * H :], dh, out=da[:, 3 * H :])  # output gate
    return np.dot(da, p["WhT"]), dc * tape.g[j, :, H : 2 * H]  # through h_{t-1} Wh; through f * c_{t-1}


# --------------------------------------------------------------------- GRU


def gru_forward(tape: Tape, j: int, p: dict) -> None:
    """GRU step in PyTorch's formulation (Cho et al. 2014).

    hh = h_{t-1} Wh                                  (B, 3H), blocks r z n
    r = sigma(xw_r + hh_r),  z = sigma(xw_z + hh_z)
    n = tanh(xw_n + r * (hh_n + bhn))
    h_t = (1 - z) * n + z * h_{t-1}

    ``xw`` already holds b; ``p["bhn"]`` (H,) is the hidden-side candidate
    bias, which the reset gate scales and so cannot be folded into b.
    """
    H = tape.h.shape[2]
    hh = tape.aux["hh"][j]  # kept: its candidate block hn = hh_n + bhn is needed backward
    np.dot(tape.h[j], p["Whs"], hh)
    hn = hh[:, 2 * H :]
    hn += p["bhn"]
    g = tape.g[j]
    rz = g[:, : 2 * H]
    np.add(tape.xw[j, :, : 2 * H], hh[:, : 2 * H], out=rz)
    np.tanh(rz, out=rz)
    rz *= 0.5
    rz += 0.5
    n = g[:, 2 * H :]
    np.multiply(rz[:, :H], hn, out=n)
    n += tape.xw[j, :, 2 * H :]
    np.tanh(n, out=n)
    h = tape.h[j + 1]
    np.subtract(tape.h[j], n, out=h)
    h *= rz[:, H:]
    h += n


def gru_prepare_backward(tape: Tape, lo: int, hi: int) -> None:
    """Per-step coefficients of steps lo .. hi - 1, batched.

    A_t  = (1 - z)(1 - n^2)                 da_n = dh * A_t
    Kr_t = hn r (1 - r),  Kz_t = (h_{t-1} - n) z (1 - z)
    """
    H = tape.h.shape[2]
    g = tape.g[lo:hi]
    r, z, n = g[..., :H], g[..., H : 2 * H], g[..., 2 * H :]
    tape.aux["A"] = (1.0 - z) * (1.0 - n * n)
    tape.aux["Kr"] = tape.aux["hh"][lo:hi, :, 2 * H :] * r * (1.0 - r)
    tape.aux["Kz"] = (tape.h[lo:hi] - n) * z * (1.0 - z)
    tape.lo = lo


def gru_backward(tape: Tape, j: int, dh, dc_next, p: dict):
    """Backward of :func:`gru_forward`.

    da_n = dh (1 - z)(1 - n^2),  da_r = da_n hn r(1-r),  da_z = dh (h_{t-1} - n) z(1-z)
    dxw = [da_r, da_z, da_n],  dhh = [da_r, da_z, da_n * r]
    dL/dh_{t-1} = dh z + dhh Wh^T
    """
    H = tape.h.shape[2]
    dxw, dhh, aux = tape.dxw[j], tape.dhh[j], tape.aux
    dan = dxw[:, 2 * H :]
    k = j - tape.lo
    np.multiply(dh, aux["A"][k], out=dan)  # through h = (1-z) n + z h_{t-1}, then tanh
    np.multiply(dan, aux["Kr"][k], out=dxw[:, :H])  # through r * hn, then sigmoid
    np.multiply(dh, aux["Kz"][k], out=dxw[:, H : 2 * H])  # through z, then sigmoid
    dhh[:, : 2 * H] = dxw[:, : 2 * H]
    np.multiply(dan, tape.g[j, :, :H], out=dhh[:, 2 * H :])  # the candidate's hidden path passes r
    dh_prev = np.dot(dhh, p["WhT"])
    dh_prev += dh * tape.g[j, :, H : 2 * H]
    return dh_prev, None


# ------------------------------------------------------------------ registry


@dataclass(frozen=True)
class Cell:
    """A cell's step functions and what the shared BPTT loop needs to know of it.

    ``sigmoid_blocks`` are the gate blocks evaluated as sigmoids through the
    halved-argument tanh; ``aux_widths`` are the per-step arrays the forward
    step fills, with their widths as multiples of H.
    """

    name: str
    gates: tuple[str, ...]
    has_cell_state: bool
    sigmoid_blocks: tuple[int, ...]
    aux_widths: dict
    forward: Callable
    prepare_backward: Callable
    backward: Callable

    def gate_affine(self, H: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        """(G*H,) scale and shift taking tanh(scale * a) to the gate values.

        0.5 and 0.5 on sigmoid blocks (sigma(a) = 0.5 tanh(a/2) + 0.5), 1 and 0 elsewhere.
        """
        scale = np.ones(len(self.gates) * H, dtype=dtype)
        for k in self.sigmoid_blocks:
            scale[k * H : (k + 1) * H] = 0.5
        return scale, np.where(scale == 0.5, scale, 0.0).astype(dtype)

    def new_tapes(self, L: int, T: int, B: int, H: int, dtype) -> tuple[list[Tape], dict]:
        """Tapes for L layers of T steps, initial states zero, input projections unset.

        Returns the tapes and the (L, ...) arrays their h, c, g, dxw and dc
        are views of, so results stack across layers without copies.
        """
        GH = len(self.gates) * H
        h = np.empty((L, T + 1, B, H), dtype=dtype)
        h[:, 0] = 0.0
        c = dc = None
        if self.has_cell_state:
            c = np.empty((L, T + 1, B, H), dtype=dtype)
            c[:, 0] = 0.0
            dc = np.empty((L, T, B, H), dtype=dtype)
        g = h[:, 1:] if self.name == "rnn" else np.empty((L, T, B, GH), dtype=dtype)
        dxw = np.empty((L, T, B, GH), dtype=dtype)
        tapes = []
        for k in range(L):
            dhh = np.empty_like(dxw[k]) if self.name == "gru" else dxw[k]
            aux = {name: np.empty((T, B, w * H), dtype=dtype) for name, w in self.aux_widths.items()}
            tapes.append(Tape(None, h[k], None if c is None else c[k], g[k], dxw[k], dhh,
                              None if dc is None else dc[k], aux))
        return tapes, {"h": h, "c": c, "g": g, "dxw": dxw, "dc": dc}


CELLS: dict[str, Cell] = {
    "rnn": Cell("rnn", GATES["rnn"], False, (), {}, rnn_forward, rnn_prepare_backward, rnn_backward),
    "lstm": Cell(
        "lstm", GATES["lstm"], True, (0, 1, 3), {"tanh_c": 1}, lstm_forward, lstm_prepare_backward, lstm_backward
    ),
    "gru": Cell("gru", GATES["gru"], False, (0, 1), {"hh": 3}, gru_forward, gru_prepare_backward, gru_backward),
}
