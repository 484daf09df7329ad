"""Bad input raises ValueError naming the argument; nothing is broadcast."""

import numpy as np
import pytest

from lstmlab.core.config import GATES
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec


def spec(**kw):
    base = dict(cell="lstm", input_size=2, hidden_size=4, output_size=1, layers=1, head="last")
    return ModelSpec(**{**base, **kw})


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"cell": "transformer"}, "cell"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_size": 5000}, "hidden_size"),
        ({"hidden_size": 4.0}, "hidden_size"),
        ({"hidden_size": True}, "hidden_size"),
        ({"layers": 5}, "layers"),
        ({"layers": 0}, "layers"),
        ({"input_size": 0}, "input_size"),
        ({"output_size": -1}, "output_size"),
        ({"head": "first"}, "head"),
        ({"dtype": "float16"}, "dtype"),
        ({"gradient": "rtrl"}, "gradient"),
    ],
)
def test_bad_spec_fields(kw, field):
    with pytest.raises(ValueError, match=rf"^{field}="):
        spec(**kw)


def test_param_names_and_shapes_follow_the_contract():
    s = ModelSpec(cell="gru", input_size=3, hidden_size=5, output_size=2, layers=2)
    p = init_params(s, seed=0)
    assert {k: v.shape for k, v in p.items()} == {
        "l0.Wx": (3, 15), "l0.Wh": (5, 15), "l0.b": (15,), "l0.bhn": (5,),
        "l1.Wx": (5, 15), "l1.Wh": (5, 15), "l1.b": (15,), "l1.bhn": (5,),
        "head.W": (5, 2), "head.b": (2,),
    }
    assert GATES == {"rnn": ("h",), "lstm": ("i", "f", "n", "o"), "gru": ("r", "z", "n"), "rnn_relu": ("h",),
                     "rnn_logistic": ("h",), "lstm97": ("i", "n", "o"), "lstm97fc": ("i", "n", "o"),
                     "lstm97ig": ("i", "n")}
    s97 = ModelSpec(cell="lstm97", input_size=3, hidden_size=5, output_size=2)
    assert s97.param_shapes() == {"l0.Wx": (3, 15), "l0.Wh": (5, 15), "l0.b": (15,), "head.W": (5, 2),
                                  "head.b": (2,)}
    assert s97.has_cell_state and spec().has_cell_state and not spec(cell="rnn_relu").has_cell_state
    fc = ModelSpec(cell="lstm97fc", input_size=3, hidden_size=5, output_size=2)  # Wh reads [h, i, o]
    assert fc.param_shapes() == {"l0.Wx": (3, 15), "l0.Wh": (15, 15), "l0.b": (15,), "head.W": (5, 2),
                                 "head.b": (2,)}
    assert fc.has_cell_state and fc.source_size == 15 and s97.source_size == 5


def test_hs97_experiment_4_net_has_hs97s_93_weights():
    """HS97 Table 10: Experiment 4's net (2 inputs, 1 output, 4 cells in HS97's fully connected hidden layer,
    every non-input unit biased) has 93 weights; lstm97fc with 4 cells of their own gates has 12 hidden units to
    HS97's 8 (2 blocks of 2 cells share gates), lstm97 reads only the 4 cells' outputs."""
    def count(cell):
        return sum(int(np.prod(shape)) for shape in ModelSpec(cell, 2, 4, 1).param_shapes().values())

    units, sources = 12, 2 + 12 + 1  # hidden units, and what each reads: inputs, hidden units, bias
    assert count("lstm97fc") == units * sources + (4 + 1)
    assert count("lstm97") == units * (2 + 4 + 1) + (4 + 1)
    hs97_units = 4 + 2 + 2  # 4 cells, 2 input and 2 output gates
    assert hs97_units * (2 + hs97_units + 1) + (4 + 1) == 93


def test_hs97_task_2a_rtrl_net_has_hs97s_weights():
    """HS97 Table 2: the RTRL/BPTT net of Task 2a (one self-recurrent unit, p + 1 inputs and outputs, each layer
    wired to all layers below) has 36, 144 and 10,404 weights at p = 4, 10 and 100: the lab's one-unit net with
    input-to-output weights, biases aside."""
    for p, weights in ((4, 36), (10, 144), (100, 10_404)):
        s = ModelSpec("rnn_logistic", p + 1, 1, p + 1, head="all", direct="yes")
        shapes = s.param_shapes()
        assert shapes["head.Wx"] == (p + 1, p + 1)
        assert sum(int(np.prod(v)) for k, v in shapes.items() if not k.endswith(".b")) == weights
    assert "head.Wx" not in ModelSpec("rnn_logistic", 5, 1, 5).param_shapes()


def test_hs97_task_2a_lstm_net_has_hs97s_weights_and_the_cells_own_two():
    """HS97 Table 2 and Table 10: the LSTM net of Task 2a at p = 100 (one memory cell with an input gate only,
    inputs wired to the outputs, no biases) has 10,504 weights; lstm97ig's cell reads its own output of the step
    before as well (Wh: to its input gate and its cell input), 2 more."""
    p = 100
    shapes = ModelSpec("lstm97ig", p + 1, 1, p + 1, head="all", direct="yes").param_shapes()
    assert shapes["l0.Wx"] == (p + 1, 2) and shapes["l0.Wh"] == (1, 2) and shapes["head.W"] == (1, p + 1)
    weights = sum(int(np.prod(v)) for k, v in shapes.items() if not k.endswith(".b"))
    assert weights - int(np.prod(shapes["l0.Wh"])) == 10_504
    with pytest.raises(ValueError, match=r"^direct='both': expected one of 'no', 'yes'"):
        ModelSpec("rnn", 2, 3, 1, direct="both")


