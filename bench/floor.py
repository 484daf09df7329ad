"""The floor of an LSTM pass on one thread of this machine: the parts no engine can skip, each timed alone.

Per step t, h_{t-1} Wh forward and da_t Wh^T backward, called the way the compiled kernels call them (BLAS
gemm on (B, H) x (H, 4H) and (B, 4H) x (4H, H) blocks); after the loop sum_t h_{t-1}^T da_t in one product;
and the B * 5H sigma and tanh of every step (4H gates, tanh(c_t)) by the kernels' own tanh. Their sum is what
a pass costs at this machine's BLAS and vector speed at the pass's own shapes, which for small blocks is well
below the speed of one big product (the "matmul limit" of bench_engines).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bench.common import median_times
from lstmlab.core.engines import kernels


@njit(error_model="numpy", fastmath={"contract"})
def _products(h, W, out):
    """out[t] += h[t] W for every t, as the kernels call the product."""
    for t in range(out.shape[0]):
        kernels.matmul_add(h[t], W, out[t])


@njit(error_model="numpy", fastmath={"contract"})
def _tanh_all(a, K):
    """a = tanh(a) elementwise by the kernels' tanh (a sigma is one tanh and two operations more; the time
    does not depend on the values)."""
    C = kernels.scalars(K)
    for i in range(a.shape[0]):
        a[i] = kernels.tanh(a[i], C)


def pass_floor(T: int, B: int, H: int, dtype, repeats: int, weight_grads: bool = True) -> dict[str, float]:
    """Seconds of each part of an LSTM pass's floor (see the module), medians of ``repeats`` interleaved runs;
    ``weight_grads=False`` leaves out the weight-gradient product (a held-out snapshot's pass)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    Wh = rng.standard_normal((H, 4 * H)).astype(dtype)
    h, g = rng.standard_normal((T, B, H)).astype(dtype), np.zeros((T, B, 4 * H), dtype=dtype)
    dh, K = np.zeros((T, B, H), dtype=dtype), kernels.constants(dtype)
    acts = rng.standard_normal(T * B * 5 * H).astype(dtype)
    parts = {"forward products": lambda: _products(h, Wh, g),
             "backward products": lambda: _products(g, Wh.T, dh),
             "weight-gradient product": lambda: h.reshape(-1, H).T @ g.reshape(-1, 4 * H),
             "sigma and tanh": lambda: _tanh_all(acts, K)}
    if not weight_grads:
        del parts["weight-gradient product"]
    return dict(zip(parts, median_times(list(parts.values()), repeats)))
