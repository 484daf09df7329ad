"""lstmlab.core.torch_interop: state dict layout, round trips, and the torch model's predictions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmlab.core.model import forward
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec

torch = pytest.importorskip("torch")

from lstmlab.core.torch_interop import build_torch_model, from_state_dict, to_state_dict  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CELLS = ("rnn", "lstm", "gru")
IN, H, O = 3, 4, 2


def random_params(spec: ModelSpec, seed: int) -> dict:
    """init_params plus noise, so every bias (and GRU bhn) is nonzero and distinct."""
    rng = np.random.default_rng(seed)
    params = init_params(spec, seed=seed)
    return {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(spec.np_dtype) for k, v in params.items()}


def spec_for(cell, layers, head="last", dtype="float64"):
    return ModelSpec(cell=cell, input_size=IN, hidden_size=H, output_size=O, layers=layers, head=head, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_round_trip_is_exact(cell, layers, dtype):
    spec = spec_for(cell, layers, dtype=dtype)
    params = random_params(spec, seed=layers)
    sd = to_state_dict(spec, params)
    want_dtype = torch.float64 if dtype == "float64" else torch.float32
    assert all(isinstance(v, torch.Tensor) and v.dtype == want_dtype for v in sd.values())
    back = from_state_dict(spec, sd)
    assert list(back) == list(spec.param_shapes())
    for name, value in params.items():
        assert back[name].dtype == spec.np_dtype, name
        np.testing.assert_array_equal(back[name], value, err_msg=name)
    # and state_dict -> params -> state_dict from a freshly initialised torch module
    model = build_torch_model(spec, params)
    fresh = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](IN, H, num_layers=layers)
    fresh_sd = {f"rnn.{k}": v.to(want_dtype) for k, v in fresh.state_dict().items()}
    fresh_sd.update({f"head.{k}": v for k, v in model.head.state_dict().items()})
    sd2 = to_state_dict(spec, from_state_dict(spec, fresh_sd))
    if cell == "gru":
        # r, z biases only survive as their sum; the n block and all weights survive exactly
        for k in range(layers):
            for key in (f"rnn.bias_ih_l{k}", f"rnn.bias_hh_l{k}"):
                fresh_sd[key] = fresh_sd[key].clone()
            s = fresh_sd[f"rnn.bias_ih_l{k}"][: 2 * H] + fresh_sd[f"rnn.bias_hh_l{k}"][: 2 * H]
            fresh_sd[f"rnn.bias_ih_l{k}"][: 2 * H] = s
            fresh_sd[f"rnn.bias_hh_l{k}"][: 2 * H] = 0
    else:
        for k in range(layers):
            fresh_sd[f"rnn.bias_ih_l{k}"] = fresh_sd[f"rnn.bias_ih_l{k}"] + fresh_sd[f"rnn.bias_hh_l{k}"]
            fresh_sd[f"rnn.bias_hh_l{k}"] = torch.zeros_like(fresh_sd[f"rnn.bias_hh_l{k}"])
    assert set(sd2) == set(fresh_sd)
    for key in sd2:
        torch.testing.assert_close(sd2[key], fresh_sd[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_layout_matches_torch_modules(cell):
    spec = spec_for(cell, 2)
    params = random_params(spec, seed=7)
    sd = to_state_dict(spec, params)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](IN, H, num_layers=2)
    want = {f"rnn.{k}": tuple(v.shape) for k, v in module.state_dict().items()}
    want.update({"head.weight": (O, H), "head.bias": (O,)})
    assert {k: tuple(v.shape) for k, v in sd.items()} == want
    np.testing.assert_array_equal(sd["rnn.weight_ih_l1"].numpy(), params["l1.Wx"].T)
    np.testing.assert_array_equal(sd["rnn.weight_hh_l0"].numpy(), params["l0.Wh"].T)
    np.testing.assert_array_equal(sd["rnn.bias_ih_l0"].numpy(), params["l0.b"])
    np.testing.assert_array_equal(sd["head.weight"].numpy(), params["head.W"].T)
    bias_hh = sd["rnn.bias_hh_l1"].numpy()
    if cell == "gru":
        np.testing.assert_array_equal(bias_hh[: 2 * H], 0.0)
        np.testing.assert_array_equal(bias_hh[2 * H :], params["l1.bhn"])
    else:
        np.testing.assert_array_equal(bias_hh, 0.0)


def test_custom_prefixes():
    spec = spec_for("lstm", 1)
    params = random_params(spec, seed=3)
    sd = to_state_dict(spec, params, rnn_prefix="enc.lstm.", head_prefix="out.")
    assert "enc.lstm.weight_ih_l0" in sd and "out.weight" in sd
    sd["other.thing"] = torch.zeros(2)  # keys outside both prefixes are ignored
    back = from_state_dict(spec, sd, rnn_prefix="enc.lstm.", head_prefix="out.")
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])


@pytest.mark.parametrize("head", ["last", "all"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_torch_model_predictions_equal_forward(cell, layers, head):
    spec = spec_for(cell, layers, head=head)
    params = random_params(spec, seed=11)
    x = np.random.default_rng(5).standard_normal((6, 3, IN))
    model = build_torch_model(spec, params)
    assert isinstance(model, torch.nn.Module)
    assert isinstance(model.head, torch.nn.Linear)
    assert isinstance(model.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell])
    assert model.rnn.num_layers == layers and not model.rnn.batch_first and not model.rnn.bidirectional
    with torch.no_grad():
        ours_tensor = model(torch.tensor(x))
        ours_array = model(x)
    y_hat = forward(spec, params, x)
    want_shape = (3, O) if head == "last" else (6, 3, O)
    assert tuple(ours_tensor.shape) == y_hat.shape == want_shape
    np.testing.assert_allclose(ours_tensor.numpy(), y_hat, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ours_array.numpy(), ours_tensor.numpy())


def test_torch_model_float32():
    spec = spec_for("gru", 2, head="all", dtype="float32")
    params = random_params(spec, seed=2)
    x = np.random.default_rng(0).standard_normal((5, 2, IN)).astype(np.float32)
    model = build_torch_model(spec, params)
    assert next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        out = model(x).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, forward(spec, params, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "key, bad",
    [
        ("rnn.weight_hh_l1", lambda v: v[:, :-1]),
        ("rnn.bias_ih_l0", lambda v: v[:-1]),
        ("rnn.weight_ih_l0", lambda v: v.T),
        ("head.weight", lambda v: v.T),
        ("head.bias", lambda v: v[None]),
    ],
)
def test_misshaped_key_names_the_key(key, bad):
    spec = spec_for("lstm", 2)
    sd = to_state_dict(spec, random_params(spec, seed=0))
    sd[key] = bad(sd[key])
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        from_state_dict(spec, sd)


@pytest.mark.parametrize("key", ["rnn.bias_hh_l1", "head.bias", "rnn.weight_ih_l0"])
def test_missing_key_names_the_key(key):
    spec = spec_for("gru", 2)
    sd = to_state_dict(spec, random_params(spec, seed=0))
    del sd[key]
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        from_state_dict(spec, sd)


def test_unexpected_key_under_prefix_is_rejected():
    """A bidirectional module's reverse weights have no lstmlab meaning: refuse, don't drop them."""
    spec = spec_for("lstm", 1)
    sd = to_state_dict(spec, random_params(spec, seed=0))
    sd["rnn.weight_ih_l0_reverse"] = sd["rnn.weight_ih_l0"].clone()
    with pytest.raises(ValueError, match=r"rnn\.weight_ih_l0_reverse"):
        from_state_dict(spec, sd)


def test_wrong_layer_count_is_rejected():
    one = spec_for("rnn", 1)
    sd = to_state_dict(one, random_params(one, seed=0))
    with pytest.raises(ValueError, match=r"rnn\.weight_ih_l1"):
        from_state_dict(spec_for("rnn", 2), sd)


def test_bad_params_rejected_by_to_state_dict():
    spec = spec_for("rnn", 1)
    params = random_params(spec, seed=0)
    params["l0.Wh"] = params["l0.Wh"][:, :-1]
    with pytest.raises(ValueError, match=r"l0\.Wh"):
        to_state_dict(spec, params)


def test_numpy_state_dict_accepted():
    spec = spec_for("gru", 1)
    params = random_params(spec, seed=4)
    sd = {k: v.numpy() for k, v in to_state_dict(spec, params).items()}
    back = from_state_dict(spec, sd)
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])


def test_import_lstmlab_does_not_import_torch():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = (
        "import sys, lstmlab, lstmlab.core.torch_interop; "
        "assert 'torch' not in sys.modules, 'torch imported by import lstmlab'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_missing_torch_gives_install_hint():
    """With torch unimportable, the interop functions say how to install it."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from lstmlab import ModelSpec, init_params\n"
        "from lstmlab.core.torch_interop import to_state_dict\n"
        "spec = ModelSpec(cell='rnn', input_size=1, hidden_size=2, output_size=1)\n"
        "try:\n"
        "    to_state_dict(spec, init_params(spec))\n"
        "except ImportError as e:\n"
        "    assert 'PyTorch is not installed: pip install torch==2.13.0' in str(e), str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout
