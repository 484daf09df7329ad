"""Parameter initialisation with a weight scale that means something exact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lstmlab.core.config import INITS
from lstmlab.core.spec import ModelSpec


def as_generator(seed) -> np.random.Generator:
    """An ``np.random.Generator`` from an int seed, a SeedSequence or a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        raise ValueError(f"seed={seed!r}: expected a non-negative int or a numpy Generator")
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError(f"seed={seed!r}: expected a non-negative int or a numpy Generator")
    return np.random.default_rng(seed)


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-random orthogonal (n, n) matrix (QR of a Gaussian, signs fixed by diag(R))."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out))


# The IRNN's non-recurrent weights (input and output) ~ N(0, IRNN_STD^2): Le, Jaitly & Hinton 2015 as summarised in
# the lab's reproduction notes (N(0, 0.001)); Keras's IRNN example (examples/mnist_irnn.py) draws its input weights so.
IRNN_STD = 1e-3


def recurrent_block(rng: np.random.Generator, H: int, weight_scale: float, init: str) -> np.ndarray:
    """One (H, H) recurrent block.

    orthogonal: weight_scale * Q, every singular value equals weight_scale, so in
                the linear regime the error shrinks or grows by exactly
                weight_scale per step;
    gaussian:   N(0, weight_scale^2 / H), spectral radius ~ weight_scale (circular law);
    identity, irnn: weight_scale * I (Le et al. 2015: the IRNN, or its scaled identity).
    (``init="uniform"`` draws every parameter alike: :func:`init_params`.)
    """
    if init == "orthogonal":
        return weight_scale * orthogonal(rng, H)
    if init == "gaussian":
        return rng.normal(0.0, weight_scale / np.sqrt(H), size=(H, H))
    return weight_scale * np.eye(H)


def input_block(rng: np.random.Generator, fan_in: int, fan_out: int, init: str) -> np.ndarray:
    """One non-recurrent (fan_in, fan_out) block: N(0, IRNN_STD^2) for init "irnn", Glorot-uniform otherwise."""
    if init == "irnn":
        return rng.normal(0.0, IRNN_STD, size=(fan_in, fan_out))
    return glorot_uniform(rng, fan_in, fan_out)


def init_params(
    spec: ModelSpec,
    weight_scale: float = 1.0,
    init: str = "orthogonal",
    forget_bias: float = 1.0,
    seed=0,
    gate_bias: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, np.ndarray]:
    """Fresh parameters for ``spec``.

    Each gate's recurrent block of ``l{k}.Wh`` (H, G*H) comes from
    :func:`recurrent_block`; input blocks of ``l{k}.Wx`` and the head (``head.W``, ``head.Wx``) from
    :func:`input_block` (Glorot-uniform per gate; N(0, 0.001^2) for "irnn");
    biases are zero except the "lstm" forget gate's, which is ``forget_bias``
    (1.0 by default: Jozefowicz et al. 2015; "lstm97" has no forget gate).
    The IRNN of Le, Jaitly & Hinton 2015 is cell "rnn_relu" with init "irnn"
    (weight_scale 1: W_h = I; below 1: their scaled identity).
    "lstm97fc": the rows of ``l{k}.Wh`` that read the gates' outputs (rows H .. 3H) are zero, so that the net
    starts as "lstm97"; with ``init="uniform"`` (HS97's) they are drawn like every other weight.
    ``init="uniform"`` (the papers' initial weight ranges, e.g. HS97's [-0.1, 0.1]): every weight and bias,
    the head's included, uniform in [-weight_scale, weight_scale] (the LSTM forget gate's bias still
    ``forget_bias``).
    ``gate_bias`` {gate: (v_1, ..., v_k)} sets that gate's biases in every layer: its H units cut into k equal
    consecutive groups (unit u gets v_{floor(u k / H) + 1}), as HS97 gives each memory block's input or output
    gate its own bias (-3 and -6 for two blocks); it overrides ``forget_bias`` for "f".
    ``seed`` is an int or an ``np.random.Generator``; nothing global is touched.
    """
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    if init not in INITS:
        raise ValueError(f"init={init!r}: expected one of {', '.join(map(repr, INITS))}")
    for name, value in (("weight_scale", weight_scale), ("forget_bias", forget_bias)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise ValueError(f"{name}={value!r}: expected a finite number")
        if not np.isfinite(value):
            raise ValueError(f"{name}={value!r}: expected a finite number")
    if weight_scale < 0:
        raise ValueError(f"weight_scale={weight_scale!r}: expected a number >= 0")
    biases = _check_gate_bias(spec, gate_bias)
    rng = as_generator(seed)
    if init == "uniform":
        params = _uniform_params(spec, float(weight_scale), rng)
    else:
        params = _scaled_params(spec, float(weight_scale), init, rng)
    H = spec.hidden_size
    for k in range(spec.layers):
        b = params[f"l{k}.b"]
        if spec.cell == "lstm":
            b[H : 2 * H] = forget_bias
        for gate, values in biases.items():
            j = spec.gates.index(gate)
            b[j * H : (j + 1) * H] = np.asarray(values, dtype=np.float64)[np.arange(H) * len(values) // H]
    return {k: v.astype(spec.np_dtype) for k, v in params.items()}


def _check_gate_bias(spec: ModelSpec, gate_bias) -> dict[str, tuple[float, ...]]:
    if gate_bias is None:
        return {}
    if not isinstance(gate_bias, Mapping):
        raise ValueError(f"gate_bias={gate_bias!r}: expected a mapping gate -> bias values")
    out = {}
    for gate, values in gate_bias.items():
        if gate not in spec.gates:
            raise ValueError(f"gate_bias: gate {gate!r} is not a gate of cell {spec.cell!r}; expected some of "
                             f"{', '.join(map(repr, spec.gates))}")
        vals = tuple(float(v) for v in values)
        if not 1 <= len(vals) <= spec.hidden_size or not all(np.isfinite(vals)):
            raise ValueError(f"gate_bias[{gate!r}]={values!r}: expected 1 to hidden_size = {spec.hidden_size} "
                             "finite values")
        out[gate] = vals
    return out


def _uniform_params(spec: ModelSpec, a: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every parameter uniform in [-a, a], drawn in the order of ``spec.param_shapes()``."""
    return {name: rng.uniform(-a, a, size=shape) for name, shape in spec.param_shapes().items()}


def _scaled_params(spec: ModelSpec, weight_scale: float, init: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Recurrent blocks from :func:`recurrent_block`, Glorot-uniform input blocks and head, zero biases."""
    H, G = spec.hidden_size, len(spec.gates)
    params: dict[str, np.ndarray] = {}
    for k in range(spec.layers):
        fan_in = spec.input_size if k == 0 else H
        params[f"l{k}.Wx"] = np.concatenate([input_block(rng, fan_in, H, init) for _ in range(G)], axis=1)
        params[f"l{k}.Wh"] = np.concatenate(
            [recurrent_block(rng, H, weight_scale, init) for _ in range(G)], axis=1
        )
        if spec.source_size > H:  # lstm97fc: the rows of the gates' outputs start at zero
            params[f"l{k}.Wh"] = np.concatenate([params[f"l{k}.Wh"], np.zeros((spec.source_size - H, G * H))])
        params[f"l{k}.b"] = np.zeros(G * H)
        if spec.cell == "gru":
            params[f"l{k}.bhn"] = np.zeros(H)
    params["head.W"] = input_block(rng, H, spec.output_size, init)
    params["head.b"] = np.zeros(spec.output_size)
    if spec.direct == "yes":
        params["head.Wx"] = input_block(rng, spec.input_size, spec.output_size, init)
    return params
