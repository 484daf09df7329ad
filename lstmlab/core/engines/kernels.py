r"""numba kernels of the compiled engine: one layer's whole time loop per call.

Every kernel is a top-level ``@njit(cache=True)`` function, compiled once per dtype and kept on disk (see
:mod:`lstmlab.core.engines.compiled` for the cache directory). Rules the code below keeps, each found by
measurement (a test checks the first in the compiled IR):

- every elementwise loop runs over ``range(H)`` of one gate block, the block's offset added to the index:
  several blocks in one loop, a ``range(kH, (k+1)H)`` or two views of one array at different steps stop
  LLVM from vectorising it;
- no per-row views: each one costs atomic reference counting, at every step;
- no temporaries in the time loop and no (T, B, G*H) array of x_t Wx + b: each step computes its input
  part into the gates' rows (:func:`input_step`), the matrix product adds h_{t-1} Wh to them in place
  (:func:`matmul_add`, gemm with beta = 1), and dL/dh_{t-1} accumulates over inject_{t-1} likewise;
- no float literals: a float64 literal in a float32 kernel promotes the arithmetic to float64, so every
  constant comes from the table ``K`` of the kernel's dtype (:func:`constants`);
- tanh is computed here (:func:`tanh`) because a call to libm's stops vectorisation; sigma(a) is
  (1 + tanh(a/2)) / 2 as in the reference engine;
- multiply-adds may fuse (``fastmath={"contract"}``, nothing else of fastmath): tanh's polynomial then runs
  in about half the time.

Each kernel runs the examples b0 <= b < b1 of the batch (a shard; rows of other shards are not touched) and
releases the GIL (``nogil``), so the shards of a pass can run in threads side by side
(:func:`lstmlab.core.engines.compiled.shards`).

Shapes as in :mod:`lstmlab.core.engines.base`: T steps, B examples, H units, G*H gate columns.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from lstmlab.core.engines import blas

# The kernels' constants, in their dtype: a table K made once per dtype (:func:`constants`) and read by each
# kernel into a tuple of scalars (:func:`scalars`) that the elementwise helpers take. An array argument to an
# inlined helper would be reference-counted on every call, atomically, and keep the loop scalar.
# expm1 runs on |r| <= ln(2)/2 by its Taylor series (:func:`expm1_series`); tanh is +-1 in the dtype
# beyond CLAMP; MAGIC rounds to an integer k and keeps k + the exponent bias in the low bits (:func:`pow2`).
N_CONSTANTS = 21
OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})


def constants(dtype) -> np.ndarray:
    """The table K of the kernels' constants in ``dtype`` (order: see :func:`scalars`)."""
    f64 = np.dtype(dtype) == np.float64
    clamp = 20.0 if f64 else 9.0
    magic = 1.5 * 2.0**52 + 1023 if f64 else 1.5 * 2.0**23 + 127
    k = [1.0, 2.0, 0.5, 1.0 / math.log(2.0), 0.693145751953125, 1.4286068203094173e-06, clamp, magic]
    k += [1.0 / math.factorial(n) for n in range(1, 14)]  # Taylor coefficients of expm1
    assert len(k) == N_CONSTANTS
    return np.array(k, dtype=dtype)


@njit(**OPTIONS)
def scalars(K):
    """K as a tuple of scalars of its dtype."""
    return (K[0], K[1], K[2], K[3], K[4], K[5], K[6], K[7], K[8], K[9], K[10], K[11], K[12], K[13], K[14],
            K[15], K[16], K[17], K[18], K[19], K[20])


@intrinsic
def pow2(typingctx, t):
    """2^k from t = (k + bias) + 1.5 * 2^m, m the dtype's mantissa bits: t's low bits are k + bias, shifted
    into the exponent field. Plain integer shifts, so the loop around it vectorises (ldexp does not)."""
    if not isinstance(t, types.Float):
        return None
    mantissa = 52 if t.bitwidth == 64 else 23

    def codegen(context, builder, sig, args):
        bits = ir.IntType(t.bitwidth)
        k = builder.shl(builder.bitcast(args[0], bits), ir.Constant(bits, mantissa))
        return builder.bitcast(k, context.get_value_type(t))

    return t(t), codegen


