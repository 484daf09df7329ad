"""A whole pass: stacked layers, the head, the loss and backpropagation through time.

An engine (:mod:`lstmlab.core.engines`) steps each layer through time, forward and backward, its input projection
included; everything here is batched over all T steps and shared by the engines: head, loss and weight gradients.

Shapes: T time steps, B examples, H hidden units, G gate blocks, O outputs,
L layers. ``x`` is (T, B, input_size); hidden states are (L, T, B, H).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lstmlab.core import engines
from lstmlab.core.engines import memory
from lstmlab.core.engines.base import Unroll
from lstmlab.core.spec import LOSSES, ModelSpec


@dataclass(frozen=True, eq=False)
class BPTTResult:
    """Everything one forward + backward pass computes.

    loss:   mean loss (float)
    grads:  dL/dparam for every parameter, same keys and shapes as params (empty: ``weight_grads=False``)
    h, dh:  (L, T, B, H) hidden states and the total dL/dh_t (through all later
            steps and all layers above)
    c, dc:  (L, T, B, H) cell states and total dL/dc_t of the cells that have one (config.MEMORY_CELLS);
            None otherwise
    gates:  gate name -> (L, T, B, H) activations
    dgates: gate name -> (L, T, B, H) dL/d(pre-activation of the gate)
    acts, dacts: (L, T, B, G*H) every gate's activations and dL/d(pre-activation), blocks in the order of
            ``spec.gates``: the arrays ``gates`` and ``dgates`` are views of
    y_hat:  the head's outputs, (B, O) for head "last", (T, B, O) for "all"; logits for "xent" and
            "mse-onehot", whose output units are sigmoid(y_hat) (``output_units``)
    """

    loss: float
    grads: dict
    h: np.ndarray
    dh: np.ndarray
    c: np.ndarray | None
    dc: np.ndarray | None
    gates: dict
    dgates: dict
    y_hat: np.ndarray
    acts: np.ndarray
    dacts: np.ndarray


# ------------------------------------------------------------------ checking


def check_x(spec: ModelSpec, x) -> np.ndarray:
    """``x`` as a (T, B, input_size) array of the spec's dtype, or ValueError."""
    arr = np.asarray(x)
    if arr.ndim != 3 or arr.shape[2] != spec.input_size or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"x: shape {arr.shape}, expected (T, B, {spec.input_size}) with T, B >= 1")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"x: dtype {arr.dtype}, expected real numbers")
    arr = arr.astype(spec.np_dtype, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("x: contains NaN or inf, expected finite values")
    return arr


def check_y(spec: ModelSpec, y, loss: str, T: int, B: int) -> np.ndarray:
    """``y`` in the shape the head and loss need, or ValueError (nothing is broadcast)."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}: expected one of {', '.join(map(repr, LOSSES))}")
    lead = (B,) if spec.head == "last" else (T, B)
    arr = np.asarray(y)
    if loss == "mse":
        want = lead + (spec.output_size,)
        if arr.shape != want:
            raise ValueError(f"y: shape {arr.shape}, expected {want} for head {spec.head!r} and loss 'mse'")
        arr = arr.astype(spec.np_dtype, copy=False)
        if not np.isfinite(arr).all():
            raise ValueError("y: contains NaN or inf, expected finite values")
        return arr
    if arr.shape != lead:
        raise ValueError(f"y: shape {arr.shape}, expected {lead} integer class ids for head {spec.head!r} and loss "
                         f"{loss!r}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"y: dtype {arr.dtype}, expected integer class ids for loss {loss!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= spec.output_size):
        raise ValueError(f"y: class ids from {arr.min()} to {arr.max()}, expected 0 to {spec.output_size - 1}")
    return arr.astype(np.intp, copy=False)


def check_mask(spec: ModelSpec, mask, T: int, B: int) -> np.ndarray | None:
    """``mask`` as a (T, B) bool array selecting at least one step, None for none given, or ValueError. Only head
    "all" takes one: head "last" has its error at the last step."""
    if mask is None:
        return None
    if spec.head != "all":
        raise ValueError(f"mask: given for head {spec.head!r}; expected None (the loss is at the last step)")
    arr = np.asarray(mask)
    if arr.shape != (T, B) or arr.dtype != np.bool_:
        raise ValueError(f"mask: shape {arr.shape} of {arr.dtype}, expected ({T}, {B}) bool")
    if not arr.any():
        raise ValueError("mask: selects no step, expected at least one step with an error signal")
    return arr


# ------------------------------------------------------------------- losses


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), written (1 + tanh(z/2)) / 2 (no overflow for large |z|)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def output_units(y_hat: np.ndarray, loss: str) -> np.ndarray:
    """What the network's output units show for head outputs ``y_hat``: sigmoid(y_hat) for "mse-onehot" (HS97's
    logistic output units), ``y_hat`` itself otherwise (values for "mse", logits for "xent")."""
    return sigmoid(y_hat) if loss == "mse-onehot" else y_hat


def loss_fn(y_hat: np.ndarray, y: np.ndarray, loss: str, mask: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Loss and dL/dy_hat, y_hat the head's outputs.

    mse:        L = mean over every element of (y_hat - y)^2;  dL/dy_hat = 2 (y_hat - y) / N
    mse-onehot: p = sigmoid(y_hat), e = p - onehot(y);  L = mean over every element of e^2;
                dL/dy_hat = 2 e p (1 - p) / N
    xent:       L = mean over predictions of -log softmax(y_hat)[y];  dL/dy_hat = (softmax - onehot) / N
    With ``mask`` (T, B) (head "all"), only the selected steps count: the means run over their elements (or
    predictions) alone and the other steps get no gradient.
    """
    if loss == "xent":
        z = y_hat - y_hat.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        flat = logp.reshape(-1, logp.shape[-1])
        idx = y.reshape(-1)
        n = idx.size
        grad = np.exp(flat)
        grad[np.arange(n), idx] -= 1.0
        if mask is None:
            return -float(flat[np.arange(n), idx].sum() / n), (grad / n).reshape(y_hat.shape)
        w = mask.reshape(-1) / np.count_nonzero(mask)
        return -float(np.dot(w, flat[np.arange(n), idx])), (grad * w[:, None].astype(grad.dtype)).reshape(y_hat.shape)
    if loss == "mse-onehot":
        p = sigmoid(y_hat)
        diff = p - np.eye(y_hat.shape[-1], dtype=y_hat.dtype)[y]
        slope = p * (1.0 - p)  # sigmoid'
    else:
        diff, slope = y_hat - y, 1.0
    if mask is None:
        return float(np.mean(diff * diff)), (2.0 / diff.size) * diff * slope
    w = (mask / (np.count_nonzero(mask) * diff.shape[-1]))[..., None].astype(diff.dtype)
    return float(np.sum(w * diff * diff)), 2.0 * w * diff * slope


