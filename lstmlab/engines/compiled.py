"""The compiled engine (the default): each layer's time loop, forward and backward, in one numba kernel.

It computes what :mod:`lstmlab.engines.reference` computes, in the same order of operations where it
matters, and agrees with it to about 1e-14 relative in float64 (tests hold it to 1e-12, and to 1e-4 in
float32); the kernels are in :mod:`lstmlab.engines.kernels`.

Compiled code is cached on disk (numba's ``cache=True``): in ``__pycache__`` beside the kernels' source
when that directory is writable, else in the user's cache directory (numba's own fallback for a read-only
install), or wherever ``NUMBA_CACHE_DIR`` says. The first process to use a dtype compiles its kernels, in
about 2-4 s each; later ones load them. :func:`warm` does that ahead of the first pass.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  the BLAS numba's np.dot calls: loaded now, runtime.configure_worker limits its threads too

from . import kernels
from .base import Flow, Unroll

VERSION = f"2 (numba {numba.__version__}, numpy {np.__version__})"

_CONSTANTS = {np.dtype(d): kernels.constants(d) for d in (np.float64, np.float32)}


def unroll(cell: str, x: np.ndarray, Wx: np.ndarray, b: np.ndarray, Wh: np.ndarray, bhn=None, h0=None,
           c0=None) -> Unroll:
    """Run one layer over every step of its input ``x`` (T, B, I) from ``h0``, ``c0`` (B, H), zero by default.

    The cache is (tanh(c_t),) for the LSTM, (hn_t,) for the GRU (the candidate's hidden part), () for the RNN.
    """
    T, B, _ = x.shape
    H, GH = Wh.shape
    dtype = x.dtype
    K = _CONSTANTS[dtype]
    x, Wx, b, Wh = (np.ascontiguousarray(a) for a in (x, Wx, b, Wh))
    h = np.empty((T + 1, B, H), dtype=dtype)
    h[0] = 0.0 if h0 is None else h0
    if cell == "rnn":
        kernels.rnn_forward(x, Wx, b, Wh, h, K)
        return Unroll(h, None, h[1:], ())
    gates = np.empty((T, B, GH), dtype=dtype)
    aux = np.empty((T, B, H), dtype=dtype)
    if cell == "lstm":
        c = np.empty((T + 1, B, H), dtype=dtype)
        c[0] = 0.0 if c0 is None else c0
        kernels.lstm_forward(x, Wx, b, Wh, h, c, gates, aux, K)
        return Unroll(h, c, gates, (aux,))
    kernels.gru_forward(x, Wx, b, Wh, np.ascontiguousarray(bhn), h, gates, aux, K)
    return Unroll(h, None, gates, (aux,))


def backprop(cell: str, run: Unroll, inject: np.ndarray, Wh: np.ndarray, overwrite_inject: bool = False,
             x: np.ndarray | None = None) -> Flow:
    """Backpropagation through time over one layer, t = T ... 1 (see reference.backprop).

    ``overwrite_inject``: dL/dh_t may be accumulated in inject's memory (the caller has no further use for it).
    ``x``: the layer's input (T, B, I); with I <= kernels.SMALL_INPUT the kernel sums dWx and db step by step
    (in float64, returned in the dtype), else the flow leaves them to the caller.
    """
    T, B, H = inject.shape
    GH = run.gates.shape[2]
    dtype = inject.dtype
    K = _CONSTANTS[dtype]
    Wh = np.ascontiguousarray(Wh)
    dh = _own(inject, overwrite_inject)
    da = np.empty((T, B, GH), dtype=dtype)
    sums = x is not None and x.shape[2] <= kernels.SMALL_INPUT
    if sums:
        x = np.ascontiguousarray(x, dtype=dtype)
        dWx, db = np.zeros((x.shape[2], GH)), np.zeros(GH)
    else:
        x, dWx, db = np.empty((0, B, 1), dtype=dtype), np.empty((0, GH)), np.empty(0)
    dc = dhh = None
    if cell == "rnn":
        kernels.rnn_backward(run.h, Wh, dh, da, x, dWx, db, K)
        dhh = da
    elif cell == "lstm":
        dc = np.empty((T, B, H), dtype=dtype)
        kernels.lstm_backward(run.c, run.gates, run.cache[0], Wh, dh, dc, da, x, dWx, db, K)
        dhh = da
    else:
        dhh = np.empty((T, B, GH), dtype=dtype)
        kernels.gru_backward(run.h, run.gates, run.cache[0], Wh, dh, da, dhh, x, dWx, db, K)
    if not sums:
        return Flow(dh, dc, da, dhh)
    return Flow(dh, dc, da, dhh, dWx.astype(dtype, copy=False), db.astype(dtype, copy=False))


def _own(a: np.ndarray, overwrite: bool) -> np.ndarray:
    """``a`` itself when it may be overwritten and is a writable C-contiguous array, else a C-contiguous copy."""
    if overwrite and a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, order="C")


def warm() -> None:
    """Compile (or load from the disk cache) every kernel for both dtypes with a one-unit pass."""
    for dtype in _CONSTANTS:
        for cell, G in (("rnn", 1), ("lstm", 4), ("gru", 3)):
            Wx, b, Wh = np.zeros((1, G), dtype=dtype), np.zeros(G, dtype=dtype), np.zeros((1, G), dtype=dtype)
            run = unroll(cell, np.zeros((1, 1, 1), dtype=dtype), Wx, b, Wh, np.zeros(1, dtype=dtype))
            for x in (None, np.zeros((1, 1, 1), dtype=dtype)):  # the kernel's two signatures of x
                backprop(cell, run, np.zeros((1, 1, 1), dtype=dtype), Wh, x=x)