@pytest.mark.parametrize("init", ["orthogonal", "uniform"])
def test_lstm97fc_gate_rows_start_at_zero_except_in_hs97s_uniform_init(init):
    s = ModelSpec(cell="lstm97fc", input_size=2, hidden_size=4, output_size=1)
    Wh = init_params(s, weight_scale=0.1, init=init, seed=0)["l0.Wh"]
    assert Wh[:4].any()
    assert Wh[4:].any() == (init == "uniform")
    if init == "uniform":
        assert np.abs(Wh).max() <= 0.1


@pytest.mark.parametrize("init", ["orthogonal", "gaussian", "identity"])
def test_init_weight_scale_meaning(init):
    H = 64
    s = ModelSpec(cell="lstm", input_size=2, hidden_size=H, output_size=1)
    p = init_params(s, weight_scale=0.9, init=init, forget_bias=1.5, seed=3)
    for g in range(4):
        block = p["l0.Wh"][:, g * H : (g + 1) * H]
        sv = np.linalg.svd(block, compute_uv=False)
        if init == "gaussian":
            assert abs(np.max(np.abs(np.linalg.eigvals(block))) - 0.9) < 0.15
        else:
            np.testing.assert_allclose(sv, 0.9, rtol=1e-12)
    np.testing.assert_array_equal(p["l0.b"][H : 2 * H], 1.5)
    np.testing.assert_array_equal(np.delete(p["l0.b"], np.s_[H : 2 * H]), 0.0)


@pytest.mark.parametrize("weight_scale", [1.0, 0.01])
def test_irnn_init_is_a_scaled_identity_with_small_gaussian_weights(weight_scale):
    """Le, Jaitly & Hinton 2015: W_h = weight_scale * I, biases zero, input and output weights ~ N(0, 0.001^2)."""
    H = 200
    s = ModelSpec(cell="rnn_relu", input_size=50, hidden_size=H, output_size=10)
    p = init_params(s, weight_scale=weight_scale, init="irnn", seed=0)
    np.testing.assert_array_equal(p["l0.Wh"], weight_scale * np.eye(H))
    assert not p["l0.b"].any() and not p["head.b"].any()
    for name in ("l0.Wx", "head.W"):
        assert abs(p[name].std() - 1e-3) < 1e-4 and abs(p[name].mean()) < 1e-4, name
    glorot = init_params(s, weight_scale=weight_scale, init="identity", seed=0)
    np.testing.assert_array_equal(glorot["l0.Wh"], p["l0.Wh"])
    assert glorot["l0.Wx"].std() > 0.05  # "identity" keeps Glorot-uniform input weights (std 0.089 here)


def test_lstm97_init_has_no_forget_bias():
    p = init_params(spec(cell="lstm97"), forget_bias=3.0, seed=0)
    assert not p["l0.b"].any()


def test_init_is_deterministic_and_takes_a_generator():
    s = spec()
    a = init_params(s, seed=7)
    b = init_params(s, seed=np.random.default_rng(7))
    c = init_params(s, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["l0.Wh"], c["l0.Wh"])


def test_float32_runs_in_float32():
    s = spec(dtype="float32")
    p = init_params(s, seed=0)
    rng = np.random.default_rng(0)
    res = bptt(s, p, rng.standard_normal((5, 2, 2)), rng.standard_normal((2, 1)))
    assert res.dh.dtype == np.float32 and all(g.dtype == np.float32 for g in res.grads.values())
    res64 = bptt(spec(), p, rng.standard_normal((5, 2, 2)), rng.standard_normal((2, 1)))
    assert res64.dh.dtype == np.float64


@pytest.mark.parametrize(
    "x_shape,y,loss,field",
    [
        ((5, 2), np.zeros((2, 1)), "mse", "x"),
        ((5, 2, 3), np.zeros((2, 1)), "mse", "x"),
        ((5, 2, 2), np.zeros((1,)), "mse", "y"),
        ((5, 2, 2), np.zeros((5, 2, 1)), "mse", "y"),  # head "last" wants (B, O)
        ((5, 2, 2), np.zeros((2,)), "xent", "y"),  # float ids
        ((5, 2, 2), np.array([0, 1]), "xent", "y"),  # id 1 out of range for O = 1
        ((5, 2, 2), np.zeros((2, 1)), "hinge", "loss"),
    ],
)
def test_bad_bptt_input(x_shape, y, loss, field):
    s = spec()
    with pytest.raises(ValueError, match=rf"^{field}"):
        bptt(s, init_params(s), np.zeros(x_shape), y, loss)


def test_non_finite_x_and_bad_params():
    s = spec()
    p = init_params(s)
    x = np.zeros((3, 2, 2))
    x[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="^x: contains NaN"):
        bptt(s, p, x, np.zeros((2, 1)))
    bad = dict(p)
    bad["l0.Wh"] = bad["l0.Wh"][:, :4]
    with pytest.raises(ValueError, match=r"params\['l0.Wh'\]"):
        bptt(s, bad, np.zeros((3, 2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="^params: keys"):
        bptt(s, {k: v for k, v in p.items() if k != "head.b"}, np.zeros((3, 2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="^init="):
        init_params(s, init="xavier")
    with pytest.raises(ValueError, match="^weight_scale="):
        init_params(s, weight_scale=float("nan"))