def metric_fn(y_hat: np.ndarray, y: np.ndarray, loss: str) -> float:
    """The task metric: mean squared error for "mse", accuracy (argmax) for "xent" and "mse-onehot"."""
    if loss == "mse":
        return float(np.mean((y_hat - y) ** 2))
    return float(np.mean(np.argmax(y_hat, axis=-1) == y))


# ---------------------------------------------------------------- the pass


def _forward_all(spec: ModelSpec, params: dict, x: np.ndarray, engine) -> tuple[list, list[Unroll], np.ndarray]:
    """Unroll every layer bottom-up: each layer's input, its Unroll, and y_hat."""
    inputs, runs = [], []
    inp = x
    for k in range(spec.layers):
        run = engine.unroll(spec.cell, inp, params[f"l{k}.Wx"], params[f"l{k}.b"], params[f"l{k}.Wh"],
                            params.get(f"l{k}.bhn"))
        inputs.append(inp)
        runs.append(run)
        inp = run.h[1:]
    feats = inp[-1] if spec.head == "last" else inp
    y_hat = engine.matmul(feats, params["head.W"]) + params["head.b"]
    if spec.direct == "yes":
        y_hat += engine.matmul(x[-1] if spec.head == "last" else x, params["head.Wx"])
    return inputs, runs, y_hat


def forward(spec: ModelSpec, params: dict, x, engine: str | None = None) -> np.ndarray:
    """The head's outputs only: (B, O) for head "last", (T, B, O) for "all" (``output_units`` gives what a loss's
    output units show). ``engine``: see lstmlab.core.engines."""
    params = spec.check_params(params)
    x = check_x(spec, x)
    return _forward_all(spec, params, x, engines.get(engine))[2]