def expm1_series(r, C):
    """expm1(r) for |r| <= ln(2)/2 by its Taylor series: to r^13 in float64 (remainder below 1.3e-17
    relative), to r^7 in float32 (below 1.5e-8); each dtype gets its own polynomial at compile time."""


@overload(expm1_series, inline="always")
def _expm1_series(r, C):
    if r == types.float32:
        def series(r, C):
            p1, p2, p3, p4, p5, p6, p7 = C[8], C[9], C[10], C[11], C[12], C[13], C[14]
            return r * (p1 + r * (p2 + r * (p3 + r * (p4 + r * (p5 + r * (p6 + r * p7))))))
        return series

    def series(r, C):
        (p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13) = C[8:]
        return r * (p1 + r * (p2 + r * (p3 + r * (p4 + r * (p5 + r * (p6 + r * (p7 + r * (p8 + r * (p9 + r * (
            p10 + r * (p11 + r * (p12 + r * p13))))))))))))
    return series


@njit(inline="always", **OPTIONS)
def tanh(x, C):
    """tanh(x) = e / (e + 2) with e = expm1(2|x|), sign restored; within a few ulp of libm's.

    expm1(y) = 2^k (1 + expm1(r)) - 1 with k = round(y / ln 2) and r = y - k ln 2 (ln 2 in two parts, so
    r is exact). A loop, or a helper returning a tuple, in here keeps the caller's loop scalar.
    """
    one, two, inv_ln2, ln2_hi, ln2_lo, clamp, magic = C[0], C[1], C[3], C[4], C[5], C[6], C[7]
    y = two * min(abs(x), clamp)
    t = y * inv_ln2 + magic
    kf = t - magic
    r = (y - kf * ln2_hi) - kf * ln2_lo
    s = pow2(t)
    e = s * expm1_series(r, C) + (s - one)  # expm1(y)
    return math.copysign(e / (e + two), x)


@njit(inline="always", **OPTIONS)
def sigmoid(a, C):
    """sigma(a) = (1 + tanh(a / 2)) / 2"""
    return C[2] * (C[0] + tanh(C[2] * a, C))


# ------------------------------------------------------- matrix products


@intrinsic
def _gemm_add(typingctx, a, b, c):
    """c += a @ b by the engine's own BLAS (:mod:`lstmlab.core.engines.blas`: its Fortran gemm, beta = 1, 32-bit
    integers); shapes are the caller's to check."""
    operands = (a, b, c)
    if not all(isinstance(m, types.Array) and m.ndim == 2 and m.dtype == c.dtype for m in operands):
        return None
    if c.dtype not in (types.float64, types.float32) or c.layout != "C" or a.layout not in "CF" or \
            b.layout not in "CF":
        return None
    symbol = blas.SYMBOLS[str(c.dtype)]

    def codegen(context, builder, sig, args):
        char, int32 = ir.IntType(8), ir.IntType(32)
        fp = context.get_value_type(c.dtype).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [char.as_pointer()] * 2 + [int32.as_pointer()] * 3 + [fp] * 2 +
                               [int32.as_pointer(), fp, int32.as_pointer(), fp, fp, int32.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        arrays = [context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args)]
        (m, k), (_, n) = (cgutils.unpack_tuple(builder, arr.shape) for arr in arrays[:2])

        def slot(value):
            return cgutils.alloca_once_value(builder, value)

        def integer(value):
            return slot(builder.trunc(value, int32))

        def operand(ty, arr):  # BLAS is column-major: a C-contiguous (r, s) array is its (s, r) transpose
            rows, cols = cgutils.unpack_tuple(builder, arr.shape)
            trans = slot(ir.Constant(char, ord("N" if ty.layout == "C" else "T")))
            return trans, builder.bitcast(arr.data, fp), integer(cols if ty.layout == "C" else rows)

        (ta, pa, lda), (tb, pb, ldb), (_, pc, ldc) = (operand(t, arr) for t, arr in zip(sig.args, arrays))
        one = slot(context.get_constant(c.dtype, 1.0))
        # c^T = b^T a^T in column-major terms
        builder.call(fn, (tb, ta, integer(n), integer(m), integer(k), one, pb, ldb, pa, lda, one, pc, ldc))
        return context.get_dummy_value()

    return types.none(a, b, c), codegen


