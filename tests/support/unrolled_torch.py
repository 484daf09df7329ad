"""The gold reference for a PyTorch recurrent module's error flow: its cells unrolled in torch ops.

``unrolled(module, x, h0, c0)`` recomputes what ``torch.nn.RNN/LSTM/GRU`` computes, one time step and one layer at a
time, from PyTorch's documented equations and the module's own weights, with ``retain_grad()`` on every h_t, every
c_t and every gate pre-activation: after a backward through its outputs, ``.grad`` of those tensors is autograd's
total dL/dh_t, dL/dc_t and dL/d(pre-activation). Nothing of lstmlab is used here.
"""

from __future__ import annotations

import numpy as np
import torch

GATE_NAMES = {"RNN_TANH": ("h",), "RNN_RELU": ("h",), "LSTM": ("i", "f", "n", "o"), "GRU": ("r", "z", "n")}


def unrolled(module, x, h0=None, c0=None) -> dict:
    """The module's pass over time-major ``x`` (T, B, I) from ``h0``, ``c0`` (L, B, H; zero when None), unrolled.

    Returns {"out": (T, B, H) top layer's h_t, "h_n", "c_n": (L, B, H) final states (c_n None but for the LSTM),
    "h", "c": [layer][t] state tensors, "pre": [layer][t] {gate: pre-activation}}, every listed tensor retaining
    its gradient.
    """
    mode = module.mode
    T, B, _ = x.shape
    L, H = module.num_layers, module.hidden_size
    zeros = torch.zeros(L, B, H, dtype=x.dtype)
    h0 = zeros if h0 is None else h0  # a state of an earlier unrolled pass carries its gradient back to it
    c0 = zeros if c0 is None else c0
    inp = list(x.detach().requires_grad_().unbind(0))  # a leaf of its own: the module's weights stay untouched
    hs, cs, pres, h_n, c_n = [], [], [], [], []
    for k in range(L):
        W_ih, W_hh = (getattr(module, f"{n}_l{k}").detach() for n in ("weight_ih", "weight_hh"))
        if module.bias:
            b_ih, b_hh = (getattr(module, f"{n}_l{k}").detach() for n in ("bias_ih", "bias_hh"))
        else:
            b_ih = b_hh = torch.zeros(W_ih.shape[0], dtype=x.dtype)
        h, c = h0[k], c0[k]
        layer_h, layer_c, layer_pre = [], [], []
        for t in range(T):
            gi = torch.nn.functional.linear(inp[t], W_ih, b_ih)
            gh = torch.nn.functional.linear(h, W_hh, b_hh)
            if mode in ("RNN_TANH", "RNN_RELU"):
                pre = {"h": gi + gh}
                h = torch.tanh(pre["h"]) if mode == "RNN_TANH" else torch.relu(pre["h"])
            elif mode == "LSTM":
                pre = dict(zip(("i", "f", "n", "o"), (gi + gh).split(H, dim=1)))
                i, f, n, o = (torch.sigmoid(pre["i"]), torch.sigmoid(pre["f"]), torch.tanh(pre["n"]),
                              torch.sigmoid(pre["o"]))
                c = f * c + i * n
                c.retain_grad()
                layer_c.append(c)
                h = o * torch.tanh(c)
            else:
                i_r, i_z, i_n = gi.split(H, dim=1)
                h_r, h_z, h_hn = gh.split(H, dim=1)
                pre = {"r": i_r + h_r, "z": i_z + h_z}
                r, z = torch.sigmoid(pre["r"]), torch.sigmoid(pre["z"])
                pre["n"] = i_n + r * h_hn
                h = (1 - z) * torch.tanh(pre["n"]) + z * h
            for value in pre.values():
                value.retain_grad()
            h.retain_grad()
            layer_h.append(h)
            layer_pre.append(pre)
        hs.append(layer_h)
        cs.append(layer_c)
        pres.append(layer_pre)
        h_n.append(h)
        c_n.append(c)
        inp = layer_h
    return {"out": torch.stack(hs[-1]), "h_n": torch.stack(h_n), "c_n": torch.stack(c_n) if mode == "LSTM" else None,
            "h": hs, "c": cs, "pre": pres}


def grad(t) -> np.ndarray:
    """A retained gradient as a float64 numpy array; zero for a tensor no gradient reached."""
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().double().numpy()


def example_norms(ref: dict, mode: str) -> dict[str, np.ndarray]:
    """After a backward: per-example L2 norms over units of the unrolled pass's gradients, each (L, T, B):
    dh_norm, dc_norm (LSTM only) and dg_<gate>."""
    def norms(tensors) -> np.ndarray:
        return np.array([[np.linalg.norm(grad(t), axis=-1) for t in layer] for layer in tensors])

    out = {"dh_norm": norms(ref["h"])}
    if mode == "LSTM":
        out["dc_norm"] = norms(ref["c"])
    for gate in GATE_NAMES[mode]:
        out[f"dg_{gate}"] = norms([[pre[gate] for pre in layer] for layer in ref["pre"]])
    return out


def flow_norms(ref: dict, mode: str) -> dict[str, np.ndarray]:
    """The flow table's values of the unrolled pass, each (L, T): batch means of :func:`example_norms`."""
    return {k: v.mean(axis=2) for k, v in example_norms(ref, mode).items()}