def bptt(spec: ModelSpec, params: dict, x, y, loss: str = "mse", engine: str | None = None,
         weight_grads: bool = True, mask=None, check: bool = True) -> BPTTResult:
    """Forward pass, loss and backpropagation through time, recording the error flow.

    The head, y_t = h_t W + b (+ x_t Wx with ``spec.direct`` "yes"), with dy_t = dL/dy_t at the steps it predicts:
        dW = sum_t h_t^T dy_t,  db = sum_t dy_t,  dWx = sum_t x_t^T dy_t,  inject_t = dy_t W^T.
    Per layer k, from the top down, the engine runs over t = T ... 1
        dh_t = inject_t + dL/dh_t through h_{t+1}      (inject: from the head or the layer above; with
                                                         ``spec.gradient`` "truncated", not through h_t Wh)
    and then, summed over all steps:
        dWh = sum_t u_{t-1}^T dhh_t,  dWx = sum_t x_t^T da_t,  db = sum_t da_t,  (GRU) dbhn = sum_t dhh_n,t
        inject for layer k-1 = da Wx^T,
    u_t being what Wh multiplies: h_t, or [h_t, i_t, o_t] for "lstm97fc" (``Unroll.sources``).
    ``engine``: a name from ``config.ENGINES``, by default the environment's choice (see lstmlab.core.engines).
    ``weight_grads=False``: the error flow alone (a held-out snapshot), ``grads`` left empty.
    ``mask`` (T, B) bool, head "all" only: the steps whose predictions the loss reads (``loss_fn``); the error of
    the others is zero where it enters, and flows back from the selected ones as ever.
    ``check=False`` skips the checks of params, x, y and mask, for a caller that made them as they would come
    out (``train``, one pass per sequence: the checks cost a fifth of a short pass); wrong ones then fail inside.
    """
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    eng = engines.get(engine)
    if check:
        params = spec.check_params(params)
        x = check_x(spec, x)
        y = check_y(spec, y, loss, x.shape[0], x.shape[1])
        mask = check_mask(spec, mask, x.shape[0], x.shape[1])
    return _bptt(spec, params, x, y, loss, eng, weight_grads, mask)


def _bptt(spec: ModelSpec, params: dict, x: np.ndarray, y: np.ndarray, loss: str, engine,
          weight_grads: bool = True, mask: np.ndarray | None = None) -> BPTTResult:
    T, B, _ = x.shape
    H, O = spec.hidden_size, spec.output_size
    inputs, runs, y_hat = _forward_all(spec, params, x, engine)
    value, dy = loss_fn(y_hat, y, loss, mask)

    feats = runs[-1].h[-1] if spec.head == "last" else runs[-1].h[1:]
    grads: dict[str, np.ndarray] = {}
    if weight_grads:
        grads["head.W"] = engine.matmul(feats.reshape(-1, H).T, dy.reshape(-1, O))
        grads["head.b"] = bias_sum(dy.reshape(-1, O))
        if spec.direct == "yes":
            read = x[-1] if spec.head == "last" else x
            grads["head.Wx"] = engine.matmul(read.reshape(-1, x.shape[2]).T, dy.reshape(-1, O))
    inject = memory.zeros((T, B, H), x.dtype)
    if spec.head == "last":
        inject[-1] = engine.matmul(dy, params["head.W"].T)
    else:
        inject[:] = engine.matmul(dy, params["head.W"].T)

    flows = [None] * spec.layers
    for k in reversed(range(spec.layers)):
        flow = flows[k] = engine.backprop(spec.cell, runs[k], inject, params[f"l{k}.Wh"], overwrite_inject=True,
                                          x=inputs[k] if weight_grads else None, gradient=spec.gradient)
        if weight_grads:
            grads.update(_layer_grads(spec, k, inputs[k], runs[k], flow, engine))
        if k > 0:
            inject = engine.matmul(flow.da, params[f"l{k}.Wx"].T)

    return BPTTResult(
        loss=value,
        grads={name: grads[name] for name in spec.param_shapes()} if weight_grads else {},
        y_hat=y_hat,
        **_stacked(spec, runs, flows),
    )