@njit(**OPTIONS)
def matmul_add(a, b, c):
    """c += a @ b: (m, k) @ (k, n) into (m, n), a and b C- or F-contiguous (a transpose is free), c C-contiguous."""
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError("matmul_add: shapes do not fit (m, k) @ (k, n) into (m, n)")
    if max(m, n, k) > MAX_DIM:
        raise ValueError("matmul_add: a dimension above the BLAS's 32-bit integers")
    if m > 0 and n > 0 and k > 0:
        _gemm_add(a, b, c)


MAX_DIM = 2**31 - 1
SMALL_INPUT = 8  # up to this many inputs, x_t Wx is a loop here (a gemm with k <= 8 is mostly call overhead)


@njit(**OPTIONS)
def input_step(x, Wx, bias, out):
    """out = x Wx + bias for one step: (B, I) @ (I, G*H) + (G*H,) into (B, G*H)."""
    B, I = x.shape
    GH = out.shape[1]
    for b in range(B):
        for j in range(GH):
            out[b, j] = bias[j]
    if I > SMALL_INPUT:
        matmul_add(x, Wx, out)
        return
    for b in range(B):
        for i in range(I):
            xi = x[b, i]
            for j in range(GH):
                out[b, j] += xi * Wx[i, j]


@njit(**OPTIONS)
def input_grads(x, da, dWx, db):
    """dWx += x^T da and db += column sums of da for one step: (B, I), (B, G*H) into (I, G*H), (G*H,).

    Called with float64 dWx, db in either dtype: the sums over T*B rows keep float64 accuracy, and they run
    on da_t while it is in cache (a separate pass over (T*B, G*H) after the loop reads it from memory again).
    """
    B, I = x.shape
    GH = da.shape[1]
    for b in range(B):
        for j in range(GH):
            db[j] += da[b, j]
        for i in range(I):
            xi = x[b, i]
            for j in range(GH):
                dWx[i, j] += xi * da[b, j]


# ------------------------------------------------------------------- RNNs

# The RNN kernels' activation, an argument of theirs: one kernel pair serves the three plain RNN cells.
TANH, RELU, LOGISTIC = 0, 1, 2
RNN_ACTIVATIONS = {"rnn": TANH, "rnn_relu": RELU, "rnn_logistic": LOGISTIC}


@njit(**OPTIONS)
def rnn_forward(x, Wx, bias, Wh, h, K, act, b0, b1):
    """h_t = f(x_t Wx + b + h_{t-1} Wh), t = 1..T, into h[1:] (h[0] holds h_0), for examples b0 <= b < b1;
    f = tanh, max(., 0) or sigma for ``act`` TANH, RELU or LOGISTIC."""
    C = scalars(K)
    zero = C[0] - C[0]
    T, H = h.shape[0] - 1, h.shape[2]
    for t in range(T):
        input_step(x[t, b0:b1], Wx, bias, h[t + 1, b0:b1])
        matmul_add(h[t, b0:b1], Wh, h[t + 1, b0:b1])
        for b in range(b0, b1):
            if act == TANH:
                for j in range(H):
                    h[t + 1, b, j] = tanh(h[t + 1, b, j], C)
            elif act == RELU:
                for j in range(H):
                    v = h[t + 1, b, j]
                    h[t + 1, b, j] = zero if v < zero else v  # NaN stays NaN, as in np.maximum
            else:
                for j in range(H):
                    h[t + 1, b, j] = sigmoid(h[t + 1, b, j], C)


