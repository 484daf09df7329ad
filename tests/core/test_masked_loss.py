"""The papers' losses in the core: a loss read only at the steps of a mask, and "mse-onehot" (logistic output units
against one-hot targets, as HS97 trains). Checked by central differences on every cell, depth and engine, against
the loss written out here step by step, and against PyTorch autograd on nn.RNN/nn.LSTM/nn.GRU."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from lstmlab.core.gradcheck import grad_check
from lstmlab.core.model import bptt, forward, loss_fn, output_units
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec

CELLS = ("rnn", "lstm", "gru")
MASKED = list(itertools.product(CELLS, (1, 2), ("mse", "mse-onehot", "xent")))
LAST = list(itertools.product(CELLS, (1, 2), ("mse-onehot",)))


def make_problem(cell: str, layers: int, head: str, loss: str, seed: int):
    """Spec, perturbed params, x, y and (head "all") a mask that drops whole steps of some sequences, the last
    step of one, and keeps at least one step of every sequence."""
    rng = np.random.default_rng(seed)
    T, B, I, H, O = 6, 3, 2, 4, 3
    spec = ModelSpec(cell=cell, input_size=I, hidden_size=H, output_size=O, layers=layers, head=head)
    params = init_params(spec, weight_scale=1.1, seed=seed)
    params = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in params.items()}
    x = rng.standard_normal((T, B, I))
    lead = (B,) if head == "last" else (T, B)
    y = rng.standard_normal(lead + (O,)) if loss == "mse" else rng.integers(0, O, lead)
    mask = None
    if head == "all":
        mask = rng.random((T, B)) < 0.5
        mask[-1, 0] = False
        mask[1, :] = True
    return spec, params, x, y, mask


def written_out(y_hat: np.ndarray, y: np.ndarray, loss: str, mask: np.ndarray | None) -> float:
    """The loss by loops over the selected predictions: mean over their output units (squared errors), or over
    them (cross-entropy)."""
    if mask is None:
        y_hat, y = y_hat[None], y[None]
        mask = np.ones(y_hat.shape[:2], dtype=bool)
    total, count = 0.0, 0
    for t, b in zip(*np.nonzero(mask)):
        z = y_hat[t, b]
        if loss == "xent":
            total += np.log(np.sum(np.exp(z))) - z[y[t, b]]
            count += 1
            continue
        target = y[t, b] if loss == "mse" else np.eye(len(z))[y[t, b]]
        out = z if loss == "mse" else 1.0 / (1.0 + np.exp(-z))
        total += np.sum((out - target) ** 2)
        count += len(z)
    return total / count


@pytest.mark.parametrize("cell, layers, loss", MASKED)
def test_masked_gradients_match_central_differences(cell, layers, loss, engine):
    spec, params, x, y, mask = make_problem(cell, layers, "all", loss, seed=MASKED.index((cell, layers, loss)))
    report = grad_check(spec, params, x, y, loss, eps=1e-5, engine=engine, mask=mask)
    assert set(report.errors) == set(params) and report.max_error < 1e-6, report.errors


@pytest.mark.parametrize("cell, layers, loss", LAST)
def test_onehot_mse_gradients_at_the_last_step_match_central_differences(cell, layers, loss, engine):
    spec, params, x, y, _ = make_problem(cell, layers, "last", loss, seed=50 + LAST.index((cell, layers, loss)))
    report = grad_check(spec, params, x, y, loss, eps=1e-5, engine=engine)
    assert report.max_error < 1e-6, report.errors


@pytest.mark.parametrize("head, loss", [("all", "mse"), ("all", "mse-onehot"), ("all", "xent"),
                                        ("last", "mse-onehot"), ("last", "xent")])
def test_the_loss_reads_only_the_selected_steps(head, loss):
    spec, params, x, y, mask = make_problem("lstm", 1, head, loss, seed=7)
    res = bptt(spec, params, x, y, loss, mask=mask)
    assert res.loss == pytest.approx(written_out(res.y_hat, y, loss, mask), rel=1e-12)
    if mask is not None:  # targets at the dropped steps change nothing
        y2 = y.copy()
        y2[~mask] = (y2[~mask] + 1) % 3 if loss != "mse" else y2[~mask] + 5.0
        res2 = bptt(spec, params, x, y2, loss, mask=mask)
        assert res2.loss == res.loss
        assert all(np.array_equal(res.grads[k], res2.grads[k]) for k in res.grads)
        unmasked = bptt(spec, params, x, y, loss)
        assert unmasked.loss != pytest.approx(res.loss)


def test_output_units_and_forward_agree_with_bptt():
    spec, params, x, y, mask = make_problem("gru", 2, "all", "mse-onehot", seed=3)
    res = bptt(spec, params, x, y, "mse-onehot", mask=mask)
    z = forward(spec, params, x)
    assert np.array_equal(z, res.y_hat)
    units = output_units(z, "mse-onehot")
    np.testing.assert_allclose(units, 1.0 / (1.0 + np.exp(-z)), rtol=1e-14)
    assert output_units(z, "xent") is z and output_units(z, "mse") is z
    assert loss_fn(z, y, "mse-onehot", mask)[0] == res.loss


@pytest.mark.parametrize("mask, message", [
    (np.ones((6, 2), dtype=bool), r"mask: shape \(6, 2\) of bool, expected \(6, 3\) bool"),
    (np.ones((6, 3)), r"mask: shape \(6, 3\) of float64, expected \(6, 3\) bool"),
    (np.zeros((6, 3), dtype=bool), "mask: selects no step"),
])
def test_a_bad_mask_is_refused(mask, message):
    spec, params, x, y, _ = make_problem("rnn", 1, "all", "xent", seed=1)
    with pytest.raises(ValueError, match=message):
        bptt(spec, params, x, y, "xent", mask=mask)


def test_a_mask_for_head_last_is_refused():
    spec, params, x, y, _ = make_problem("rnn", 1, "last", "mse-onehot", seed=1)
    with pytest.raises(ValueError, match="mask: given for head 'last'; expected None"):
        bptt(spec, params, x, y, "mse-onehot", mask=np.ones((6, 3), dtype=bool))
    with pytest.raises(ValueError, match="y: dtype float64, expected integer class ids for loss 'mse-onehot'"):
        bptt(spec, params, x, np.zeros(3), "mse-onehot")


# ---- PyTorch autograd as the reference ----------------------------------------------------------------------

TORCH_CASES = list(itertools.product(CELLS, (1, 2), ("all", "last"), ("mse", "mse-onehot", "xent")))


@pytest.mark.parametrize("cell, layers, head, loss", TORCH_CASES)
def test_masked_losses_agree_with_pytorch(cell, layers, head, loss, engine):
    """nn.RNN/nn.LSTM/nn.GRU + nn.Linear (lstmlab.core.torch_interop), the loss written in torch ops with the mask
    as weights: loss, gradient of every parameter (torch's two bias vectors each carry dL/db)."""
    torch = pytest.importorskip("torch")
    from lstmlab.core.torch_interop import build_torch_model

    spec, params, x, y, mask = make_problem(cell, layers, head, loss, seed=100 + TORCH_CASES.index(
        (cell, layers, head, loss)))
    res = bptt(spec, params, x, y, loss, engine=engine, mask=mask)
    model = build_torch_model(spec, params)
    z = model(torch.tensor(x))
    w = torch.ones(z.shape[:-1], dtype=torch.float64) if mask is None else torch.tensor(mask, dtype=torch.float64)
    if loss == "xent":
        per = torch.nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), torch.tensor(y.reshape(-1)),
                                                reduction="none").reshape(w.shape)
        L = (per * w).sum() / w.sum()
    else:
        target = torch.tensor(y) if loss == "mse" else torch.nn.functional.one_hot(torch.tensor(y), 3).double()
        out = z if loss == "mse" else torch.sigmoid(z)
        L = (((out - target) ** 2).sum(-1) * w).sum() / (w.sum() * z.shape[-1])
    L.backward()
    assert res.loss == pytest.approx(L.item(), rel=1e-12)
    ref = {"head.W": model.head.weight.grad.numpy().T, "head.b": model.head.bias.grad.numpy()}
    for k in range(layers):
        ref[f"l{k}.Wx"] = getattr(model.rnn, f"weight_ih_l{k}").grad.numpy().T
        ref[f"l{k}.Wh"] = getattr(model.rnn, f"weight_hh_l{k}").grad.numpy().T
        b = getattr(model.rnn, f"bias_ih_l{k}").grad.numpy()
        ref[f"l{k}.b"] = b
        if cell == "gru":
            ref[f"l{k}.bhn"] = getattr(model.rnn, f"bias_hh_l{k}").grad.numpy()[2 * spec.hidden_size:]
    for name, want in ref.items():
        scale = np.max(np.abs(want))
        assert scale > 0, name
        np.testing.assert_allclose(res.grads[name], want, rtol=1e-9, atol=1e-12 * scale, err_msg=name)