def _stacked(spec: ModelSpec, runs: list[Unroll], flows: list) -> dict:
    """The layers' states, gates and their gradients as (L, ...) arrays: h, dh, c, dc, gates, dgates, acts, dacts
    (``gates`` and ``dgates`` views of ``acts`` and ``dacts``, one per gate)."""
    H = spec.hidden_size
    acts = stack_layers([r.gates for r in runs])
    dacts = stack_layers([f.da for f in flows])
    lstm = spec.has_cell_state
    return {
        "h": stack_layers([r.h[1:] for r in runs]),
        "dh": stack_layers([f.dh for f in flows]),
        "c": stack_layers([r.c[1:] for r in runs]) if lstm else None,
        "dc": stack_layers([f.dc for f in flows]) if lstm else None,
        "gates": {g: acts[..., j * H : (j + 1) * H] for j, g in enumerate(spec.gates)},
        "dgates": {g: dacts[..., j * H : (j + 1) * H] for j, g in enumerate(spec.gates)},
        "acts": acts,
        "dacts": dacts,
    }


# ------------------------------------------------- a stack between boundaries given by its caller


class StackFlow:
    """What :func:`stack_flow` computes: the layers' part of a :class:`BPTTResult`, without head or loss.

    h, dh:  (L, T, B, H) hidden states and the total dL/dh_t
    c, dc:  (L, T, B, H) cell states and the total dL/dc_t of the cells that have one (config.MEMORY_CELLS);
            None otherwise
    gates, dgates, acts, dacts: as in BPTTResult
    Each of these is stacked from the layers' arrays when first read (a copy, for L > 1); ``per_layer(name)`` gives
    the L arrays of h, dh, c, dc, acts or dacts ((T, B, H) or (T, B, G*H)) as the engine left them, without one.
    """

    def __init__(self, spec: ModelSpec, runs: list[Unroll], flows: list) -> None:
        self._spec, self._runs, self._flows = spec, runs, flows

    def per_layer(self, name: str) -> list[np.ndarray] | None:
        """The layers' arrays of ``name`` (h, dh, c, dc, acts, dacts), not stacked; None for c and dc of a cell
        without a cell state."""
        if name in ("c", "dc") and not self._spec.has_cell_state:
            return None
        if name in ("h", "c"):
            return [getattr(r, name)[1:] for r in self._runs]
        if name == "acts":
            return [r.gates for r in self._runs]
        return [getattr(f, {"dh": "dh", "dc": "dc", "dacts": "da"}[name]) for f in self._flows]

    @cached_property
    def _stacked(self) -> dict:
        return _stacked(self._spec, self._runs, self._flows)

    h = property(lambda self: self._stacked["h"])
    dh = property(lambda self: self._stacked["dh"])
    c = property(lambda self: self._stacked["c"])
    dc = property(lambda self: self._stacked["dc"])
    gates = property(lambda self: self._stacked["gates"])
    dgates = property(lambda self: self._stacked["dgates"])
    acts = property(lambda self: self._stacked["acts"])
    dacts = property(lambda self: self._stacked["dacts"])