@njit(**OPTIONS)
def rnn_backward(h, Wh, dh, da, x, dWx, db, K, act, full, b0, b1):
    """For t = T..1: da_t = dh_t f'(a_t) (tanh: 1 - h_t^2, relu: [h_t > 0], sigma: h_t (1 - h_t)), then, unless
    the gradient is truncated (``full`` false), dh_{t-1} += da_t Wh^T; dh holds inject on entry.
    dWx, db: :func:`input_grads` of every step, unless x has no rows (the caller sums them).
    Examples b0 <= b < b1 only (each kernel here takes such a row range: a shard of the batch)."""
    C = scalars(K)
    one = C[0]
    zero = one - one
    T, H = dh.shape[0], dh.shape[2]
    WhT = Wh.T
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            if act == TANH:
                for j in range(H):
                    ht = h[t + 1, b, j]
                    da[t, b, j] = dh[t, b, j] * (one - ht * ht)
            elif act == RELU:
                for j in range(H):
                    da[t, b, j] = dh[t, b, j] * (one if h[t + 1, b, j] > zero else zero)
            else:
                for j in range(H):
                    ht = h[t + 1, b, j]
                    da[t, b, j] = dh[t, b, j] * ht * (one - ht)
        if t > 0 and full:
            matmul_add(da[t, b0:b1], WhT, dh[t - 1, b0:b1])
        if x.shape[0] > 0:
            input_grads(x[t, b0:b1], da[t, b0:b1], dWx, db)


# -------------------------------------------------------------------- LSTM


@njit(**OPTIONS)
def lstm_forward(x, Wx, bias, Wh, h, c, g, tc, K, b0, b1):
    """i, f, o = sigma(a_i, a_f, a_o), n = tanh(a_n) with a = x_t Wx + b + h_{t-1} Wh; c_t = f c_{t-1} + i n;
    h_t = o tanh(c_t). Fills h[1:], c[1:], the gates g (T, B, 4H) = [i f n o] and tc = tanh(c_t)."""
    C = scalars(K)
    T, G = g.shape[0], g.shape[2]
    H = G // 4
    for t in range(T):
        input_step(x[t, b0:b1], Wx, bias, g[t, b0:b1])
        matmul_add(h[t, b0:b1], Wh, g[t, b0:b1])
        for b in range(b0, b1):
            for j in range(H):
                g[t, b, j] = sigmoid(g[t, b, j], C)
            for j in range(H):
                g[t, b, H + j] = sigmoid(g[t, b, H + j], C)
            for j in range(H):
                g[t, b, 2 * H + j] = tanh(g[t, b, 2 * H + j], C)
            for j in range(H):
                g[t, b, 3 * H + j] = sigmoid(g[t, b, 3 * H + j], C)
            for j in range(H):
                ct = g[t, b, H + j] * c[t, b, j] + g[t, b, j] * g[t, b, 2 * H + j]
                c[t + 1, b, j] = ct
                tct = tanh(ct, C)
                tc[t, b, j] = tct
                h[t + 1, b, j] = g[t, b, 3 * H + j] * tct


