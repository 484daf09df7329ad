"""PyTorch as the gold reference for lstmlab's forward pass and backpropagation through time.

Every quantity lstmlab records is recomputed by autograd, never by lstmlab:

- ``unrolled_torch_cells``: torch.nn.RNNCell/LSTMCell/GRUCell, one per layer,
  unrolled in Python with ``retain_grad()`` on every h_t (and c_t), so that
  ``h_t.grad`` is the *total* dL/dh_t (the output gradient of nn.LSTM holds
  only the direct path from the head);
- ``unrolled_hand_cells``: the same cells written out in torch ops from
  PyTorch's documented equations, with ``retain_grad()`` on every gate
  pre-activation; its states are checked against the torch cells first;
- ``build_torch_model``: the whole-sequence nn.RNN/nn.LSTM/nn.GRU.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from lstmlab.core.config import GATES
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params  # noqa: E402
from lstmlab.core.spec import ModelSpec
from lstmlab.core.torch_interop import build_torch_model  # noqa: E402

T, B, IN, H, O = 7, 3, 2, 5, 3
RTOL = 1e-9
CELLS = ("rnn", "lstm", "gru")
CASES = list(itertools.product(CELLS, (1, 2), ("last", "all"), ("mse", "xent")))
IDS = [f"{c}-L{n}-{h}-{loss}" for c, n, h, loss in CASES]


# ------------------------------------------------------------------ problem


def make_problem(cell: str, layers: int, head: str, loss: str):
    """Spec, perturbed params (nonzero biases, nonzero GRU bhn), x and y; fixed per case."""
    seed = CASES.index((cell, layers, head, loss))
    rng = np.random.default_rng(1000 + seed)
    spec = ModelSpec(cell=cell, input_size=IN, hidden_size=H, output_size=O, layers=layers, head=head, dtype="float64")
    params = init_params(spec, weight_scale=1.0, seed=seed)
    params = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in params.items()}
    for k in range(layers):
        if cell == "gru":
            params[f"l{k}.bhn"] = 0.5 * rng.standard_normal(H)
            assert np.abs(params[f"l{k}.bhn"]).min() > 0
        assert np.abs(params[f"l{k}.b"]).min() > 0
    x = rng.standard_normal((T, B, IN))
    lead = (B,) if head == "last" else (T, B)
    y = rng.standard_normal(lead + (O,)) if loss == "mse" else rng.integers(0, O, size=lead)
    return spec, params, x, y


def t64(a: np.ndarray, grad: bool = False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def torch_loss(y_hat, y: np.ndarray, loss: str):
    if loss == "mse":
        return F.mse_loss(y_hat, t64(y), reduction="mean")
    return F.cross_entropy(y_hat.reshape(-1, O), torch.tensor(y.reshape(-1), dtype=torch.long), reduction="mean")


def head_and_loss(spec, params, top_hs: list, y, loss):
    """Head and loss in torch on the top layer's states; returns (loss, y_hat, head W leaf, head b leaf)."""
    W = t64(params["head.W"].T, grad=True)  # torch layout (O, H)
    b = t64(params["head.b"], grad=True)
    feats = top_hs[-1] if spec.head == "last" else torch.stack(top_hs)
    y_hat = F.linear(feats, W, b)
    return torch_loss(y_hat, y, loss), y_hat, W, b


def g(t) -> np.ndarray:
    """A retained/leaf gradient as numpy; an unused tensor has gradient zero."""
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().numpy().copy()


# ----------------------------------------------------------- torch references


