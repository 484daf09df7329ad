"""Central-difference gradient checks of :func:`lstmlab.bptt`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmlab.core.model import bptt, check_mask, check_x, check_y, forward, loss_fn
from lstmlab.core.params import as_generator
from lstmlab.core.spec import ModelSpec


@dataclass(frozen=True)
class GradCheck:
    """Per-parameter relative errors ||g_bptt - g_num|| / max(||g_bptt|| + ||g_num||, tiny)."""

    errors: dict
    checked: dict

    @property
    def max_error(self) -> float:
        return max(self.errors.values())


def numerical_grad(f, arr: np.ndarray, index, eps: float) -> float:
    """(f(arr + eps e_i) - f(arr - eps e_i)) / (2 eps), restoring ``arr`` afterwards."""
    old = arr[index]
    arr[index] = old + eps
    plus = f()
    arr[index] = old - eps
    minus = f()
    arr[index] = old
    return (plus - minus) / (2.0 * eps)


def grad_check(
    spec: ModelSpec,
    params: dict,
    x,
    y,
    loss: str = "mse",
    eps: float = 1e-6,
    max_per_param: int | None = None,
    seed=0,
    engine: str | None = None,
    mask=None,
) -> GradCheck:
    """Compare every (or ``max_per_param`` random) gradient entries with central differences.

    Run it in float64: in float32 the differences are dominated by rounding. ``engine``: see lstmlab.core.engines.
    A spec with the truncated gradient is refused: that is not the derivative of the loss the differences measure.
    ``mask``: the steps the loss reads (``bptt``).
    """
    if isinstance(spec, ModelSpec) and spec.gradient != "full":
        raise ValueError(f"gradient={spec.gradient!r}: expected 'full' (central differences measure the full "
                         "gradient of the loss; the truncated one leaves paths out)")
    work = {k: np.array(v, dtype=np.float64) for k, v in spec.check_params(params).items()}
    spec64 = ModelSpec(**{**spec.__dict__, "dtype": "float64"})
    x = check_x(spec64, x)
    y = check_y(spec64, y, loss, x.shape[0], x.shape[1])
    mask = check_mask(spec64, mask, x.shape[0], x.shape[1])
    analytic = bptt(spec64, work, x, y, loss, engine=engine, mask=mask).grads
    rng = as_generator(seed)

    def f() -> float:
        return loss_fn(forward(spec64, work, x, engine=engine), y, loss, mask)[0]

    errors, checked = {}, {}
    for name, arr in work.items():
        flat = np.arange(arr.size)
        if max_per_param is not None and arr.size > max_per_param:
            flat = rng.choice(arr.size, size=max_per_param, replace=False)
        idx = [np.unravel_index(i, arr.shape) for i in flat]
        num = np.array([numerical_grad(f, arr, i, eps) for i in idx])
        ana = np.array([analytic[name][i] for i in idx])
        denom = max(np.linalg.norm(ana) + np.linalg.norm(num), 1e-300)
        errors[name] = float(np.linalg.norm(ana - num) / denom)
        checked[name] = len(idx)
    return GradCheck(errors, checked)