@njit(**OPTIONS)
def lstm_backward(c, g, tc, Wh, dh, dc, da, x, dWx, db, K, full, b0, b1):
    """For t = T..1: dc_t = dc_{t+1} f_{t+1} + dh_t o (1 - tanh(c_t)^2);
    da = [dc n i(1-i), dc c_{t-1} f(1-f), dc i (1-n^2), dh tanh(c_t) o(1-o)]; dh_{t-1} += da_t Wh^T if ``full``.
    dh holds inject on entry; dWx, db as in :func:`rnn_backward`."""
    C = scalars(K)
    one = C[0]
    T, G = da.shape[0], da.shape[2]
    H = G // 4
    WhT = Wh.T
    carry = np.zeros((b1 - b0, H), dtype=dh.dtype)  # dc_{t+1} f_{t+1}
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            for j in range(H):
                tct = tc[t, b, j]
                dc[t, b, j] = carry[b - b0, j] + dh[t, b, j] * g[t, b, 3 * H + j] * (one - tct * tct)
            for j in range(H):
                i = g[t, b, j]
                da[t, b, j] = dc[t, b, j] * g[t, b, 2 * H + j] * i * (one - i)
            for j in range(H):
                f = g[t, b, H + j]
                da[t, b, H + j] = dc[t, b, j] * c[t, b, j] * f * (one - f)
                carry[b - b0, j] = dc[t, b, j] * f
            for j in range(H):
                n = g[t, b, 2 * H + j]
                da[t, b, 2 * H + j] = dc[t, b, j] * g[t, b, j] * (one - n * n)
            for j in range(H):
                o = g[t, b, 3 * H + j]
                da[t, b, 3 * H + j] = dh[t, b, j] * tc[t, b, j] * o * (one - o)
        if t > 0 and full:
            matmul_add(da[t, b0:b1], WhT, dh[t - 1, b0:b1])
        if x.shape[0] > 0:
            input_grads(x[t, b0:b1], da[t, b0:b1], dWx, db)


# ------------------------------------------------------------- LSTM of 1997


@njit(**OPTIONS)
def lstm97_forward(x, Wx, bias, Wh, h, c, g, hc, u, K, b0, b1):
    """i, o = sigma(a_i, a_o), n = 2 tanh(a_n / 2) (= 4 sigma(a_n) - 2) with a = x_t Wx + b + u_{t-1} Wh;
    c_t = c_{t-1} + i n; h_t = o tanh(c_t / 2) (= o (2 sigma(c_t) - 1)). Fills h[1:], c[1:], the gates
    g (T, B, 3H) = [i n o] and hc = tanh(c_t / 2). u_{t-1} is h_{t-1} when ``u`` has no rows (lstm97); for
    lstm97fc ``u`` (T + 1, B, 3H) holds u_0 on entry and gets u_t = [h_t, i_t, o_t]."""
    C = scalars(K)
    two, half = C[1], C[2]
    T, G = g.shape[0], g.shape[2]
    H = G // 3
    fc = u.shape[0] > 0
    for t in range(T):
        input_step(x[t, b0:b1], Wx, bias, g[t, b0:b1])
        matmul_add(u[t, b0:b1] if fc else h[t, b0:b1], Wh, g[t, b0:b1])
        for b in range(b0, b1):
            for j in range(H):
                g[t, b, j] = sigmoid(g[t, b, j], C)
            for j in range(H):
                g[t, b, H + j] = two * tanh(half * g[t, b, H + j], C)
            for j in range(H):
                g[t, b, 2 * H + j] = sigmoid(g[t, b, 2 * H + j], C)
            for j in range(H):
                ct = c[t, b, j] + g[t, b, j] * g[t, b, H + j]
                c[t + 1, b, j] = ct
                hct = tanh(half * ct, C)
                hc[t, b, j] = hct
                h[t + 1, b, j] = g[t, b, 2 * H + j] * hct
            if fc:
                for j in range(H):
                    u[t + 1, b, j] = h[t + 1, b, j]
                    u[t + 1, b, H + j] = g[t, b, j]
                    u[t + 1, b, 2 * H + j] = g[t, b, 2 * H + j]


