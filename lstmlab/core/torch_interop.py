"""Optional PyTorch interop: lstmlab parameters <-> ``torch.nn.RNN/LSTM/GRU`` + ``torch.nn.Linear``.

PyTorch is imported lazily inside the functions that need tensors, so
``import lstmlab`` never imports torch.

Layout. PyTorch uses column-vector weights (G*H, in) and two bias vectors per
layer; lstmlab uses row-vector weights (in, G*H) and one bias. The gate blocks
are in the same order (LSTM i f g o, where torch's "g" is our "n"; GRU r z n),
so for layer k (cells "rnn" = nn.RNN with tanh, "rnn_relu" = nn.RNN with relu, "lstm", "gru"; PyTorch has no
module for "rnn_logistic" and "lstm97", and its modules backpropagate in full whatever ``spec.gradient`` says; a
spec with input-to-output weights, ``direct="yes"``, has no such counterpart either):

    weight_ih_l{k} = Wx^T        (G*H, in_k)
    weight_hh_l{k} = Wh^T        (G*H, H)
    bias_ih_l{k}   = b           (G*H,)
    bias_hh_l{k}   = 0           rnn, rnn_relu, lstm
                   = [0, 0, bhn] gru: torch's b_hn sits inside r * (W_hn h + b_hn)
    head.weight    = head.W^T    (O, H)
    head.bias      = head.b      (O,)

Back from torch, the two biases add up (``b = bias_ih + bias_hh``) except in
the GRU's candidate block, where ``b_n = bias_ih_n`` and ``bhn = bias_hh_n``.
"""

from __future__ import annotations

import numpy as np

from lstmlab.core.spec import ModelSpec

TORCH_VERSION = "2.13.0"
# The cells PyTorch has a module for: (module, keyword arguments). "rnn_logistic" and "lstm97" have none.
_TORCH_MODULES = {"rnn": ("RNN", {"nonlinearity": "tanh"}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
                  "lstm": ("LSTM", {}), "gru": ("GRU", {})}


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"PyTorch is not installed: pip install torch=={TORCH_VERSION}") from exc
    return torch


def _torch_dtype(torch, spec: ModelSpec):
    return torch.float64 if spec.dtype == "float64" else torch.float32


def _check_spec(spec) -> None:
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    if spec.cell not in _TORCH_MODULES:
        raise ValueError(f"cell={spec.cell!r}: PyTorch has no module for this cell; expected one of "
                         + ", ".join(map(repr, _TORCH_MODULES)))
    if spec.direct != "no":
        raise ValueError(f"direct={spec.direct!r}: a torch.nn.Linear head reads the recurrent module's output only; "
                         "expected 'no' (no input-to-output weights)")