def unrolled_torch_cells(spec, params, x, y, loss):
    """torch.nn.*Cell per layer, unrolled, with retain_grad on every state."""
    cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[spec.cell]
    kwargs = {"nonlinearity": "tanh"} if spec.cell == "rnn" else {}
    cells, hs, cs = [], [], []
    inp = [t64(x[t]) for t in range(T)]
    for k in range(spec.layers):
        fan_in = IN if k == 0 else H
        cell = cls(fan_in, H, bias=True, **kwargs).to(torch.float64)
        bias_hh = np.zeros(len(spec.gates) * H)
        if spec.cell == "gru":
            bias_hh[2 * H :] = params[f"l{k}.bhn"]
        with torch.no_grad():
            cell.weight_ih.copy_(t64(params[f"l{k}.Wx"].T))
            cell.weight_hh.copy_(t64(params[f"l{k}.Wh"].T))
            cell.bias_ih.copy_(t64(params[f"l{k}.b"]))
            cell.bias_hh.copy_(t64(bias_hh))
        h = torch.zeros(B, H, dtype=torch.float64)
        c = torch.zeros(B, H, dtype=torch.float64)
        layer_h, layer_c = [], []
        for t in range(T):
            if spec.cell == "lstm":
                h, c = cell(inp[t], (h, c))
                c.retain_grad()
                layer_c.append(c)
            else:
                h = cell(inp[t], h)
            h.retain_grad()
            layer_h.append(h)
        cells.append(cell)
        hs.append(layer_h)
        cs.append(layer_c)
        inp = layer_h
    L, y_hat, hW, hb = head_and_loss(spec, params, hs[-1], y, loss)
    L.backward()

    grads = {}
    for k, cell in enumerate(cells):
        grads[f"l{k}.Wx"] = g(cell.weight_ih).T
        grads[f"l{k}.Wh"] = g(cell.weight_hh).T
        gih, ghh = g(cell.bias_ih), g(cell.bias_hh)
        if spec.cell == "gru":
            # r, z: b_i + b_h enter as a sum, so both biases see the same gradient
            np.testing.assert_allclose(gih[: 2 * H], ghh[: 2 * H], rtol=1e-13, atol=1e-15)
            grads[f"l{k}.b"] = gih
            grads[f"l{k}.bhn"] = ghh[2 * H :]
        else:
            np.testing.assert_allclose(gih, ghh, rtol=1e-13, atol=1e-15)
            grads[f"l{k}.b"] = gih
    grads["head.W"] = g(hW).T
    grads["head.b"] = g(hb)
    out = {
        "loss": L.item(),
        "y_hat": y_hat.detach().numpy(),
        "grads": grads,
        "h": np.array([[ht.detach().numpy() for ht in layer] for layer in hs]),
        "dh": np.array([[g(ht) for ht in layer] for layer in hs]),
    }
    if spec.cell == "lstm":
        out["c"] = np.array([[ct.detach().numpy() for ct in layer] for layer in cs])
        out["dc"] = np.array([[g(ct) for ct in layer] for layer in cs])
    return out