@njit(**OPTIONS)
def lstm97_backward(g, hc, Wh, dh, dc, da, x, dWx, db, K, full, b0, b1):
    """For t = T..1: dc_t = dc_{t+1} + dh_t o (1 - h(c_t)^2) / 2 (the carousel: no factor on dc_{t+1});
    da = [(dc n + e_i) i(1-i), dc i (1 - (n/2)^2), (dh h(c_t) + e_o) o(1-o)]; dh_{t-1} += da_t Wh^T if ``full``.
    lstm97fc (Wh with 3H rows): da_t Wh^T is dL/du_{t-1} = [dh, e_i, e_o] of step t - 1, e_i and e_o the error
    on the gates' own outputs; for lstm97 e_i = e_o = 0. dh holds inject on entry; dWx, db as in
    :func:`rnn_backward`."""
    C = scalars(K)
    one, half = C[0], C[2]
    T, G = da.shape[0], da.shape[2]
    H = G // 3
    fc = Wh.shape[0] > H
    WhT = Wh.T
    carry = np.zeros((b1 - b0, H), dtype=dh.dtype)  # dc_{t+1}
    du = np.zeros((b1 - b0, 3 * H), dtype=dh.dtype)  # dL/du_t through step t + 1: [dh, e_i, e_o]; 0 for lstm97
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            r = b - b0
            for j in range(H):
                hct = hc[t, b, j]
                dc[t, b, j] = carry[r, j] + dh[t, b, j] * g[t, b, 2 * H + j] * half * (one - hct * hct)
            for j in range(H):
                i = g[t, b, j]
                da[t, b, j] = (dc[t, b, j] * g[t, b, H + j] + du[r, H + j]) * i * (one - i)
            for j in range(H):
                hn = half * g[t, b, H + j]
                da[t, b, H + j] = dc[t, b, j] * g[t, b, j] * (one - hn * hn)
                carry[r, j] = dc[t, b, j]
            for j in range(H):
                o = g[t, b, 2 * H + j]
                da[t, b, 2 * H + j] = (dh[t, b, j] * hc[t, b, j] + du[r, 2 * H + j]) * o * (one - o)
        if t > 0 and full:
            if fc:
                du[:] = 0.0
                matmul_add(da[t, b0:b1], WhT, du)
                for b in range(b0, b1):
                    for j in range(H):
                        dh[t - 1, b, j] += du[b - b0, j]
            else:
                matmul_add(da[t, b0:b1], WhT, dh[t - 1, b0:b1])
        if x.shape[0] > 0:
            input_grads(x[t, b0:b1], da[t, b0:b1], dWx, db)


@njit(**OPTIONS)
def lstm97ig_forward(x, Wx, bias, Wh, h, c, g, K, b0, b1):
    """i = sigma(a_i), n = tanh(a_n / 2) (= 2 sigma(a_n) - 1) with a = x_t Wx + b + h_{t-1} Wh; c_t = c_{t-1} + i n;
    h_t = c_t. Fills h[1:], c[1:] and the gates g (T, B, 2H) = [i n]."""
    C = scalars(K)
    half = C[2]
    T, G = g.shape[0], g.shape[2]
    H = G // 2
    for t in range(T):
        input_step(x[t, b0:b1], Wx, bias, g[t, b0:b1])
        matmul_add(h[t, b0:b1], Wh, g[t, b0:b1])
        for b in range(b0, b1):
            for j in range(H):
                g[t, b, j] = sigmoid(g[t, b, j], C)
            for j in range(H):
                g[t, b, H + j] = tanh(half * g[t, b, H + j], C)
            for j in range(H):
                ct = c[t, b, j] + g[t, b, j] * g[t, b, H + j]
                c[t + 1, b, j] = ct
                h[t + 1, b, j] = ct


@njit(**OPTIONS)
def lstm97ig_backward(g, Wh, dh, dc, da, x, dWx, db, K, full, b0, b1):
    """For t = T..1: dc_t = dc_{t+1} + dh_t (h = c); da = [dc n i(1-i), dc i (1 - n^2) / 2]; dh_{t-1} += da_t Wh^T
    if ``full``. dh holds inject on entry; dWx, db as in :func:`rnn_backward`."""
    C = scalars(K)
    one, half = C[0], C[2]
    T, G = da.shape[0], da.shape[2]
    H = G // 2
    WhT = Wh.T
    carry = np.zeros((b1 - b0, H), dtype=dh.dtype)  # dc_{t+1}
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            r = b - b0
            for j in range(H):
                d = carry[r, j] + dh[t, b, j]
                dc[t, b, j] = d
                carry[r, j] = d
                i, n = g[t, b, j], g[t, b, H + j]
                da[t, b, j] = d * n * i * (one - i)
                da[t, b, H + j] = d * i * half * (one - n * n)
        if t > 0 and full:
            matmul_add(da[t, b0:b1], WhT, dh[t - 1, b0:b1])
        if x.shape[0] > 0:
            input_grads(x[t, b0:b1], da[t, b0:b1], dWx, db)


