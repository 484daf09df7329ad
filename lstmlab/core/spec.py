"""ModelSpec: the architecture of a stacked recurrent network, and its parameter shapes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmlab.core.config import CELLS as CELL_NAMES
from lstmlab.core.config import DTYPES, GATES

HEADS = ("last", "all")
LOSSES = ("mse", "mse-onehot", "xent")  # mse-onehot: logistic outputs against one-hot targets (HS97)
MAX_LAYERS = 4
MAX_HIDDEN = 4096
MAX_FEATURES = 100_000


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r}: expected an integer from {lo} to {hi}")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")


@dataclass(frozen=True)
class ModelSpec:
    """A stack of ``layers`` recurrent layers of one cell type and a linear head.

    cell:        "rnn" (tanh Elman), "lstm" or "gru"
    input_size:  features per time step of x (T, B, input_size)
    hidden_size: H, units per layer
    output_size: O, outputs of the linear head (classes for "xent")
    layers:      1 to 4; layer k > 0 reads layer k-1's hidden states
    head:        "last" predicts from h_T (many-to-one, y_hat (B, O));
                 "all" predicts at every step (many-to-many, y_hat (T, B, O))
    dtype:       "float64" (default: gradient studies need it) or "float32"
    """

    cell: str
    input_size: int
    hidden_size: int
    output_size: int
    layers: int = 1
    head: str = "last"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        _check_choice("cell", self.cell, CELL_NAMES)
        _check_int("input_size", self.input_size, 1, MAX_FEATURES)
        _check_int("hidden_size", self.hidden_size, 1, MAX_HIDDEN)
        _check_int("output_size", self.output_size, 1, MAX_FEATURES)
        _check_int("layers", self.layers, 1, MAX_LAYERS)
        _check_choice("head", self.head, HEADS)
        _check_choice("dtype", self.dtype, DTYPES)

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter, in a stable order."""
        H, GH = self.hidden_size, len(self.gates) * self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {}
        for k in range(self.layers):
            fan_in = self.input_size if k == 0 else H
            shapes[f"l{k}.Wx"] = (fan_in, GH)
            shapes[f"l{k}.Wh"] = (H, GH)
            shapes[f"l{k}.b"] = (GH,)
            if self.cell == "gru":
                shapes[f"l{k}.bhn"] = (H,)
        shapes["head.W"] = (H, self.output_size)
        shapes["head.b"] = (self.output_size,)
        return shapes

    def check_params(self, params: dict) -> dict[str, np.ndarray]:
        """Return ``params`` as arrays of this spec's dtype, or raise ValueError."""
        shapes = self.param_shapes()
        if not isinstance(params, dict):
            raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
        missing = [k for k in shapes if k not in params]
        extra = [k for k in params if k not in shapes]
        if missing or extra:
            raise ValueError(
                f"params: keys do not match the spec (missing {missing or 'none'}, unexpected {extra or 'none'})"
            )
        out = {}
        for name, shape in shapes.items():
            arr = np.asarray(params[name], dtype=self.np_dtype)
            if arr.shape != shape:
                raise ValueError(f"params[{name!r}]: shape {arr.shape}, expected {shape}")
            out[name] = arr
        return out