def torch_shapes(spec: ModelSpec, rnn_prefix: str = "rnn.", head_prefix: str = "head.") -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor in the state dict of :func:`build_torch_model`: the spec's own shapes
    (:meth:`ModelSpec.param_shapes`) in PyTorch's (out, in) layout, with one bias per layer split into
    ``bias_ih`` and ``bias_hh``."""
    _check_spec(spec)
    ours = spec.param_shapes()
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(spec.layers):
        shapes[f"{rnn_prefix}weight_ih_l{k}"] = ours[f"l{k}.Wx"][::-1]
        shapes[f"{rnn_prefix}weight_hh_l{k}"] = ours[f"l{k}.Wh"][::-1]
        shapes[f"{rnn_prefix}bias_ih_l{k}"] = ours[f"l{k}.b"]
        shapes[f"{rnn_prefix}bias_hh_l{k}"] = ours[f"l{k}.b"]
    shapes[f"{head_prefix}weight"] = ours["head.W"][::-1]
    shapes[f"{head_prefix}bias"] = ours["head.b"]
    return shapes


def to_state_dict(spec: ModelSpec, params: dict, rnn_prefix: str = "rnn.", head_prefix: str = "head.") -> dict:
    """A PyTorch state dict (key -> ``torch.Tensor`` of the spec's dtype) holding ``params``.

    Loads into ``torch.nn.{RNN,LSTM,GRU}(input_size, hidden_size, num_layers=spec.layers)``
    under ``rnn_prefix`` (tanh or relu, bias=True, batch_first=False, unidirectional)
    and ``torch.nn.Linear(hidden_size, output_size)`` under ``head_prefix``.
    """
    _check_spec(spec)
    params = spec.check_params(params)
    torch = _torch()
    dtype = _torch_dtype(torch, spec)
    H = spec.hidden_size

    def tensor(a: np.ndarray):
        return torch.tensor(np.ascontiguousarray(a), dtype=dtype)

    sd: dict = {}
    for k in range(spec.layers):
        b = params[f"l{k}.b"]
        bias_hh = np.zeros_like(b)
        if spec.cell == "gru":
            bias_hh[2 * H :] = params[f"l{k}.bhn"]
        sd[f"{rnn_prefix}weight_ih_l{k}"] = tensor(params[f"l{k}.Wx"].T)
        sd[f"{rnn_prefix}weight_hh_l{k}"] = tensor(params[f"l{k}.Wh"].T)
        sd[f"{rnn_prefix}bias_ih_l{k}"] = tensor(b)
        sd[f"{rnn_prefix}bias_hh_l{k}"] = tensor(bias_hh)
    sd[f"{head_prefix}weight"] = tensor(params["head.W"].T)
    sd[f"{head_prefix}bias"] = tensor(params["head.b"])
    return sd


def _as_numpy(value, key: str, dtype: np.dtype) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"state_dict[{key!r}]: not convertible to a {dtype} array ({exc})") from exc
    return arr


def from_state_dict(spec: ModelSpec, state_dict, rnn_prefix: str = "rnn.", head_prefix: str = "head.") -> dict:
    """lstmlab params (numpy, spec dtype) from a PyTorch state dict.

    Values may be tensors or arrays. A missing or mis-shaped key, or an
    unexpected key under ``rnn_prefix``/``head_prefix`` (a bidirectional,
    projected or bias-free module has no lstmlab equivalent), raises
    ValueError naming the key. Keys under other prefixes are ignored.
    """
    _check_spec(spec)
    if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
        raise ValueError(f"state_dict: expected a mapping of tensors, got {type(state_dict).__name__}")
    shapes = torch_shapes(spec, rnn_prefix, head_prefix)
    for key in shapes:
        if key not in state_dict:
            raise ValueError(f"state_dict: missing key {key!r}")
    for key in state_dict.keys():
        if isinstance(key, str) and key.startswith((rnn_prefix, head_prefix)) and key not in shapes:
            raise ValueError(f"state_dict: unexpected key {key!r} (no lstmlab equivalent for {spec.cell!r})")
    dtype = spec.np_dtype
    arrs = {}
    for key, shape in shapes.items():
        arr = _as_numpy(state_dict[key], key, dtype)
        if arr.shape != shape:
            raise ValueError(f"state_dict[{key!r}]: shape {tuple(arr.shape)}, expected {shape}")
        arrs[key] = arr

    params: dict[str, np.ndarray] = {}
    for k in range(spec.layers):
        params.update(_layer(spec.cell, spec.hidden_size, k, *(arrs[f"{rnn_prefix}{name}_l{k}"] for name in (
            "weight_ih", "weight_hh", "bias_ih", "bias_hh"))))
    params["head.W"] = np.ascontiguousarray(arrs[f"{head_prefix}weight"].T)
    params["head.b"] = arrs[f"{head_prefix}bias"].copy()
    return spec.check_params(params)


def _layer(cell: str, H: int, k: int, weight_ih: np.ndarray, weight_hh: np.ndarray, bias_ih: np.ndarray | None,
           bias_hh: np.ndarray | None) -> dict[str, np.ndarray]:
    """Layer k's lstmlab parameters from its four PyTorch arrays; a module without biases (None) has b = 0 (and
    bhn = 0)."""
    if bias_ih is None:
        bias_ih = bias_hh = np.zeros(weight_ih.shape[0], dtype=weight_ih.dtype)
    params = {f"l{k}.Wx": np.ascontiguousarray(weight_ih.T), f"l{k}.Wh": np.ascontiguousarray(weight_hh.T)}
    if cell == "gru":
        b = bias_ih.copy()
        b[: 2 * H] += bias_hh[: 2 * H]  # r and z see both biases outside the reset gate
        params[f"l{k}.b"] = b
        params[f"l{k}.bhn"] = bias_hh[2 * H :].copy()
    else:
        params[f"l{k}.b"] = bias_ih + bias_hh
    return params


def module_layers(module, cell: str) -> dict[str, np.ndarray]:
    """The layers' lstmlab parameters (``l{k}.Wx``, ``l{k}.Wh``, ``l{k}.b``, GRU ``l{k}.bhn``) of a
    ``torch.nn.RNN/LSTM/GRU`` (unidirectional, without projections) as it holds them now: numpy copies in its dtype,
    on the CPU. ``cell`` is the lstmlab cell it computes (whose gate blocks are PyTorch's, in PyTorch's order)."""
    arrays = {f"{name}_l{k}": getattr(module, f"{name}_l{k}").detach().cpu().numpy().copy()
              for k in range(module.num_layers) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
              if module.bias or name.startswith("weight")}
    return layers_from_arrays(cell, module.hidden_size, module.num_layers, arrays)


def layers_from_arrays(cell: str, hidden_size: int, layers: int, arrays: dict) -> dict[str, np.ndarray]:
    """The layers' lstmlab parameters from a recurrent module's arrays by PyTorch's names (``weight_ih_l{k}``,
    ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``; the biases may be absent: b = 0)."""
    out: dict[str, np.ndarray] = {}
    for k in range(layers):
        out.update(_layer(cell, hidden_size, k, *(arrays.get(f"{n}_l{k}") for n in (
            "weight_ih", "weight_hh", "bias_ih", "bias_hh"))))
    return out


def build_torch_model(spec: ModelSpec, params: dict):
    """A ``torch.nn.Module`` computing :func:`lstmlab.forward` with PyTorch's modules.

    Submodules ``.rnn`` (``nn.RNN``/``nn.LSTM``/``nn.GRU``, num_layers=spec.layers,
    batch_first=False) and ``.head`` (``nn.Linear``), in the spec's dtype.
    ``forward(x)`` takes x (T, B, input_size) (tensor or array) and returns
    (B, O) from h_T for head "last", (T, B, O) for "all" (logits for "xent").
    """
    _check_spec(spec)
    torch = _torch()
    dtype = _torch_dtype(torch, spec)
    nn = torch.nn

    class LstmlabTorchModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spec = spec
            name, kwargs = _TORCH_MODULES[spec.cell]
            self.rnn = getattr(nn, name)(
                spec.input_size, spec.hidden_size, num_layers=spec.layers, bias=True, batch_first=False, **kwargs
            )
            self.head = nn.Linear(spec.hidden_size, spec.output_size)

        def forward(self, x):
            if not torch.is_tensor(x):
                x = torch.as_tensor(np.asarray(x), dtype=dtype)
            out, _ = self.rnn(x)  # (T, B, H): the top layer's h_t
            feats = out[-1] if self.spec.head == "last" else out
            return self.head(feats)

    model = LstmlabTorchModel().to(dtype)
    model.load_state_dict(to_state_dict(spec, params))
    return model
