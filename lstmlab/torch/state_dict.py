"""An LSTM's PyTorch state dict (a ``.pt`` file) as the lab's parameters, read without running anything in it.

``torch.load(..., weights_only=True)`` unpickles only tensors, plain containers and numbers, so a file cannot run
code; anything but a mapping of names to tensors is refused, and so is a mapping without exactly one unidirectional,
unprojected ``torch.nn.LSTM`` in it (``weight_ih_l0`` under some prefix, e.g. ``lstm.`` of ``model.state_dict()``).
A ``torch.nn.Linear`` beside it whose weight is (O, H) is taken as its head when there is exactly one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lstmlab.core.torch_interop import layers_from_arrays

MAX_BYTES = 20 * 2**20  # an LSTM the Inside page can show (H <= its hidden-size bound) is well below this
_LAYER_KEY = re.compile(r"^(.*)(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")
_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


@dataclass(frozen=True)
class LoadedLSTM:
    """An LSTM read from a state dict: the lab's parameters of its layers (``l{k}.*``) and, when the file has one,
    of its head (``head.W``, ``head.b``); its sizes, dtype, and the prefix its keys had ("" at the top)."""

    params: dict[str, np.ndarray]
    input_size: int
    hidden_size: int
    layers: int
    output_size: int | None  # None: no head in the file
    dtype: str
    prefix: str


def load_lstm(data: bytes) -> LoadedLSTM:
    """The LSTM of a ``.pt`` file's bytes, or ValueError saying what the file is instead."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"the file has {len(data) / 2**20:.1f} MB; expected at most {MAX_BYTES / 2**20:.0f} MB")
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any unreadable file: an unpickling refusal, a zip error, garbage
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ValueError(f"torch.load(weights_only=True) cannot read it as a state dict ({first}); expected a file "
                         "written by torch.save(model.state_dict(), path)") from None
    if not isinstance(loaded, Mapping):
        raise ValueError(f"it holds a {type(loaded).__name__}; expected a state dict, a mapping of names to tensors "
                         "(torch.save(model.state_dict(), path))")
    for key, value in loaded.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            raise ValueError(f"its entry {str(key)[:80]!r} is a {type(value).__name__}; expected a state dict, a "
                             "mapping of names to tensors")
    found: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in loaded.items():
        m = _LAYER_KEY.match(key)
        if m is None:
            continue
        prefix, name, k, reverse = m.groups()
        if reverse:
            raise ValueError(f"{key!r}: a bidirectional module; the lab's LSTM runs forward in time only")
        found.setdefault(prefix, {})[f"{name}_l{k}"] = value
    if any(re.search(r"weight_hr_l\d+$", key) for key in loaded):
        raise ValueError("it has weight_hr_l*: an LSTM with proj_size, which the lab's LSTM does not have")
    if not found:
        raise ValueError("it holds no recurrent module's weights (weight_ih_l0, weight_hh_l0, ...); expected the "
                         "state dict of a torch.nn.LSTM or of a model holding one")
    if len(found) > 1:
        names = ", ".join(repr(p.rstrip(".") or "(top)") for p in sorted(found))
        raise ValueError(f"it holds {len(found)} recurrent modules ({names}); save the state dict of the one to "
                         "inspect")
    prefix, tensors = next(iter(found.items()))
    return _lstm(prefix, tensors, loaded)


def _lstm(prefix: str, tensors: dict[str, torch.Tensor], everything: Mapping) -> LoadedLSTM:
    w_ih, w_hh = tensors.get("weight_ih_l0"), tensors.get("weight_hh_l0")
    if w_ih is None or w_hh is None or w_hh.dim() != 2 or w_ih.dim() != 2:
        raise ValueError(f"{prefix}weight_ih_l0 and {prefix}weight_hh_l0: expected two matrices")
    H = w_hh.shape[1]
    blocks = w_hh.shape[0] // max(H, 1)
    if w_hh.shape[0] != 4 * H:
        kind = {1: "an RNN", 3: "a GRU"}.get(blocks, f"a module with {w_hh.shape[0]} rows per {H} units")
        raise ValueError(f"{prefix}weight_hh_l0 has shape {tuple(w_hh.shape)}: {kind}, not an LSTM (4 H = {4 * H} "
                         "rows)")
    layers = 1 + max(int(k.rsplit("_l", 1)[1]) for k in tensors)
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPES:
        raise ValueError(f"dtype {', '.join(sorted(map(str, dtypes)))}: expected float32 or float64 tensors")
    arrays = {name: t.detach().cpu().numpy().copy() for name, t in tensors.items()}
    for k in range(layers):
        fan_in = w_ih.shape[1] if k == 0 else H
        for name, shape in ((f"weight_ih_l{k}", (4 * H, fan_in)), (f"weight_hh_l{k}", (4 * H, H))):
            if name not in arrays or arrays[name].shape != shape:
                got = tuple(arrays[name].shape) if name in arrays else "missing"
                raise ValueError(f"{prefix}{name}: {got}; expected shape {shape}")
        for name in (f"bias_ih_l{k}", f"bias_hh_l{k}"):
            if name in arrays and arrays[name].shape != (4 * H,):
                raise ValueError(f"{prefix}{name}: shape {tuple(arrays[name].shape)}; expected {(4 * H,)}")
    params = layers_from_arrays("lstm", H, layers, arrays)
    output_size = None
    heads = [k[: -len("weight")] for k, v in everything.items()
             if k.endswith("weight") and not k.startswith(prefix + "weight_") and v.dim() == 2 and v.shape[1] == H
             and k[: -len("weight")] + "bias" in everything]
    if len(heads) == 1:
        W, b = everything[heads[0] + "weight"], everything[heads[0] + "bias"]
        if b.shape == (W.shape[0],) and W.dtype in _DTYPES:
            params["head.W"] = W.detach().cpu().numpy().T.copy()
            params["head.b"] = b.detach().cpu().numpy().copy()
            output_size = int(W.shape[0])
    dtype = _DTYPES[next(iter(dtypes))]
    return LoadedLSTM(params={k: v.astype(dtype) for k, v in params.items()}, input_size=int(w_ih.shape[1]),
                      hidden_size=int(H), layers=layers, output_size=output_size, dtype=dtype, prefix=prefix)