def stack_flow(spec: ModelSpec, params: dict, x, d_out, h0=None, c0=None, dh_n=None, dc_n=None,
               engine: str | None = None) -> StackFlow:
    """The error flow through a stack of layers used by a caller of its own, which sent gradients to its outputs
    (a PyTorch module's caller, say).

    Forward, layer k runs over its input (x for k = 0, the states of layer k - 1 above it) from h0[k], c0[k].
    Backward, per layer k from the top down, t = T ... 1 (through h_t Wh or not as ``spec.gradient`` says):
        dh_t = inject_t + dL/dh_t through h_{t+1},   a cell state's dc_t starting back from dc_T = dc_n[k] + ...
        inject = d_out for the top layer, da^(k+1) Wx_{k+1}^T below it;   inject_T += dh_n[k]
    Shapes: x (T, B, input_size); d_out (T, B, H), dL/d(output_t) of the top layer's h_t as the caller used them;
    h0, c0 (L, B, H) the initial states and dh_n, dc_n (L, B, H) the gradients that reached every layer's final
    states h_T, c_T (None: zero; c0 and dc_n only for a cell with a cell state, config.MEMORY_CELLS). The top
    layer's h_T collects both its d_out and its dh_n, as in autograd. ``params`` needs the layers' parameters
    (``l{k}.*``); a head is not read. Gradients may be non-finite (a diverging caller's); ``x`` and the initial
    states may not.
    """
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    eng = engines.get(engine)
    layers = spec.check_params(params, layers_only=True)
    x = check_x(spec, x)
    T, B, _ = x.shape
    L, H = spec.layers, spec.hidden_size
    d_out = _given("d_out", d_out, spec, (T, B, H), finite=False)
    h0, dh_n = _given("h0", h0, spec, (L, B, H)), _given("dh_n", dh_n, spec, (L, B, H), finite=False)
    c0, dc_n = _given("c0", c0, spec, (L, B, H)), _given("dc_n", dc_n, spec, (L, B, H), finite=False)
    if not spec.has_cell_state and (c0 is not None or dc_n is not None):
        raise ValueError(f"c0, dc_n: given for cell {spec.cell!r}, which has no cell state; expected None")
    inp, runs = x, []
    for k in range(L):
        run = eng.unroll(spec.cell, inp, layers[f"l{k}.Wx"], layers[f"l{k}.b"], layers[f"l{k}.Wh"],
                         layers.get(f"l{k}.bhn"), None if h0 is None else h0[k], None if c0 is None else c0[k])
        runs.append(run)
        inp = run.h[1:]
    inject = memory.empty((T, B, H), x.dtype)
    inject[...] = d_out
    flows = [None] * L
    for k in reversed(range(L)):
        if dh_n is not None:
            inject[-1] += dh_n[k]
        flows[k] = eng.backprop(spec.cell, runs[k], inject, layers[f"l{k}.Wh"], overwrite_inject=True,
                                gradient=spec.gradient, dc_last=None if dc_n is None else dc_n[k])
        if k > 0:
            inject = eng.matmul(flows[k].da, layers[f"l{k}.Wx"].T)
    return StackFlow(spec, runs, flows)


def _given(name: str, value, spec: ModelSpec, shape: tuple[int, ...], finite: bool = True) -> np.ndarray | None:
    """A boundary array of :func:`stack_flow` in the spec's dtype (None stays None), or ValueError."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.shape != shape:
        raise ValueError(f"{name}: shape {arr.shape}, expected {shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name}: dtype {arr.dtype}, expected real numbers")
    arr = arr.astype(spec.np_dtype, copy=False)
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf, expected finite values")
    return arr


def _layer_grads(spec: ModelSpec, k: int, inp: np.ndarray, run: Unroll, flow, engine) -> dict[str, np.ndarray]:
    """Layer k's weight gradients, summed over every step (those the engine summed on its way as it did)."""
    T, B, _ = inp.shape
    H, GH, S = spec.hidden_size, flow.da.shape[2], spec.source_size
    dWh = flow.dWh
    if dWh is None:
        dWh = engine.matmul(run.sources[:-1].reshape(-1, S).T, flow.dhh.reshape(-1, GH))
    grads = {f"l{k}.Wh": dWh}
    if flow.dWx is None:
        grads[f"l{k}.Wx"] = engine.matmul(inp.reshape(T * B, -1).T, flow.da.reshape(T * B, GH))
        grads[f"l{k}.b"] = bias_sum(flow.da.reshape(T * B, GH))
    else:
        grads[f"l{k}.Wx"], grads[f"l{k}.b"] = flow.dWx, flow.db
    if spec.cell == "gru":
        grads[f"l{k}.bhn"] = bias_sum(flow.dhh[:, :, 2 * H :].reshape(T * B, H))
    return grads


def stack_layers(arrays: list[np.ndarray]) -> np.ndarray:
    """The per-layer arrays as one (L, ...) array; a view, not a copy, for one layer."""
    return arrays[0][None] if len(arrays) == 1 else memory.stack(arrays)


def bias_sum(d: np.ndarray) -> np.ndarray:
    """Column sums of an (N, K) gradient, accumulated in float64 whatever its dtype (float32 sums of many
    small terms would double the error), returned in its dtype."""
    return d.sum(axis=0, dtype=np.float64).astype(d.dtype, copy=False)
