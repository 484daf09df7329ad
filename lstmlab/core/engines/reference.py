r"""The reference engine: the steps of every cell in plain numpy, one line per equation.

This is the engine to read. Each cell is a pair of pure step functions with an explicit cache, in the
style of CS231n's ``lstm_step_forward/backward`` and min-char-rnn, and :func:`unroll` / :func:`backprop`
run them over the T steps of one layer. The compiled engine computes the same quantities (tests hold the
two to 1e-12 relative in float64) and falls back to this one with ``LSTMLAB_ENGINE=reference``.

Row-vector convention: states are (B, H) and ``h @ Wh`` maps (B, H) @ (H, G*H) -> (B, G*H), the G gate
blocks side by side in PyTorch's order (``config.GATES``). The input part of every pre-activation,
``xw_t = x_t Wx + b``, does not depend on the recurrence: the caller computes it for all steps at once
and the steps receive it.

Forward step ``step_forward(xw_t, h_prev, c_prev, Wh, bhn) -> (h, c, gates, cache)``: ``gates`` (B, G*H)
are the gate activations. Backward step ``step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads``:
``dh`` is the total dL/dh_t, ``dc_next`` (the LSTMs) the part of dL/dc_t arriving through c_{t+1}; it returns
dL/dh_{t-1} and dL/dc_{t-1} through this step, dL/d(pre-activation) of every gate (``a``, (B, G*H)),
dL/d(h_{t-1} Wh) (``hh``, equal to ``a`` except in the GRU's candidate block) and the total dL/dc_t.
With ``truncated`` the product h_{t-1} Wh counts as a constant input: dL/dh_{t-1} gets nothing through it
(``config.GRADIENTS``), while ``a`` and ``hh``, which the weight gradients are made of, are unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Callable, NamedTuple

import numpy as np

from lstmlab.core.config import GATES, GRADIENTS, MEMORY_CELLS, SOURCE_BLOCKS
from lstmlab.core.engines.base import Flow, Unroll, input_projection

VERSION = f"3 (numpy {np.__version__})"


def warm(first: bool = False) -> None:
    """Nothing to compile."""


def using_threads(n: int):
    """The passes run in the calling thread whatever ``n`` (a context manager, as the compiled engine's)."""
    return contextlib.nullcontext(n)


def each(fn, items: list) -> list:
    """[fn(item) for item in items], in the calling thread (as the compiled engine's ``each``)."""
    return [fn(item) for item in items]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b (numpy's matmul) for a (..., K) array and a (K, N) matrix: (..., N)."""
    return a @ b


def sigmoid(a: np.ndarray) -> np.ndarray:
    """sigma(a) = 1 / (1 + e^-a), written as (1 + tanh(a / 2)) / 2: the same value, and it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


class StepGrads(NamedTuple):
    """What one backward step hands on: gradients with respect to the step's inputs and pre-activations."""

    h_prev: np.ndarray  # (B, H) dL/dh_{t-1} through this step
    c_prev: np.ndarray | None  # (B, H) dL/dc_{t-1} through c_t (LSTM)
    a: np.ndarray  # (B, G*H) dL/d(pre-activation) of every gate
    hh: np.ndarray  # (B, G*H) dL/d(h_{t-1} Wh)
    c: np.ndarray | None  # (B, H) total dL/dc_t (LSTM)


# ------------------------------------------------------------------- RNNs


def rnn_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """Elman RNN: h_t = tanh(x_t Wx + b + h_{t-1} Wh). Its one "gate" is h_t itself."""
    h = np.tanh(xw + h_prev @ Wh)
    return h, None, h, (h_prev, h)


def rnn_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """da = dh * (1 - h_t^2);  dL/dh_{t-1} = da Wh^T (0 when truncated)"""
    h_prev, h = cache
    da = dh * (1.0 - h * h)  # backprop through tanh
    dh_prev = _through_wh(da, Wh, truncated)  # backprop through h_{t-1} Wh
    return StepGrads(dh_prev, None, da, da, None)


def rnn_relu_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """ReLU RNN: h_t = max(x_t Wx + b + h_{t-1} Wh, 0) (with init "irnn": the IRNN of Le et al. 2015)."""
    h = np.maximum(xw + h_prev @ Wh, 0.0)
    return h, None, h, (h_prev, h)


def rnn_relu_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """da = dh * [h_t > 0] (relu'(0) = 0, as in PyTorch);  dL/dh_{t-1} = da Wh^T (0 when truncated)"""
    h_prev, h = cache
    da = dh * (h > 0.0)  # backprop through max(., 0)
    dh_prev = _through_wh(da, Wh, truncated)
    return StepGrads(dh_prev, None, da, da, None)


def rnn_logistic_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """Logistic RNN: h_t = sigma(x_t Wx + b + h_{t-1} Wh) (max sigma' = 1/4: Pascanu et al. 2013's gamma)."""
    h = sigmoid(xw + h_prev @ Wh)
    return h, None, h, (h_prev, h)


def rnn_logistic_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """da = dh * h_t (1 - h_t);  dL/dh_{t-1} = da Wh^T (0 when truncated)"""
    h_prev, h = cache
    da = dh * h * (1.0 - h)  # backprop through sigma
    dh_prev = _through_wh(da, Wh, truncated)
    return StepGrads(dh_prev, None, da, da, None)


def _through_wh(d, Wh, truncated):
    """dL/dh_{t-1} through h_{t-1} Wh: d Wh^T, or zeros when the gradient is truncated there."""
    if truncated:
        return np.zeros((d.shape[0], Wh.shape[0]), dtype=d.dtype)
    return d @ Wh.T


# -------------------------------------------------------------------- LSTM


def lstm_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """LSTM step (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    a   = x_t Wx + b + h_{t-1} Wh            (B, 4H), blocks i f n o
    i   = sigma(a_i)                         input gate
    f   = sigma(a_f)                         forget gate
    n   = tanh(a_n)                          candidate
    o   = sigma(a_o)                         output gate
    c_t = f * c_{t-1} + i * n
    h_t = o * tanh(c_t)
    """
    a = xw + h_prev @ Wh
    a_i, a_f, a_n, a_o = np.split(a, 4, axis=1)
    i = sigmoid(a_i)
    f = sigmoid(a_f)
    n = np.tanh(a_n)
    o = sigmoid(a_o)
    c = f * c_prev + i * n
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, np.concatenate([i, f, n, o], axis=1), (h_prev, c_prev, i, f, n, o, tanh_c)


def lstm_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """Backward of :func:`lstm_step_forward`.

    dc   = dc_next + dh * o * (1 - tanh(c_t)^2)      total dL/dc_t (the carousel)
    da_o = dh * tanh(c_t) * o (1 - o)
    da_i = dc * n * i (1 - i)
    da_f = dc * c_{t-1} * f (1 - f)
    da_n = dc * i * (1 - n^2)
    dL/dh_{t-1} = da Wh^T (0 when truncated),   dL/dc_{t-1} (through c_t) = dc * f
    """
    h_prev, c_prev, i, f, n, o, tanh_c = cache
    dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)  # backprop through h = o * tanh(c)
    da_o = dh * tanh_c * o * (1.0 - o)  # through o = sigma(a_o)
    da_i = dc * n * i * (1.0 - i)  # through c = f c_prev + i n, then sigma
    da_f = dc * c_prev * f * (1.0 - f)
    da_n = dc * i * (1.0 - n * n)  # then tanh
    da = np.concatenate([da_i, da_f, da_n, da_o], axis=1)
    dh_prev = _through_wh(da, Wh, truncated)  # through h_{t-1} Wh
    dc_prev = dc * f  # through f * c_{t-1}
    return StepGrads(dh_prev, dc_prev, da, da, dc)


# ------------------------------------------------------------- LSTM of 1997


def lstm97_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """LSTM of Hochreiter & Schmidhuber 1997 (section 4): input and output gates, no forget gate.

    a   = x_t Wx + b + h_{t-1} Wh            (B, 3H), blocks i n o
    i   = sigma(a_i)                         input gate         (HS97: y^in)
    n   = g(a_n) = 4 sigma(a_n) - 2          cell input, in [-2, 2]   (HS97: g(net_c))
    o   = sigma(a_o)                         output gate        (HS97: y^out)
    c_t = c_{t-1} + i * n                    the cell state, the constant error carousel (HS97: s_c)
    h_t = o * h(c_t),  h(s) = 2 sigma(s) - 1 in [-1, 1]         (HS97: y^c, the cell output)

    g(x) = 4 sigma(x) - 2 = 2 tanh(x / 2) and h(x) = 2 sigma(x) - 1 = tanh(x / 2) are computed in their tanh form
    (the same values, without the cancellation near 0). One cell per memory block: each cell has gates of its own
    (HS97 let S cells of a block share one input and one output gate). The gates and the cell inputs see h_{t-1},
    every cell's output, as HS97's fully recurrent memory cells do; the head reads h_t, the cell outputs.
    """
    a = xw + h_prev @ Wh
    a_i, a_n, a_o = np.split(a, 3, axis=1)
    i = sigmoid(a_i)
    n = 2.0 * np.tanh(0.5 * a_n)
    o = sigmoid(a_o)
    c = c_prev + i * n
    h_c = np.tanh(0.5 * c)
    h = o * h_c
    return h, c, np.concatenate([i, n, o], axis=1), (i, n, o, h_c)


def lstm97_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """Backward of :func:`lstm97_step_forward`.

    dc   = dc_next + dh * o * h'(c_t),  h'(s) = (1 - h(s)^2) / 2      total dL/dc_t
    da_o = dh * h(c_t) * o (1 - o)
    da_i = dc * n * i (1 - i)
    da_n = dc * i * g'(a_n),  g'(x) = 1 - g(x)^2 / 4
    dL/dh_{t-1} = da Wh^T (0 when truncated: HS97's gradient),   dL/dc_{t-1} (through c_t) = dc
    ∂c_t/∂c_{t-1} = I: the carousel passes the error back unchanged.
    """
    i, n, o, h_c = cache
    dc = dc_next + dh * o * 0.5 * (1.0 - h_c * h_c)  # backprop through h = o * h(c)
    da_o = dh * h_c * o * (1.0 - o)  # through o = sigma(a_o)
    da_i = dc * n * i * (1.0 - i)  # through c = c_prev + i n, then sigma
    da_n = dc * i * (1.0 - 0.25 * n * n)  # then g
    da = np.concatenate([da_i, da_n, da_o], axis=1)
    dh_prev = _through_wh(da, Wh, truncated)  # through h_{t-1} Wh
    dc_prev = dc  # through c_{t-1}, with weight 1
    return StepGrads(dh_prev, dc_prev, da, da, dc)


def lstm97fc_step_forward(xw, u_prev, c_prev, Wh, bhn):
    """The cells of :func:`lstm97_step_forward` in HS97's fully connected hidden layer: every gate and cell input
    reads every hidden unit's output of the step before, the gates' as well as the cells'.

    u_{t-1} = [h_{t-1}, i_{t-1}, o_{t-1}]    (B, 3H), u_0 = [h_0, 0, 0]
    a   = x_t Wx + b + u_{t-1} Wh            (B, 3H), Wh (3H, 3H), blocks i n o
    the rest as lstm97: i, n, o, c_t = c_{t-1} + i * n, h_t = o * h(c_t)

    HS97's weight counts (93 in Experiment 4: 2 inputs, 8 hidden units, 1 output) count connections of this kind:
    every non-input unit reads every hidden unit.
    """
    return lstm97_step_forward(xw, u_prev, c_prev, Wh, bhn)


def lstm97fc_step_backward(du, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """Backward of :func:`lstm97fc_step_forward`. ``du`` = [dh_t, dL/di_t, dL/do_t] (B, 3H): what reaches u_t from
    outside the step (the head or the layer above: dh_t only) and from step t + 1 through u_t Wh.

    dc   = dc_next + dh * o * h'(c_t)
    da_o = (dh * h(c_t) + dL/do_t) * o (1 - o)
    da_i = (dc * n + dL/di_t) * i (1 - i)
    da_n = dc * i * g'(a_n)
    dL/du_{t-1} = da Wh^T (0 when truncated: HS97's gradient),   dL/dc_{t-1} (through c_t) = dc
    """
    dh, di, do = np.split(du, 3, axis=1)
    i, n, o, h_c = cache
    dc = dc_next + dh * o * 0.5 * (1.0 - h_c * h_c)  # backprop through h = o * h(c)
    da_o = (dh * h_c + do) * o * (1.0 - o)  # through h and through o_t's own outputs, then sigma
    da_i = (dc * n + di) * i * (1.0 - i)  # through c and through i_t's own outputs, then sigma
    da_n = dc * i * (1.0 - 0.25 * n * n)  # then g
    da = np.concatenate([da_i, da_n, da_o], axis=1)
    du_prev = _through_wh(da, Wh, truncated)  # through u_{t-1} Wh
    return StepGrads(du_prev, dc, da, da, dc)


def lstm97ig_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """The memory cell of HS97's Experiment 2 nets (section 5.2, Table 10: "no out gate", h the identity, g1): an
    input gate only, and the cell state is the cell's output.

    a   = x_t Wx + b + h_{t-1} Wh            (B, 2H), blocks i n
    i   = sigma(a_i)                         input gate
    n   = g(a_n) = 2 sigma(a_n) - 1          cell input, in [-1, 1]
    c_t = c_{t-1} + i * n                    the constant error carousel
    h_t = c_t                                no output gate, h the identity

    g(x) = 2 sigma(x) - 1 = tanh(x / 2) is computed in its tanh form.
    """
    a = xw + h_prev @ Wh
    a_i, a_n = np.split(a, 2, axis=1)
    i = sigmoid(a_i)
    n = np.tanh(0.5 * a_n)
    c = c_prev + i * n
    return c, c, np.concatenate([i, n], axis=1), (i, n)


def lstm97ig_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """Backward of :func:`lstm97ig_step_forward`.

    dc   = dc_next + dh                      total dL/dc_t (h = c: no factor on either)
    da_i = dc * n * i (1 - i)
    da_n = dc * i * g'(a_n),  g'(x) = (1 - g(x)^2) / 2
    dL/dh_{t-1} = da Wh^T (0 when truncated: HS97's gradient),   dL/dc_{t-1} (through c_t) = dc
    """
    i, n = cache
    dc = dc_next + dh
    da_i = dc * n * i * (1.0 - i)
    da_n = dc * i * 0.5 * (1.0 - n * n)
    da = np.concatenate([da_i, da_n], axis=1)
    return StepGrads(_through_wh(da, Wh, truncated), dc, da, da, dc)


# --------------------------------------------------------------------- GRU


def gru_step_forward(xw, h_prev, c_prev, Wh, bhn):
    """GRU step in PyTorch's formulation (Cho et al. 2014).

    hh  = h_{t-1} Wh                         (B, 3H), blocks r z n
    r   = sigma(xw_r + hh_r)                 reset gate
    z   = sigma(xw_z + hh_z)                 update gate
    hn  = hh_n + bhn                         the candidate's hidden part, before the reset gate
    n   = tanh(xw_n + r * hn)                candidate
    h_t = (1 - z) * n + z * h_{t-1}

    ``bhn`` (H,) is the hidden-side candidate bias: the reset gate scales it, so it cannot join b.
    """
    hh_r, hh_z, hh_n = np.split(h_prev @ Wh, 3, axis=1)
    xw_r, xw_z, xw_n = np.split(xw, 3, axis=1)
    r = sigmoid(xw_r + hh_r)
    z = sigmoid(xw_z + hh_z)
    hn = hh_n + bhn
    n = np.tanh(xw_n + r * hn)
    h = (1.0 - z) * n + z * h_prev
    return h, None, np.concatenate([r, z, n], axis=1), (h_prev, r, z, n, hn)


def gru_step_backward(dh, dc_next, cache, Wh, truncated=False) -> StepGrads:
    """Backward of :func:`gru_step_forward`.

    da_n = dh * (1 - z) * (1 - n^2)
    da_r = da_n * hn * r (1 - r)
    da_z = dh * (h_{t-1} - n) * z (1 - z)
    dL/d(h_{t-1} Wh) = [da_r, da_z, da_n * r]
    dL/dh_{t-1} = dh * z + dL/d(h_{t-1} Wh) Wh^T (the second term 0 when truncated)
    """
    h_prev, r, z, n, hn = cache
    da_n = dh * (1.0 - z) * (1.0 - n * n)  # through h = (1 - z) n + z h_prev, then tanh
    da_r = da_n * hn * r * (1.0 - r)  # through r * hn, then sigma
    da_z = dh * (h_prev - n) * z * (1.0 - z)  # through z, then sigma
    da = np.concatenate([da_r, da_z, da_n], axis=1)
    dhh = np.concatenate([da_r, da_z, da_n * r], axis=1)  # the candidate's hidden path passes r
    dh_prev = dh * z + _through_wh(dhh, Wh, truncated)
    return StepGrads(dh_prev, None, da, dhh, None)


# ------------------------------------------------------------ one layer, T steps


class Steps(NamedTuple):
    forward: Callable
    backward: Callable


STEPS: dict[str, Steps] = {
    "rnn": Steps(rnn_step_forward, rnn_step_backward),
    "lstm": Steps(lstm_step_forward, lstm_step_backward),
    "gru": Steps(gru_step_forward, gru_step_backward),
    "rnn_relu": Steps(rnn_relu_step_forward, rnn_relu_step_backward),
    "rnn_logistic": Steps(rnn_logistic_step_forward, rnn_logistic_step_backward),
    "lstm97": Steps(lstm97_step_forward, lstm97_step_backward),
    "lstm97fc": Steps(lstm97fc_step_forward, lstm97fc_step_backward),
    "lstm97ig": Steps(lstm97ig_step_forward, lstm97ig_step_backward),
}


def unroll(cell: str, x: np.ndarray, Wx: np.ndarray, b: np.ndarray, Wh: np.ndarray, bhn=None, h0=None,
           c0=None) -> Unroll:
    """Run one layer over every step of its input ``x`` (T, B, I) from the state ``h0``, ``c0`` (B, H), zero by
    default. The input part of every pre-activation, xw_t = x_t Wx + b, is computed for all steps at once.

    The cache is the list of the T step caches. A cell whose recurrent input is more than h_t ("lstm97fc") reads
    u_{t-1} = [h_{t-1}, i_{t-1}, o_{t-1}], kept as ``Unroll.src``.
    """
    xw = input_projection(x, Wx, b)
    T, B, GH = xw.shape
    H = GH // len(GATES[cell])
    lstm = cell in MEMORY_CELLS
    h = np.zeros((T + 1, B, H), dtype=xw.dtype)
    c = np.zeros((T + 1, B, H), dtype=xw.dtype) if lstm else None
    if h0 is not None:
        h[0] = h0
    if c0 is not None:
        c[0] = c0
    gates = np.empty((T, B, GH), dtype=xw.dtype)
    u = np.zeros((T + 1, B, Wh.shape[0]), dtype=xw.dtype) if cell in SOURCE_BLOCKS else None
    if u is not None:
        u[0, :, :H] = h[0]
    caches = []
    step = STEPS[cell].forward
    for t in range(T):
        h[t + 1], c_t, gates[t], cache = step(xw[t], h[t] if u is None else u[t], c[t] if lstm else None, Wh, bhn)
        if lstm:
            c[t + 1] = c_t
        if u is not None:  # u_t = [h_t, i_t, o_t]
            u[t + 1] = np.concatenate([h[t + 1], gates[t, :, :H], gates[t, :, 2 * H :]], axis=1)
        caches.append(cache)
    return Unroll(h, c, gates, caches, u)


def backprop(cell: str, run: Unroll, inject: np.ndarray, Wh: np.ndarray, overwrite_inject: bool = False,
             x: np.ndarray | None = None, gradient: str = "full", dc_last: np.ndarray | None = None) -> Flow:
    """Backpropagation through time over one layer, t = T ... 1.

    dh_t = inject_t + dL/dh_t through h_{t+1}, where ``inject`` (T, B, H) is what reaches h_t directly
    (from the head or from the layer above); with ``gradient`` "truncated" the second term has no part through
    h_t Wh (``config.GRADIENTS``). ``dc_last`` (B, H), cells with a cell state only (``config.MEMORY_CELLS``):
    dL/dc_T arriving from outside the layer (a caller that uses its final cell state), zero when None; the
    carousel starts back from it. ``overwrite_inject`` and ``x`` are part of the engine interface;
    this engine never overwrites its inputs and leaves the weight gradients to lstmlab.core.model.
    """
    T, B, H = inject.shape
    GH = run.gates.shape[2]
    lstm = cell in MEMORY_CELLS
    truncated = _truncated(gradient)
    dh = np.empty((T, B, H), dtype=inject.dtype)
    dc = np.empty((T, B, H), dtype=inject.dtype) if lstm else None
    da = np.empty((T, B, GH), dtype=inject.dtype)
    dhh = np.empty((T, B, GH), dtype=inject.dtype) if cell == "gru" else da
    dh_next = np.zeros((B, Wh.shape[0]), dtype=inject.dtype)  # dL/du_t through step t + 1 (u = h but lstm97fc)
    dc_next = np.zeros((B, H), dtype=inject.dtype) if lstm else None
    if dc_last is not None:
        if not lstm:
            raise ValueError(f"dc_last: given for cell {cell!r}, which has no cell state; expected None")
        dc_next[...] = dc_last
    step = STEPS[cell].backward
    for t in reversed(range(T)):
        dh[t] = inject[t] + dh_next[:, :H]
        du = dh[t] if dh_next.shape[1] == H else np.concatenate([dh[t], dh_next[:, H:]], axis=1)
        g = step(du, dc_next, run.cache[t], Wh, truncated)
        dh_next, dc_next, da[t] = g.h_prev, g.c_prev, g.a
        if dhh is not da:
            dhh[t] = g.hh
        if lstm:
            dc[t] = g.c
    return Flow(dh, dc, da, dhh)


def _truncated(gradient: str) -> bool:
    """Whether ``gradient`` (a name from ``config.GRADIENTS``) is "truncated"; ValueError otherwise."""
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient={gradient!r}: expected one of {', '.join(map(repr, GRADIENTS))}")
    return gradient == "truncated"