# --------------------------------------------------------------------- GRU


@njit(**OPTIONS)
def gru_forward(x, Wx, bias, Wh, bhn, h, g, hn, K, b0, b1):
    """xw = x_t Wx + b, hh = h_{t-1} Wh; r = sigma(xw_r + hh_r), z = sigma(xw_z + hh_z), hn = hh_n + bhn,
    n = tanh(xw_n + r hn), h_t = (1 - z) n + z h_{t-1}. Fills h[1:], g (T, B, 3H) = [r z n] and hn."""
    C = scalars(K)
    one = C[0]
    T, G = g.shape[0], g.shape[2]
    H = G // 3
    zero = one - one
    hh = np.empty((b1 - b0, G), dtype=g.dtype)
    for t in range(T):
        input_step(x[t, b0:b1], Wx, bias, g[t, b0:b1])
        for r in range(b1 - b0):
            for j in range(G):
                hh[r, j] = zero
        matmul_add(h[t, b0:b1], Wh, hh)
        for b in range(b0, b1):
            r = b - b0
            for j in range(H):
                g[t, b, j] = sigmoid(g[t, b, j] + hh[r, j], C)
            for j in range(H):
                g[t, b, H + j] = sigmoid(g[t, b, H + j] + hh[r, H + j], C)
            for j in range(H):
                hn[t, b, j] = hh[r, 2 * H + j] + bhn[j]
            for j in range(H):
                g[t, b, 2 * H + j] = tanh(g[t, b, 2 * H + j] + g[t, b, j] * hn[t, b, j], C)
            for j in range(H):
                n = g[t, b, 2 * H + j]
                h[t + 1, b, j] = (one - g[t, b, H + j]) * n + g[t, b, H + j] * h[t, b, j]


@njit(**OPTIONS)
def gru_backward(h, g, hn, Wh, dh, da, dhh, x, dWx, db, K, full, b0, b1):
    """For t = T..1: dh_t += dh_{t+1} z_{t+1} (with dhh_{t+1} Wh^T added at step t+1 if ``full``);
    da_n = dh (1-z)(1-n^2), da_r = da_n hn r(1-r), da_z = dh (h_{t-1} - n) z(1-z); dhh = [da_r, da_z, da_n r].
    dh holds inject on entry; dWx, db as in :func:`rnn_backward`."""
    C = scalars(K)
    one = C[0]
    T, G = da.shape[0], da.shape[2]
    H = G // 3
    WhT = Wh.T
    carry = np.zeros((b1 - b0, H), dtype=dh.dtype)  # dh_{t+1} z_{t+1}
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            for j in range(H):
                dh[t, b, j] += carry[b - b0, j]
            for j in range(H):
                n = g[t, b, 2 * H + j]
                da[t, b, 2 * H + j] = dh[t, b, j] * (one - g[t, b, H + j]) * (one - n * n)
            for j in range(H):
                r = g[t, b, j]
                da[t, b, j] = da[t, b, 2 * H + j] * hn[t, b, j] * r * (one - r)
                dhh[t, b, j] = da[t, b, j]
                dhh[t, b, 2 * H + j] = da[t, b, 2 * H + j] * r
            for j in range(H):
                z = g[t, b, H + j]
                da[t, b, H + j] = dh[t, b, j] * (h[t, b, j] - g[t, b, 2 * H + j]) * z * (one - z)
                dhh[t, b, H + j] = da[t, b, H + j]
                carry[b - b0, j] = dh[t, b, j] * z
        if t > 0 and full:
            matmul_add(dhh[t, b0:b1], WhT, dh[t - 1, b0:b1])
        if x.shape[0] > 0:
            input_grads(x[t, b0:b1], da[t, b0:b1], dWx, db)
