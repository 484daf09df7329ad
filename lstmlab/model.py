"""The one shared unroll and backpropagation-through-time loop, with heads and losses.

Shapes: T time steps, B examples, H hidden units, G gate blocks, O outputs,
L layers. ``x`` is (T, B, input_size); hidden states are (L, T, B, H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import CELLS, Cell, Tape
from .spec import LOSSES, ModelSpec
from .runtime import fast_loops


@dataclass(frozen=True, eq=False)
class BPTTResult:
    """Everything one forward + backward pass computes.

    loss:   mean loss (float)
    grads:  dL/dparam for every parameter, same keys and shapes as params
    h, dh:  (L, T, B, H) hidden states and the total dL/dh_t (through all later
            steps and all layers above)
    c, dc:  (L, T, B, H) LSTM cell states and total dL/dc_t; None otherwise
    gates:  gate name -> (L, T, B, H) activations
    dgates: gate name -> (L, T, B, H) dL/d(pre-activation of the gate)
    y_hat:  predictions, (B, O) for head "last", (T, B, O) for "all"; logits for "xent"
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
        raise ValueError(f"y: shape {arr.shape}, expected {lead} integer class ids for head {spec.head!r} and loss 'xent'")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"y: dtype {arr.dtype}, expected integer class ids for loss 'xent'")
    if arr.size and (arr.min() < 0 or arr.max() >= spec.output_size):
        raise ValueError(f"y: class ids from {arr.min()} to {arr.max()}, expected 0 to {spec.output_size - 1}")
    return arr.astype(np.intp, copy=False)


# ------------------------------------------------------------------- losses


def loss_fn(y_hat: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, np.ndarray]:
    """Loss and dL/dy_hat.

    mse:  L = mean over every element of (y_hat - y)^2;  dL/dy_hat = 2 (y_hat - y) / N
    xent: L = mean over predictions of -log softmax(y_hat)[y];  dL/dy_hat = (softmax - onehot) / N
    """
    if loss == "mse":
        diff = y_hat - y
        return float(np.mean(diff * diff)), (2.0 / diff.size) * diff
    z = y_hat - y_hat.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    flat = logp.reshape(-1, logp.shape[-1])
    idx = y.reshape(-1)
    n = idx.size
    value = -float(flat[np.arange(n), idx].sum() / n)
    grad = np.exp(flat)
    grad[np.arange(n), idx] -= 1.0
    return value, (grad / n).reshape(y_hat.shape)


def metric_fn(y_hat: np.ndarray, y: np.ndarray, loss: str) -> float:
    """The task metric: mean squared error for "mse", accuracy (argmax) for "xent"."""
    if loss == "mse":
        return float(np.mean((y_hat - y) ** 2))
    return float(np.mean(np.argmax(y_hat, axis=-1) == y))


# ---------------------------------------------------------------- the loop


def layer_params(cell: Cell, params: dict, k: int) -> dict:
    """What layer k's step functions read: Wh, its transpose, Wh with halved sigmoid blocks, the gate affine map, bhn.

    The steps call ``np.dot`` with an output argument: for these small
    operands it costs about two thirds of ``np.matmul``'s call overhead.
    """
    Wh = params[f"l{k}.Wh"]
    scale, shift = cell.gate_affine(Wh.shape[0], Wh.dtype)
    p = {"Wh": Wh, "WhT": np.ascontiguousarray(Wh.T), "Whs": Wh * scale, "scale": scale, "shift": shift}
    if f"l{k}.bhn" in params:
        p["bhn"] = params[f"l{k}.bhn"]
    return p


def input_projection(xin: np.ndarray, Wx, b, p: dict) -> np.ndarray:
    """x_t Wx + b for all T steps in one (T*B, in) @ (in, G*H) matmul, sigmoid blocks halved."""
    T, B, _ = xin.shape
    xw = xin.reshape(T * B, -1) @ (Wx * p["scale"])
    xw += b * p["scale"]
    return xw.reshape(T, B, -1)


def run_tape(cell: Cell, tape: Tape, p: dict) -> Tape:
    """Step the cell through every time step of ``tape``, from the initial state in its row 0."""
    for j in range(tape.xw.shape[0]):
        cell.forward(tape, j, p)
    return tape


def unroll_layer(cell: Cell, xin: np.ndarray, Wx, b, p: dict, h0=None, c0=None) -> Tape:
    """Run one layer over all T steps of ``xin`` (T, B, in) and return its tape.

    ``h0``/``c0`` (B, H) set the initial state (zero by default).
    """
    T, B, _ = xin.shape
    (tape,), _ = cell.new_tapes(1, T, B, p["Wh"].shape[0], xin.dtype)
    tape.xw = input_projection(xin, Wx, b, p)
    if h0 is not None:
        tape.h[0] = h0
    if c0 is not None:
        tape.c[0] = c0
    return run_tape(cell, tape, p)


def _forward_all(spec: ModelSpec, params: dict, x: np.ndarray):
    """Unroll every layer bottom-up.

    Returns [(input, tape, p)] per layer, the (L, ...) arrays behind the
    tapes, the head's input features and y_hat. Layer k's input projection
    needs layer k-1's states, so the tapes are filled one layer after another.
    """
    cell = CELLS[spec.cell]
    T, B, _ = x.shape
    tapes, stacked = cell.new_tapes(spec.layers, T, B, spec.hidden_size, x.dtype)
    layers = []
    inp = x
    for k, tape in enumerate(tapes):
        p = layer_params(cell, params, k)
        tape.xw = input_projection(inp, params[f"l{k}.Wx"], params[f"l{k}.b"], p)
        run_tape(cell, tape, p)
        layers.append((inp, tape, p))
        inp = tape.h[1:]
    feats = inp[-1] if spec.head == "last" else inp
    y_hat = feats @ params["head.W"] + params["head.b"]
    return layers, stacked, feats, y_hat


