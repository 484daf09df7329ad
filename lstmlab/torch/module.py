"""What the recorder needs to know of a PyTorch recurrent module, and what it refuses.

A module is watched when lstmlab computes exactly what it computes: ``torch.nn.RNN`` (tanh: the lab's cell "rnn";
relu: "rnn_relu"), ``torch.nn.LSTM`` and ``torch.nn.GRU``, unidirectional, without projections, without dropout
between layers, in float32 or float64, on any device (each recording copies to the CPU what it needs). Everything
else is refused here, at ``watch()``, with the feature named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lstmlab.core.config import RunConfig, check_field
from lstmlab.core.spec import MAX_FEATURES, ModelSpec

# PyTorch's mode of a recurrent module -> the lstmlab cell that computes it (gate blocks in PyTorch's order)
MODE_CELLS = {"RNN_TANH": "rnn", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}
_CLASSES = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}
_CELL_MODULES = (torch.nn.RNNCell, torch.nn.LSTMCell, torch.nn.GRUCell)


@dataclass(frozen=True)
class ModuleInfo:
    """A watched module as the lab sees it.

    cell: lstmlab cell; input_size, hidden_size, layers; batch_first; bias (False: b = 0);
    dtype ("float32" | "float64"); device (str, e.g. "cpu", "cuda:0"); source: the text a run records as its
    ``RunConfig.source``.
    """

    cell: str
    input_size: int
    hidden_size: int
    layers: int
    batch_first: bool
    bias: bool
    dtype: str
    device: str
    source: str

    def spec(self) -> ModelSpec:
        """The lab's ModelSpec of the module's layers (its head and output size are not read: 1)."""
        return ModelSpec(cell=self.cell, input_size=self.input_size, hidden_size=self.hidden_size, output_size=1,
                         layers=self.layers, dtype=self.dtype)

    def param_names(self) -> list[str]:
        """The lab's names of the module's parameters, sorted (the ``gnorm:`` columns): l{k}.Wx, l{k}.Wh, l{k}.b
        (with biases), l{k}.bhn (GRU with biases)."""
        names = [n for n in self.spec().param_shapes() if not n.startswith("head.")]
        if not self.bias:
            names = [n for n in names if not n.endswith((".b", ".bhn"))]
        return sorted(names)


def inspect_module(module) -> ModuleInfo:
    """The module's :class:`ModuleInfo`, or ValueError naming what the recorder cannot follow."""
    if isinstance(module, _CELL_MODULES):
        raise ValueError(f"module: {type(module).__name__} is one step of a cell, called in a loop of its caller "
                         "that the recorder cannot see; watch a torch.nn.RNN, LSTM or GRU that runs whole sequences")
    if not isinstance(module, torch.nn.RNNBase) or getattr(module, "mode", None) not in MODE_CELLS:
        inner = [name for name, m in module.named_modules()
                 if isinstance(m, torch.nn.RNNBase)] if isinstance(module, torch.nn.Module) else []
        hint = f" (this one holds {', '.join(repr(n) for n in inner[:3])}: watch that)" if inner else ""
        raise ValueError(f"module: expected a torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU, got "
                         f"{type(module).__name__}{hint}")
    base = getattr(torch.nn, _CLASSES[module.mode])
    if type(module).forward is not base.forward:
        raise ValueError(f"module: {type(module).__name__} overrides forward(); the recorder recomputes "
                         f"torch.nn.{base.__name__}'s own equations and would not compute what it does")
    cell = MODE_CELLS[module.mode]
    if module.bidirectional:
        raise ValueError("bidirectional=True: the lab's cells run forward in time only; expected a unidirectional "
                         "module")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"proj_size={module.proj_size}: the lab's LSTM has no projection of h_t; expected 0")
    if module.dropout and module.num_layers > 1:
        raise ValueError(f"dropout={module.dropout:g}: PyTorch draws its masks between layers inside the module, "
                         "where the recorder cannot see them; expected dropout=0 (apply dropout outside the module)")
    params = list(module.parameters())
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPES:
        raise ValueError(f"dtype {', '.join(sorted(str(d) for d in dtypes))}: the lab computes in float32 or "
                         "float64; expected a module of one of them (module.float() or module.double())")
    devices = {str(p.device) for p in params}
    if len(devices) != 1:
        raise ValueError(f"device: the module's parameters are on {', '.join(sorted(devices))}; expected one device")
    check_field("hidden_size", module.hidden_size)
    check_field("layers", module.num_layers)
    if not 1 <= module.input_size <= MAX_FEATURES:
        raise ValueError(f"input_size={module.input_size}: expected an integer from 1 to {MAX_FEATURES}")
    dtype, device = _DTYPES[next(iter(dtypes))], next(iter(devices))
    cls = type(module)
    name = f"torch.nn.{cls.__name__}" if cls is base else f"{cls.__module__}.{cls.__qualname__}"
    described = f"{name}({module.extra_repr()})"
    source = f"PyTorch {torch.__version__}: {described[:400]}, {dtype}, {device}"
    return ModuleInfo(cell=cell, input_size=module.input_size, hidden_size=module.hidden_size,
                      layers=module.num_layers, batch_first=bool(module.batch_first), bias=bool(module.bias),
                      dtype=dtype, device=device, source=source)


def run_config(info: ModuleInfo, seq_len: int, batch: int, every: int, steps: int) -> RunConfig:
    """The RunConfig of a run recorded from the module: its source, cell and sizes, the first recorded batch's
    length and size, how often it is recorded and the steps expected (0: unknown). ValueError naming the field
    when the batch is beyond what a run holds."""
    for name, value in (("seq_len", seq_len), ("batch_size", batch)):
        try:
            check_field(name, value)
        except ValueError as e:
            raise ValueError(f"{e} (the first recorded batch); the run store holds runs within these bounds") from None
    return RunConfig(cell=info.cell, task="", source=info.source, seq_len=seq_len, hidden_size=info.hidden_size,
                     layers=info.layers, batch_size=batch, eval_size=batch, record_every=every, steps=steps,
                     dtype=info.dtype)


def gradient_norms(module, info: ModuleInfo) -> dict[str, float]:
    """L2 norms of the gradients PyTorch holds for the module's parameters, under the lab's names
    (:meth:`ModuleInfo.param_names`; NaN where no gradient is held): l{k}.b is the gradient of b = b_ih + b_hh
    (PyTorch holds it in each of the two), l{k}.bhn that of the GRU's b_hn."""
    H = info.hidden_size
    parts = {}
    for k in range(info.layers):
        parts[f"l{k}.Wx"] = getattr(module, f"weight_ih_l{k}").grad
        parts[f"l{k}.Wh"] = getattr(module, f"weight_hh_l{k}").grad
        if info.bias:
            g_ih, g_hh = getattr(module, f"bias_ih_l{k}").grad, getattr(module, f"bias_hh_l{k}").grad
            parts[f"l{k}.b"] = g_ih
            if info.cell == "gru":
                parts[f"l{k}.bhn"] = None if g_hh is None else g_hh[2 * H :]
    names = [n for n in info.param_names() if parts[n] is not None]
    values = (torch.stack([torch.linalg.vector_norm(parts[n].detach().double()) for n in names]).cpu().tolist()
              if names else [])
    norms = dict.fromkeys(info.param_names(), np.nan)
    norms.update(zip(names, values))
    return norms