def unrolled_hand_cells(spec, params, x, y, loss):
    """PyTorch's documented cell equations in torch ops, retain_grad on each gate pre-activation.

    Returns per gate (L, T, B, H) activations and dL/d(pre-activation), plus h (and c).
    """
    G = len(spec.gates)
    pre = {gate: [] for gate in spec.gates}
    act = {gate: [] for gate in spec.gates}
    hs, cs = [], []
    inp = [t64(x[t]) for t in range(T)]
    for k in range(spec.layers):
        bias_hh = np.zeros(G * H)
        if spec.cell == "gru":
            bias_hh[2 * H :] = params[f"l{k}.bhn"]
        W_ih = t64(params[f"l{k}.Wx"].T, grad=True)
        W_hh = t64(params[f"l{k}.Wh"].T, grad=True)
        b_ih = t64(params[f"l{k}.b"], grad=True)
        b_hh = t64(bias_hh, grad=True)
        h = torch.zeros(B, H, dtype=torch.float64)
        c = torch.zeros(B, H, dtype=torch.float64)
        layer_h, layer_c = [], []
        lpre = {gate: [] for gate in spec.gates}
        lact = {gate: [] for gate in spec.gates}
        for t in range(T):
            gi = F.linear(inp[t], W_ih, b_ih)
            gh = F.linear(h, W_hh, b_hh)
            if spec.cell == "rnn":
                a = {"h": gi + gh}
                a["h"].retain_grad()
                h = torch.tanh(a["h"])
                acts = {"h": h}
            elif spec.cell == "lstm":
                blocks = (gi + gh).split(H, dim=1)
                a = {}
                for name, blk in zip(("i", "f", "n", "o"), blocks):
                    blk.retain_grad()  # non-leaf views: each gets its own gradient
                    a[name] = blk
                acts = {
                    "i": torch.sigmoid(a["i"]),
                    "f": torch.sigmoid(a["f"]),
                    "n": torch.tanh(a["n"]),
                    "o": torch.sigmoid(a["o"]),
                }
                c = acts["f"] * c + acts["i"] * acts["n"]
                h = acts["o"] * torch.tanh(c)
                layer_c.append(c)
            else:
                i_r, i_z, i_n = gi.split(H, dim=1)
                h_r, h_z, h_n = gh.split(H, dim=1)
                a = {"r": i_r + h_r, "z": i_z + h_z}
                a["r"].retain_grad()
                a["z"].retain_grad()
                r, z = torch.sigmoid(a["r"]), torch.sigmoid(a["z"])
                a["n"] = i_n + r * h_n
                a["n"].retain_grad()
                n = torch.tanh(a["n"])
                h = (1 - z) * n + z * h
                acts = {"r": r, "z": z, "n": n}
            layer_h.append(h)
            for gate in spec.gates:
                lpre[gate].append(a[gate])
                lact[gate].append(acts[gate])
        hs.append(layer_h)
        cs.append(layer_c)
        for gate in spec.gates:
            pre[gate].append(lpre[gate])
            act[gate].append(lact[gate])
        inp = layer_h
    L, _, _, _ = head_and_loss(spec, params, hs[-1], y, loss)
    L.backward()
    out = {
        "loss": L.item(),
        "h": np.array([[ht.detach().numpy() for ht in layer] for layer in hs]),
        "gates": {gate: np.array([[v.detach().numpy() for v in lay] for lay in act[gate]]) for gate in spec.gates},
        "dgates": {gate: np.array([[g(v) for v in lay] for lay in pre[gate]]) for gate in spec.gates},
    }
    if spec.cell == "lstm":
        out["c"] = np.array([[ct.detach().numpy() for ct in layer] for layer in cs])
    return out


def whole_sequence_modules(spec, params, x, y, loss):
    """nn.RNN/nn.LSTM/nn.GRU + nn.Linear from build_torch_model, module parameter gradients."""
    model = build_torch_model(spec, params)
    assert isinstance(model.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[spec.cell])
    y_hat = model(t64(x))
    L = torch_loss(y_hat, y, loss)
    L.backward()
    grads = {}
    for k in range(spec.layers):
        grads[f"l{k}.Wx"] = g(getattr(model.rnn, f"weight_ih_l{k}")).T
        grads[f"l{k}.Wh"] = g(getattr(model.rnn, f"weight_hh_l{k}")).T
        gih = g(getattr(model.rnn, f"bias_ih_l{k}"))
        ghh = g(getattr(model.rnn, f"bias_hh_l{k}"))
        grads[f"l{k}.b"] = gih
        if spec.cell == "gru":
            np.testing.assert_allclose(gih[: 2 * H], ghh[: 2 * H], rtol=1e-12, atol=1e-15)
            grads[f"l{k}.bhn"] = ghh[2 * H :]
        else:
            np.testing.assert_allclose(gih, ghh, rtol=1e-12, atol=1e-15)
    grads["head.W"] = g(model.head.weight).T
    grads["head.b"] = g(model.head.bias)
    return {"loss": L.item(), "y_hat": y_hat.detach().numpy(), "grads": grads}


# ------------------------------------------------------------------ compare


