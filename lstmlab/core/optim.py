"""Optimisers as pure functions over parameter dicts, and global-norm gradient clipping.

An optimiser is a frozen object with ``init(params) -> state`` and
``update(params, grads, state) -> (new_params, new_state)``. Nothing is mutated: the caller's params,
grads and state dicts (and their arrays) are left as they were, so gradient histories can be recorded
and a step can be replayed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmlab.core.config import OPTIMIZERS

Params = dict[str, np.ndarray]
State = dict[str, Any]


@dataclass(frozen=True)
class SGD:
    """theta <- theta - lr * g."""

    lr: float

    def init(self, params: Params) -> State:
        return {"t": 0}

    def update(self, params: Params, grads: Params, state: State) -> tuple[Params, State]:
        new = {k: p - self.lr * grads[k] for k, p in params.items()}
        return new, {"t": state["t"] + 1}


@dataclass(frozen=True)
class Momentum:
    """Heavy-ball momentum (Polyak 1964), in the form of PyTorch's SGD (dampening 0), v_0 = 0:

        v <- mu * v + g
        theta <- theta - lr * v                      (classical)
        theta <- theta - lr * (g + mu * v)           (Nesterov, Sutskever et al. 2013)
    """

    lr: float
    momentum: float = 0.9
    nesterov: bool = False

    def init(self, params: Params) -> State:
        return {"t": 0, "v": {k: np.zeros_like(p) for k, p in params.items()}}

    def update(self, params: Params, grads: Params, state: State) -> tuple[Params, State]:
        mu, v_old = self.momentum, state["v"]
        v = {k: mu * v_old[k] + grads[k] for k in params}
        if self.nesterov:
            new = {k: p - self.lr * (grads[k] + mu * v[k]) for k, p in params.items()}
        else:
            new = {k: p - self.lr * v[k] for k, p in params.items()}
        return new, {"t": state["t"] + 1, "v": v}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015) with bias correction; at step t = 1, 2, ...:

        m <- b1 m + (1 - b1) g,     v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t),     v_hat = v / (1 - b2^t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)
    """

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init(self, params: Params) -> State:
        zeros = lambda: {k: np.zeros_like(p) for k, p in params.items()}  # noqa: E731
        return {"t": 0, "m": zeros(), "v": zeros()}

    def update(self, params: Params, grads: Params, state: State) -> tuple[Params, State]:
        b1, b2, t = self.beta1, self.beta2, state["t"] + 1
        m = {k: b1 * state["m"][k] + (1.0 - b1) * grads[k] for k in params}
        v = {k: b2 * state["v"][k] + (1.0 - b2) * np.square(grads[k]) for k in params}
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        new = {k: p - self.lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + self.eps) for k, p in params.items()}
        return new, {"t": t, "m": m, "v": v}


@dataclass(frozen=True)
class RMSProp:
    """RMSProp as Arjovsky et al. (2016) ran it (their code's ``rms_prop``), r_0 = ``r0`` everywhere:

        r <- decay r + (1 - decay) g^2
        theta <- theta - lr g / sqrt(r)

    No epsilon: r_0 > 0 keeps the first steps finite (r >= decay^t r_0).
    """

    lr: float
    decay: float = 0.9
    r0: float = 1e-3

    def init(self, params: Params) -> State:
        return {"t": 0, "r": {k: np.full_like(p, self.r0) for k, p in params.items()}}

    def update(self, params: Params, grads: Params, state: State) -> tuple[Params, State]:
        d = self.decay
        r = {k: d * state["r"][k] + (1.0 - d) * np.square(grads[k]) for k in params}
        new = {k: p - self.lr * grads[k] / np.sqrt(r[k]) for k, p in params.items()}
        return new, {"t": state["t"] + 1, "r": r}


def make_optimizer(name: str, lr: float, momentum: float = 0.9):
    """The optimiser a config names (one of ``config.OPTIMIZERS``): "sgd", "momentum" (heavy ball), "adam"
    (default betas; ``momentum`` unused), "nesterov" or "rmsprop" (Arjovsky et al.'s; ``momentum`` unused)."""
    makers = {
        "sgd": lambda: SGD(lr),
        "momentum": lambda: Momentum(lr, momentum),
        "adam": lambda: Adam(lr),
        "nesterov": lambda: Momentum(lr, momentum, nesterov=True),
        "rmsprop": lambda: RMSProp(lr),
    }
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r}: expected one of {', '.join(map(repr, OPTIMIZERS))}")
    return makers[name]()


def l2_norm(a: np.ndarray) -> float:
    """||a||_2 over all elements, in float64, without overflow of the sum of squares for huge finite values."""
    a = np.asarray(a, dtype=np.float64).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        sq = float(np.dot(a, a))
    if math.isfinite(sq):
        return math.sqrt(sq)
    scale = float(np.max(np.abs(a)))
    if not math.isfinite(scale) or scale == 0.0:
        return scale  # inf or nan propagate
    return scale * math.sqrt(float(np.sum(np.square(a / scale, dtype=np.float64))))


def global_norm(grads: Params) -> float:
    """sqrt(sum_k ||g_k||^2) over all gradient arrays (math.hypot: no overflow of the squares)."""
    return math.hypot(*(l2_norm(g) for g in grads.values()))


def clip_by_global_norm(grads: Params, max_norm: float, norm: float | None = None) -> tuple[Params, float, bool]:
    """Rescale all gradients together when their global norm exceeds ``max_norm`` (Pascanu et al. 2013):

        n = sqrt(sum_k ||g_k||^2);  if n > max_norm: g_k <- g_k * max_norm / n

    ``max_norm`` 0 disables clipping. A non-finite norm is returned with the gradients untouched (the
    caller decides it diverged). ``norm`` may be passed when already computed.
    Returns (grads, n before clipping, clipped).
    """
    n = global_norm(grads) if norm is None else norm
    if max_norm <= 0 or not math.isfinite(n) or n <= max_norm:
        return grads, n, False
    scale = max_norm / n
    return {k: g * np.asarray(scale, dtype=g.dtype) for k, g in grads.items()}, n, True


def clip_by_value(grads: Params, limit: float) -> tuple[Params, bool]:
    """Clip every gradient element to [-limit, limit] (Arjovsky et al. 2016's code, before RMSProp); ``limit`` 0
    disables it. Returns (grads, whether any element changed); NaN stays NaN (the caller decides it diverged)."""
    if limit <= 0 or all(float(np.max(np.abs(g), initial=0.0)) <= limit for g in grads.values()):
        return grads, False
    return {k: np.clip(g, -limit, limit) for k, g in grads.items()}, True