def forward(spec: ModelSpec, params: dict, x) -> np.ndarray:
    """Predictions only: (B, O) for head "last", (T, B, O) for "all"."""
    params = spec.check_params(params)
    x = check_x(spec, x)
    with fast_loops():
        return _forward_all(spec, params, x)[3]


def bptt(spec: ModelSpec, params: dict, x, y, loss: str = "mse") -> BPTTResult:
    """Forward pass, loss and backpropagation through time, recording the error flow.

    Per layer k, from the top down, over t = T ... 1:
        dh_t = inject_t + dh_prev_{t+1}      total dL/dh_t (inject: from the head or the layer above)
        (dh_prev_t, dc_prev_t) = cell.backward(tape, t, dh_t, dc_prev_{t+1})
    then, batched over all steps:
        dWh = sum_t h_{t-1}^T dhh_t,  dWx = sum_t x_t^T dxw_t,  db = sum_t dxw_t,
        inject for layer k-1 = dxw Wx^T.
    """
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"spec: expected a ModelSpec, got {type(spec).__name__}")
    params = spec.check_params(params)
    x = check_x(spec, x)
    y = check_y(spec, y, loss, x.shape[0], x.shape[1])
    with fast_loops():
        return _bptt(spec, params, x, y, loss)


COEFFICIENT_BYTES = 2**20  # cache-sized blocks of backward coefficients once a layer's exceed this


def coefficient_chunk(tape: Tape) -> int:
    """Steps per block of backward coefficients.

    The coefficients of all T steps are formed in one batched pass when they
    fit in cache; past that, in blocks of about COEFFICIENT_BYTES formed just
    before the time loop reaches them, so they are read back from cache rather
    than from memory: at T=1000, B=32 in float64 an LSTM pass took 552 ms
    instead of 722 ms at H=128 and 215 ms instead of 239 ms at H=64.
    """
    T, B, GH = tape.g.shape
    per_step = B * GH * tape.g.itemsize
    if T * per_step <= 4 * COEFFICIENT_BYTES:
        return T
    return max(8, COEFFICIENT_BYTES // per_step)


def _bptt(spec: ModelSpec, params: dict, x: np.ndarray, y: np.ndarray, loss: str) -> BPTTResult:
    T, B, _ = x.shape
    cell = CELLS[spec.cell]
    L, H, dtype = spec.layers, spec.hidden_size, spec.np_dtype

    layers, stacked, feats, y_hat = _forward_all(spec, params, x)
    value, dy = loss_fn(y_hat, y, loss)

    grads: dict[str, np.ndarray] = {}
    grads["head.W"] = feats.reshape(-1, H).T @ dy.reshape(-1, spec.output_size)
    grads["head.b"] = dy.reshape(-1, spec.output_size).sum(axis=0)
    inject = np.zeros((T, B, H), dtype=dtype)
    if spec.head == "last":
        inject[-1] = dy @ params["head.W"].T
    else:
        inject[:] = dy @ params["head.W"].T

    dh_all = np.empty((L, T, B, H), dtype=dtype)
    for k in reversed(range(L)):
        xin, tape, p = layers[k]
        chunk = coefficient_chunk(tape)
        dh_prev = np.zeros((B, H), dtype=dtype)
        dc_prev = np.zeros((B, H), dtype=dtype) if cell.has_cell_state else None
        for j in reversed(range(T)):
            if j == T - 1 or (j + 1) % chunk == 0:
                cell.prepare_backward(tape, j - j % chunk, j + 1)
            dh = dh_all[k, j]
            np.add(inject[j], dh_prev, out=dh)
            dh_prev, dc_prev = cell.backward(tape, j, dh, dc_prev, p)
        GH = tape.dxw.shape[-1]
        grads[f"l{k}.Wh"] = tape.h[:-1].reshape(-1, H).T @ tape.dhh.reshape(-1, GH)
        grads[f"l{k}.Wx"] = xin.reshape(T * B, -1).T @ tape.dxw.reshape(T * B, GH)
        grads[f"l{k}.b"] = tape.dxw.sum(axis=(0, 1))
        if spec.cell == "gru":
            grads[f"l{k}.bhn"] = tape.dhh[:, :, 2 * H :].sum(axis=(0, 1))
        if k > 0:
            inject = tape.dxw @ params[f"l{k}.Wx"].T

    h_all, acts, dacts = stacked["h"][:, 1:], stacked["g"], stacked["dxw"]
    c_all = stacked["c"][:, 1:] if cell.has_cell_state else None
    dc_all = stacked["dc"]
    gates = {g: acts[..., j * H : (j + 1) * H] for j, g in enumerate(cell.gates)}
    dgates = {g: dacts[..., j * H : (j + 1) * H] for j, g in enumerate(cell.gates)}
    ordered = {name: grads[name] for name in spec.param_shapes()}
    return BPTTResult(value, ordered, h_all, dh_all, c_all, dc_all, gates, dgates, y_hat)