def rel_error(ours, ref) -> float:
    """max |ours - ref| / max |ref|: the figure the tolerance below bounds."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-300))


def assert_close(ours, ref, what: str, rtol: float = RTOL) -> None:
    """Elementwise rtol, with atol scaled to the array's magnitude (exact zeros and tiny entries)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs torch {ref.shape}"
    assert np.isfinite(ref).all(), f"{what}: torch reference is not finite"
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    assert scale > 0, f"{what}: torch reference is all zeros, the comparison would be vacuous"
    np.testing.assert_allclose(
        ours, ref, rtol=rtol, atol=1e-12 * scale, err_msg=f"{what}: max rel error {rel_error(ours, ref):.3e}"
    )


@pytest.fixture(params=CASES, ids=IDS)
def case(request, engine):
    spec, params, x, y = make_problem(*request.param)
    loss = request.param[3]
    res = bptt(spec, params, x, y, loss=loss, engine=engine)
    return spec, params, x, y, loss, res


# -------------------------------------------------------------------- tests


def test_unrolled_cells_loss_grads_and_error_flow(case):
    spec, params, x, y, loss, res = case
    ref = unrolled_torch_cells(spec, params, x, y, loss)
    assert_close(res.loss, ref["loss"], "loss")
    assert_close(res.y_hat, ref["y_hat"], "y_hat")
    assert set(res.grads) == set(ref["grads"]) == set(spec.param_shapes())
    for name in spec.param_shapes():
        assert_close(res.grads[name], ref["grads"][name], f"grads[{name}]")
    assert_close(res.h, ref["h"], "h")
    for k in range(spec.layers):
        for t in range(T):
            assert_close(res.dh[k, t], ref["dh"][k, t], f"dh[layer {k}, t {t}]")
    if spec.cell == "lstm":
        assert_close(res.c, ref["c"], "c")
        for k in range(spec.layers):
            for t in range(T):
                assert_close(res.dc[k, t], ref["dc"][k, t], f"dc[layer {k}, t {t}]")
    else:
        assert res.c is None and res.dc is None


def test_hand_cells_gates_and_gate_gradients(case):
    spec, params, x, y, loss, res = case
    hand = unrolled_hand_cells(spec, params, x, y, loss)
    cells = unrolled_torch_cells(spec, params, x, y, loss)
    # the hand-written equations are PyTorch's own cells: same states, same loss
    assert_close(hand["h"], cells["h"], "hand-written torch cell h vs torch.nn cell", rtol=1e-12)
    assert_close(hand["loss"], cells["loss"], "hand-written torch cell loss vs torch.nn cell", rtol=1e-12)
    if spec.cell == "lstm":
        assert_close(hand["c"], cells["c"], "hand-written torch cell c vs torch.nn cell", rtol=1e-12)
    assert tuple(res.gates) == tuple(res.dgates) == GATES[spec.cell]
    for gate in spec.gates:
        assert_close(res.gates[gate], hand["gates"][gate], f"gates[{gate}]")
        assert_close(res.dgates[gate], hand["dgates"][gate], f"dgates[{gate}]")


def test_whole_sequence_modules_agree(case):
    spec, params, x, y, loss, res = case
    ref = whole_sequence_modules(spec, params, x, y, loss)
    assert_close(res.loss, ref["loss"], "loss (nn module)")
    assert_close(res.y_hat, ref["y_hat"], "y_hat (nn module)")
    for name in spec.param_shapes():
        assert_close(res.grads[name], ref["grads"][name], f"grads[{name}] (nn module)")


def test_reference_detects_a_wrong_gradient(engine):
    """The comparison has teeth: a 1e-7 relative change in one entry of one gradient fails it."""
    spec, params, x, y = make_problem("lstm", 2, "all", "mse")
    res = bptt(spec, params, x, y, loss="mse", engine=engine)
    ref = unrolled_torch_cells(spec, params, x, y, "mse")
    bad = res.grads["l0.Wh"].copy()
    bad[1, 2] *= 1 + 1e-7
    with pytest.raises(AssertionError):
        assert_close(bad, ref["grads"]["l0.Wh"], "perturbed grads[l0.Wh]")
    dh = res.dh[0, 0].copy()
    dh[0, 0] *= 1 + 1e-7
    with pytest.raises(AssertionError):
        assert_close(dh, ref["dh"][0, 0], "perturbed dh")
