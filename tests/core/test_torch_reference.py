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

The cells PyTorch has no module for, the logistic RNN and the LSTM of 1997, have the hand-written loop alone
(HS97's equations with g = 4 sigma - 2 and h = 2 sigma - 1 written as such). The truncated gradient is autograd
on the hand-written loop in which h_{t-1} is detached on its way into the recurrent product h_{t-1} W_hh.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from lstmlab import cell_state_jacobian
from lstmlab.core.config import GATES
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params  # noqa: E402  # noqa: E402
from lstmlab.core.spec import ModelSpec
from lstmlab.core.torch_interop import build_torch_model  # noqa: E402  # noqa: E402

T, B, IN, H, O = 7, 3, 2, 5, 3
RTOL = 1e-9
CELLS = ("rnn", "lstm", "gru", "rnn_relu", "rnn_logistic", "lstm97", "lstm97fc", "lstm97ig")
TORCH_CELLS = {"rnn": (torch.nn.RNNCell, {"nonlinearity": "tanh"}), "rnn_relu": (torch.nn.RNNCell,
               {"nonlinearity": "relu"}), "lstm": (torch.nn.LSTMCell, {}), "gru": (torch.nn.GRUCell, {})}
TORCH_MODULES = {"rnn": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
CASES = list(itertools.product(CELLS, (1, 2), ("last", "all"), ("mse", "xent")))
IDS = [f"{c}-L{n}-{h}-{loss}" for c, n, h, loss in CASES]
MEMORY = ("lstm", "lstm97", "lstm97fc", "lstm97ig")


# ------------------------------------------------------------------ problem


def make_problem(cell: str, layers: int, head: str, loss: str, gradient: str = "full", direct: str = "no"):
    """Spec, perturbed params (nonzero biases, nonzero GRU bhn), x and y; fixed per case."""
    seed = CASES.index((cell, layers, head, loss))
    rng = np.random.default_rng(1000 + seed)
    spec = ModelSpec(cell=cell, input_size=IN, hidden_size=H, output_size=O, layers=layers, head=head, dtype="float64",
                     gradient=gradient, direct=direct)
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


def head_and_loss(spec, params, top_hs: list, x: np.ndarray, y, loss):
    """Head and loss in torch on the top layer's states (and the input x, ``spec.direct`` "yes"); returns (loss,
    y_hat, {name: head leaf in torch layout})."""
    W = t64(params["head.W"].T, grad=True)  # torch layout (O, H)
    b = t64(params["head.b"], grad=True)
    feats = top_hs[-1] if spec.head == "last" else torch.stack(top_hs)
    y_hat = F.linear(feats, W, b)
    leaves = {"head.W": W, "head.b": b}
    if spec.direct == "yes":
        leaves["head.Wx"] = Wx = t64(params["head.Wx"].T, grad=True)
        y_hat = y_hat + F.linear(t64(x[-1] if spec.head == "last" else x), Wx)
    return torch_loss(y_hat, y, loss), y_hat, leaves


def head_grads(leaves: dict) -> dict:
    """The head's parameter gradients in lstmlab's layout."""
    return {name: g(leaf).T if leaf.ndim == 2 else g(leaf) for name, leaf in leaves.items()}


def g(t) -> np.ndarray:
    """A retained/leaf gradient as numpy; an unused tensor has gradient zero."""
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().numpy().copy()


# ----------------------------------------------------------- torch references


def unrolled_torch_cells(spec, params, x, y, loss):
    """torch.nn.*Cell per layer, unrolled, with retain_grad on every state."""
    cls, kwargs = TORCH_CELLS[spec.cell]
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
    L, y_hat, head = head_and_loss(spec, params, hs[-1], x, y, loss)
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
    grads.update(head_grads(head))
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


def unrolled_hand_cells(spec, params, x, y, loss, truncated: bool = False):
    """The cells' equations written out in torch ops (PyTorch's documented ones for the cells it has, HS97's for the
    LSTM of 1997), retain_grad on each gate pre-activation and on every state.

    ``truncated``: h_{t-1} is detached on its way into h_{t-1} W_hh (the GRU's z_t h_{t-1} term keeps it).
    Returns loss, y_hat, the parameter gradients, per gate (L, T, B, H) activations and dL/d(pre-activation),
    h and dL/dh (and c, dL/dc).
    """
    G = len(spec.gates)
    pre = {gate: [] for gate in spec.gates}
    act = {gate: [] for gate in spec.gates}
    hs, cs, leaves = [], [], []
    inp = [t64(x[t]) for t in range(T)]
    for k in range(spec.layers):
        bias_hh = np.zeros(G * H)
        if spec.cell == "gru":
            bias_hh[2 * H :] = params[f"l{k}.bhn"]
        W_ih = t64(params[f"l{k}.Wx"].T, grad=True)
        W_hh = t64(params[f"l{k}.Wh"].T, grad=True)
        b_ih = t64(params[f"l{k}.b"], grad=True)
        b_hh = t64(bias_hh, grad=True)
        leaves.append((W_ih, W_hh, b_ih, b_hh))
        h = torch.zeros(B, H, dtype=torch.float64)
        c = torch.zeros(B, H, dtype=torch.float64)
        u = torch.zeros(B, W_hh.shape[1], dtype=torch.float64)  # lstm97fc: [h, i, o] of the step before
        layer_h, layer_c = [], []
        lpre = {gate: [] for gate in spec.gates}
        lact = {gate: [] for gate in spec.gates}
        for t in range(T):
            gi = F.linear(inp[t], W_ih, b_ih)
            src = u if spec.cell == "lstm97fc" else h
            gh = F.linear(src.detach() if truncated else src, W_hh, b_hh)
            if spec.cell in ("rnn", "rnn_relu", "rnn_logistic"):
                a = {"h": gi + gh}
                a["h"].retain_grad()
                h = {"rnn": torch.tanh, "rnn_relu": torch.relu, "rnn_logistic": torch.sigmoid}[spec.cell](a["h"])
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
            elif spec.cell in ("lstm97", "lstm97fc"):  # HS97 section 4: s = s + y_in g(net_c), y_c = y_out h(s)
                blocks = (gi + gh).split(H, dim=1)
                a = {}
                for name, blk in zip(("i", "n", "o"), blocks):
                    blk.retain_grad()
                    a[name] = blk
                acts = {"i": torch.sigmoid(a["i"]), "n": 4 * torch.sigmoid(a["n"]) - 2, "o": torch.sigmoid(a["o"])}
                c = c + acts["i"] * acts["n"]
                h = acts["o"] * (2 * torch.sigmoid(c) - 1)
                u = torch.cat([h, acts["i"], acts["o"]], dim=1)
            elif spec.cell == "lstm97ig":  # HS97 Experiment 2: s = s + y_in g(net_c), g in [-1, 1], y_c = s
                blocks = (gi + gh).split(H, dim=1)
                a = {}
                for name, blk in zip(("i", "n"), blocks):
                    blk.retain_grad()
                    a[name] = blk
                acts = {"i": torch.sigmoid(a["i"]), "n": 2 * torch.sigmoid(a["n"]) - 1}
                c = c + acts["i"] * acts["n"]
                h = c.clone()  # the same values, its own node: dL/dh_t is what reaches h_t, as in lstmlab
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
            h.retain_grad()
            layer_h.append(h)
            if spec.cell in MEMORY:
                c.retain_grad()
                layer_c.append(c)
            for gate in spec.gates:
                lpre[gate].append(a[gate])
                lact[gate].append(acts[gate])
        hs.append(layer_h)
        cs.append(layer_c)
        for gate in spec.gates:
            pre[gate].append(lpre[gate])
            act[gate].append(lact[gate])
        inp = layer_h
    L, y_hat, head = head_and_loss(spec, params, hs[-1], x, y, loss)
    L.backward()
    grads = {}
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(leaves):
        grads[f"l{k}.Wx"], grads[f"l{k}.Wh"], grads[f"l{k}.b"] = g(W_ih).T, g(W_hh).T, g(b_ih)
        if spec.cell == "gru":
            grads[f"l{k}.bhn"] = g(b_hh)[2 * H :]
    grads.update(head_grads(head))
    out = {
        "loss": L.item(),
        "y_hat": y_hat.detach().numpy(),
        "grads": grads,
        "h": np.array([[ht.detach().numpy() for ht in layer] for layer in hs]),
        "dh": np.array([[g(ht) for ht in layer] for layer in hs]),
        "gates": {gate: np.array([[v.detach().numpy() for v in lay] for lay in act[gate]]) for gate in spec.gates},
        "dgates": {gate: np.array([[g(v) for v in lay] for lay in pre[gate]]) for gate in spec.gates},
    }
    if spec.cell in MEMORY:
        out["c"] = np.array([[ct.detach().numpy() for ct in layer] for layer in cs])
        out["dc"] = np.array([[g(ct) for ct in layer] for layer in cs])
    return out


def whole_sequence_modules(spec, params, x, y, loss):
    """nn.RNN/nn.LSTM/nn.GRU + nn.Linear from build_torch_model, module parameter gradients."""
    model = build_torch_model(spec, params)
    assert isinstance(model.rnn, TORCH_MODULES[spec.cell])
    if spec.cell.startswith("rnn"):
        assert model.rnn.nonlinearity == TORCH_CELLS[spec.cell][1]["nonlinearity"]
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
    # torch.nn's cells where PyTorch has the cell, else the hand-written loop (checked against torch.nn's cells below)
    ref = (unrolled_torch_cells if spec.cell in TORCH_CELLS else unrolled_hand_cells)(spec, params, x, y, loss)
    assert_close(res.loss, ref["loss"], "loss")
    assert_close(res.y_hat, ref["y_hat"], "y_hat")
    assert set(res.grads) == set(ref["grads"]) == set(spec.param_shapes())
    for name in spec.param_shapes():
        assert_close(res.grads[name], ref["grads"][name], f"grads[{name}]")
    assert_close(res.h, ref["h"], "h")
    for k in range(spec.layers):
        for t in range(T):
            assert_close(res.dh[k, t], ref["dh"][k, t], f"dh[layer {k}, t {t}]")
    if spec.cell in MEMORY:
        assert_close(res.c, ref["c"], "c")
        for k in range(spec.layers):
            for t in range(T):
                assert_close(res.dc[k, t], ref["dc"][k, t], f"dc[layer {k}, t {t}]")
    else:
        assert res.c is None and res.dc is None


def test_hand_cells_gates_and_gate_gradients(case):
    spec, params, x, y, loss, res = case
    hand = unrolled_hand_cells(spec, params, x, y, loss)
    if spec.cell in TORCH_CELLS:
        cells = unrolled_torch_cells(spec, params, x, y, loss)
        # the hand-written equations are PyTorch's own cells: same states, loss, gradients and error flow
        assert_close(hand["h"], cells["h"], "hand-written torch cell h vs torch.nn cell", rtol=1e-12)
        assert_close(hand["loss"], cells["loss"], "hand-written torch cell loss vs torch.nn cell", rtol=1e-12)
        for name in spec.param_shapes():
            assert_close(hand["grads"][name], cells["grads"][name], f"hand-written grads[{name}] vs torch.nn cell",
                         rtol=1e-12)
        assert_close(hand["dh"], cells["dh"], "hand-written dh vs torch.nn cell", rtol=1e-12)
        if spec.cell == "lstm":
            assert_close(hand["c"], cells["c"], "hand-written torch cell c vs torch.nn cell", rtol=1e-12)
            assert_close(hand["dc"], cells["dc"], "hand-written dc vs torch.nn cell", rtol=1e-12)
    assert tuple(res.gates) == tuple(res.dgates) == GATES[spec.cell]
    for gate in spec.gates:
        assert_close(res.gates[gate], hand["gates"][gate], f"gates[{gate}]")
        assert_close(res.dgates[gate], hand["dgates"][gate], f"dgates[{gate}]")


MODULE_CASES = [c for c in CASES if c[0] in TORCH_MODULES]


@pytest.mark.parametrize("cell,layers,head,loss", MODULE_CASES, ids=[f"{c}-L{n}-{h}-{lo}" for c, n, h, lo in MODULE_CASES])
def test_whole_sequence_modules_agree(cell, layers, head, loss, engine):
    spec, params, x, y = make_problem(cell, layers, head, loss)
    res = bptt(spec, params, x, y, loss=loss, engine=engine)
    ref = whole_sequence_modules(spec, params, x, y, loss)
    assert_close(res.loss, ref["loss"], "loss (nn module)")
    assert_close(res.y_hat, ref["y_hat"], "y_hat (nn module)")
    for name in spec.param_shapes():
        assert_close(res.grads[name], ref["grads"][name], f"grads[{name}] (nn module)")


def test_build_torch_model_refuses_the_cells_pytorch_lacks():
    for cell in ("rnn_logistic", "lstm97", "lstm97fc", "lstm97ig"):
        spec, params, _, _ = make_problem(cell, 1, "last", "mse")
        with pytest.raises(ValueError, match=rf"^cell='{cell}': PyTorch has no module for this cell"):
            build_torch_model(spec, params)
    spec, params, _, _ = make_problem("lstm", 1, "last", "mse", direct="yes")
    with pytest.raises(ValueError, match=r"^direct='yes': a torch.nn.Linear head reads the recurrent module's output"):
        build_torch_model(spec, params)


DIRECT = list(itertools.product(CELLS, ("last", "all"), ("mse", "xent"), ("full", "truncated")))


@pytest.mark.parametrize("cell,head,loss,gradient", DIRECT, ids=["-".join(c) for c in DIRECT])
def test_input_to_output_weights_are_autograd(cell, head, loss, gradient, engine):
    """A head that reads the input too (y_t = h_t W + x_t Wx + b, HS97's input-to-output weights): loss, outputs,
    every parameter gradient and the error flow against autograd through the hand-written cells, two layers deep
    so that x is not the top layer's input; the input weights change the outputs (the comparison could fail)."""
    spec, params, x, y = make_problem(cell, 2, head, loss, gradient=gradient, direct="yes")
    res = bptt(spec, params, x, y, loss=loss, engine=engine)
    ref = unrolled_hand_cells(spec, params, x, y, loss, truncated=gradient == "truncated")
    assert_close(res.loss, ref["loss"], "loss")
    assert_close(res.y_hat, ref["y_hat"], "y_hat")
    assert set(res.grads) == set(ref["grads"]) == set(spec.param_shapes()) and "head.Wx" in res.grads
    for name in spec.param_shapes():
        assert_close(res.grads[name], ref["grads"][name], f"grads[{name}]")
    assert_close(res.dh, ref["dh"], "dh")
    plain = bptt(ModelSpec(**{**spec.__dict__, "direct": "no"}), {k: v for k, v in params.items() if k != "head.Wx"},
                 x, y, loss=loss, engine=engine)
    assert rel_error(res.y_hat, plain.y_hat) > 1e-3


TRUNCATED = list(itertools.product(CELLS, (1, 2), ("last", "all")))


@pytest.mark.parametrize("cell,layers,head", TRUNCATED, ids=[f"{c}-L{n}-{h}" for c, n, h in TRUNCATED])
def test_truncated_gradient_is_autograd_with_the_recurrent_input_detached(cell, layers, head, engine):
    """HS97's truncated gradient (and its like for every cell): autograd through the hand-written loop in which
    h_{t-1} is detached on its way into h_{t-1} W_hh. Loss, every parameter gradient, dh, dc and every gate's
    error match; and the full gradient differs from it (the comparison could fail)."""
    spec, params, x, y = make_problem(cell, layers, head, "mse", gradient="truncated")
    res = bptt(spec, params, x, y, loss="mse", engine=engine)
    ref = unrolled_hand_cells(spec, params, x, y, "mse", truncated=True)
    assert_close(res.loss, ref["loss"], "loss")
    for name in spec.param_shapes():
        assert_close(res.grads[name], ref["grads"][name], f"truncated grads[{name}]")
    assert_close(res.dh, ref["dh"], "truncated dh")
    if spec.cell in MEMORY:
        assert_close(res.dc, ref["dc"], "truncated dc")
    for gate in spec.gates:
        assert_close(res.dgates[gate], ref["dgates"][gate], f"truncated dgates[{gate}]")
    full = unrolled_hand_cells(spec, params, x, y, "mse")
    assert rel_error(ref["grads"]["l0.Wx"], full["grads"]["l0.Wx"]) > 1e-3


def hand_cell_state(cell: str, a: torch.Tensor, c_prev: torch.Tensor) -> torch.Tensor:
    """c_t from the pre-activations a (B, G*H) of one step and c_{t-1}, in torch: the cell-state update alone."""
    if cell == "lstm":
        i, f, n, _ = a.split(H, dim=1)
        return torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(n)
    if cell == "lstm97ig":
        i, n = a.split(H, dim=1)
        return c_prev + torch.sigmoid(i) * (2 * torch.sigmoid(n) - 1)
    i, n, _ = a.split(H, dim=1)
    return c_prev + torch.sigmoid(i) * (4 * torch.sigmoid(n) - 2)


@pytest.mark.parametrize("cell", MEMORY)
def test_the_cell_state_jacobian_is_the_carousel(cell):
    """∂c_t/∂c_{t-1} along the cell state: autograd's Jacobian of the cell-state update, one step at a time, against
    lstmlab.cell_state_jacobian. For the LSTM of 1997 it is the identity, exactly (the constant error carousel);
    for the LSTM, diag(f_t)."""
    spec, params, x, y = make_problem(cell, 1, "all", "mse")
    ours = cell_state_jacobian(spec, params, x, example=1)  # (T, H, H)
    res = bptt(spec, params, x, y, loss="mse", engine="reference")
    a = F.linear(t64(x[:, 1]), t64(params["l0.Wx"].T), t64(params["l0.b"]))  # (T, G*H)
    u = res.h[0, :, 1] if cell != "lstm97fc" else np.concatenate([res.h[0, :, 1], res.gates["i"][0, :, 1],
                                                                   res.gates["o"][0, :, 1]], axis=1)
    h_prev = np.concatenate([np.zeros((1, u.shape[1])), u[:-1]])  # the recurrent input u_{t-1}
    c_prev = np.concatenate([np.zeros((1, H)), res.c[0, :-1, 1]])
    for t in range(T):
        a_t = (a[t] + t64(h_prev[t]) @ t64(params["l0.Wh"]))[None]
        jac = torch.autograd.functional.jacobian(lambda c, a_t=a_t: hand_cell_state(cell, a_t, c),
                                                 t64(c_prev[t][None]))
        jac = jac.reshape(H, H).numpy()
        if cell in ("lstm97", "lstm97fc", "lstm97ig"):
            np.testing.assert_array_equal(jac, np.eye(H))
            np.testing.assert_array_equal(ours[t], np.eye(H))
        else:
            assert not np.allclose(jac, np.eye(H))
            np.testing.assert_allclose(ours[t], jac, rtol=1e-14, atol=0)


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
