"""ModelSpec: the architecture of a stacked recurrent network, and its parameter shapes."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

# CELL_NAMES and DTYPES: the cells and dtypes a spec may name, as config declares them
from lstmlab.core.config import CELLS as CELL_NAMES  # noqa: F401
from lstmlab.core.config import DTYPES, FIELD_INFO, GATES, MEMORY_CELLS, SOURCE_BLOCKS, FieldInfo  # noqa: F401

HEADS = ("last", "all")
LOSSES = ("mse", "mse-onehot", "xent")  # mse-onehot: logistic outputs against one-hot targets (HS97)
MAX_HIDDEN = 4096  # wider than a run's hidden_size: a network built by hand or carried over from PyTorch may be larger
MAX_FEATURES = 100_000


# ModelSpec fields that are RunConfig's quantities
_SHARED = ("cell", "hidden_size", "layers", "dtype", "gradient", "direct")


@functools.lru_cache(maxsize=16)
def _declarations(cell: FieldInfo, hidden_size: FieldInfo, layers: FieldInfo, dtype: FieldInfo,
                  gradient: FieldInfo, direct: FieldInfo) -> dict:
    """The declaration each ModelSpec field is checked against: RunConfig's where it is the same quantity (cell,
    layers, dtype, gradient, direct; hidden_size with ModelSpec's own upper end), ModelSpec's own for the rest."""
    return {
        "cell": cell,
        "input_size": FieldInfo("int", lo=1, hi=MAX_FEATURES),
        "hidden_size": dataclasses.replace(hidden_size, hi=MAX_HIDDEN),
        "output_size": FieldInfo("int", lo=1, hi=MAX_FEATURES),
        "layers": layers,
        "head": FieldInfo("choice", choices=HEADS),
        "dtype": dtype,
        "gradient": gradient,
        "direct": direct,
    }


@dataclass(frozen=True)
class ModelSpec:
    """A stack of ``layers`` recurrent layers of one cell type and a linear head.

    cell:        "rnn" (tanh Elman), "lstm", "gru", "rnn_relu" (ReLU Elman), "rnn_logistic" (logistic Elman) or
                 "lstm97" (Hochreiter & Schmidhuber 1997: input and output gates, no forget gate; one cell per
                 block, see lstmlab.core.engines.reference.lstm97_step_forward) or "lstm97fc" (the same cells in
                 HS97's fully connected hidden layer: the gates read the gates' outputs too, ``Wh`` (3H, 3H)) or
                 "lstm97ig" (the memory cell of HS97's Experiment 2 nets: an input gate only, h_t = s_t); the
                 gates of each: ``config.GATES``
    input_size:  features per time step of x (T, B, input_size)
    hidden_size: H, units per layer
    output_size: O, outputs of the linear head (classes for "xent")
    layers:      1 to 4 (RunConfig's bounds); layer k > 0 reads layer k-1's hidden states
    head:        "last" predicts from h_T (many-to-one, y_hat (B, O));
                 "all" predicts at every step (many-to-many, y_hat (T, B, O))
    direct:      "no": the head reads the top layer's h_t, y_t = h_t W + b; "yes": the input x_t too,
                 y_t = h_t W + x_t Wx + b with ``head.Wx`` (input_size, O) (HS97's input-to-output weights)
    dtype:       "float64" (default: gradient studies need it) or "float32"
    gradient:    "full" backpropagation through time, or "truncated": h_{t-1} enters h_{t-1} Wh as a constant, so
                 the error reaches earlier steps only along the cell's own state (``config.GRADIENTS``; for
                 "lstm97" Hochreiter & Schmidhuber's truncated gradient: only through the cell state s_t)
    """

    cell: str
    input_size: int
    hidden_size: int
    output_size: int
    layers: int = 1
    head: str = "last"
    dtype: str = "float64"
    gradient: str = "full"
    direct: str = "no"

    def __post_init__(self) -> None:
        for name, info in _declarations(*(FIELD_INFO[name] for name in _SHARED)).items():
            object.__setattr__(self, name, info.check(name, getattr(self, name)))

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def has_cell_state(self) -> bool:
        """Whether the cell keeps a cell state c_t beside h_t (the LSTMs)."""
        return self.cell in MEMORY_CELLS

    @property
    def source_size(self) -> int:
        """The width of the recurrent input u_{t-1} that Wh multiplies: H (u = h), 3H for "lstm97fc"."""
        return SOURCE_BLOCKS.get(self.cell, 1) * self.hidden_size

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
            shapes[f"l{k}.Wh"] = (self.source_size, GH)
            shapes[f"l{k}.b"] = (GH,)
            if self.cell == "gru":
                shapes[f"l{k}.bhn"] = (H,)
        shapes["head.W"] = (H, self.output_size)
        shapes["head.b"] = (self.output_size,)
        if self.direct == "yes":
            shapes["head.Wx"] = (self.input_size, self.output_size)
        return shapes

    def check_params(self, params: dict, layers_only: bool = False) -> dict[str, np.ndarray]:
        """Return ``params`` as arrays of this spec's dtype, or raise ValueError. ``layers_only``: only the layers'
        parameters (``l{k}.*``) are checked and returned; other keys (a head's) are not read."""
        shapes = self.param_shapes()
        if not isinstance(params, dict):
            raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
        if layers_only:
            shapes = {k: v for k, v in shapes.items() if not k.startswith("head.")}
        missing = [k for k in shapes if k not in params]
        if layers_only and missing:
            raise ValueError(f"params: missing {missing} for {self.layers} {self.cell} layer(s)")
        extra = [] if layers_only else [k for k in params if k not in shapes]
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
