"""lstmlab.views.probes: the phase map, the Jacobian spectrum and the one-pass tables of Inside the LSTM."""

import math

import numpy as np
import pytest

from lstmlab.core.config import RunConfig
from lstmlab.core.model import bptt
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import initial_params, model_spec
from lstmlab.training.train import train
from lstmlab.views import probes


def _out(f_means: list[float], T: int = 6, B: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    H = len(f_means)
    gates = {g: rng.random((T, B, H)) for g in ("i", "f", "n", "o")}
    gates["f"] = np.clip(np.asarray(f_means) + 0.01 * rng.standard_normal((T, B, H)), 0, 1)
    return {"cell": "lstm", "gates": gates, "dgates": {g: rng.standard_normal((T, B, H)) for g in gates},
            "c": rng.standard_normal((T, B, H)), "dc": rng.standard_normal((T, B, H)),
            "h": rng.standard_normal((T, B, H)), "dh": rng.standard_normal((T, B, H)), "carry": gates["f"],
            "loss": 1.0}


def test_open_units_are_the_most_open_forget_gates():
    out = _out([0.2, 0.9, 0.5, 0.99, 0.1, 0.3, 0.7, 0.4])
    assert probes.open_units(out).tolist() == [3, 1]  # a quarter of 8 units, most open first
    assert probes.open_units(out, 3).tolist() == [3, 1, 6]
    assert probes.open_units(_out([0.5, 0.6]), None).tolist() == [1]  # at least one
    assert probes.units_label([3, 1]) == "3, 1" and probes.units_label(range(8)).endswith(", …")


def test_units_summary_reads_forget_gates_and_the_carousel():
    out = _out([0.2, 0.9, 0.5, 0.99])
    out["dc"][:, :, 1] = 0.0
    out["dc"][:, :, 3] = 2.0  # unit 3 carries its error unchanged, unit 1 has none
    s = probes.units_summary(out, [3, 1])
    assert s["carry_mean"] == pytest.approx(out["gates"]["f"][..., [3, 1]].mean())
    assert s["carousel"] == pytest.approx(1.0)
    out["dc"][0, :, 3] = 0.2
    assert probes.units_summary(out, [3], example=1)["carousel"] == pytest.approx(0.1)
    out["dc"][-1] = 0.0
    assert np.isnan(probes.units_summary(out, [3])["carousel"])


def test_inside_tables_add_the_memory_units():
    out = _out([0.2, 0.9, 0.5, 0.99])
    plain = probes.inside_tables(out, 1)
    tables = probes.inside_tables(out, 1, units=[3, 1])
    assert set(plain["means"]["units"]) == {"all units"}
    mem = tables["means"][tables["means"]["units"] == "memory units"]
    assert set(mem["name"]) == {"forget gate f"}
    np.testing.assert_allclose(mem["value"], out["gates"]["f"][:, 1, [3, 1]].mean(axis=1))
    dc = tables["norms"][(tables["norms"]["units"] == "memory units")]
    np.testing.assert_allclose(dc["value"], np.linalg.norm(out["dc"][:, 1, [3, 1]], axis=1))
    assert len(tables["norms"]) == len(plain["norms"]) + 6


def test_lstm_inside_runs_the_given_parameters_or_the_initialisation():
    c = RunConfig(task="recall", seq_len=10, hidden_size=5, steps=5, batch_size=4, record_every=5, eval_size=4)
    run = train(c)
    x, y = get_task(c).sample(np.random.default_rng(7), 4)
    for params, given in ((run.params, run.params), (initial_params(c), None)):
        res = bptt(model_spec(c), params, x, y, loss="xent")
        out = probes.lstm_inside(c, given, 7, batch=4)
        assert out["loss"] == res.loss
        np.testing.assert_array_equal(out["dc"], res.dc[0])
        np.testing.assert_array_equal(out["gates"]["f"], res.gates["f"][0])
        np.testing.assert_allclose(out["carry"], res.gates["f"][0], rtol=1e-14)  # ∂c_t/∂c_{t-1} along c: f_t
    with pytest.raises(ValueError, match="LSTM"):
        probes.lstm_inside(c.replace(cell="gru"), None, 0)
    with pytest.raises(ValueError, match="layer"):
        probes.lstm_inside(c, None, 0, layer=1)


def test_phase_map_keeps_gradients_far_below_the_square_underflow():
    df = probes.phase_map(["rnn"], [0.3, 0.9], [10, 400], 16, "orthogonal", 1.0, 0).set_index(
        ["weight_scale", "seq_len"])
    tiny = df.loc[(0.3, 400)]
    assert tiny["state"] == "finite" and tiny["ratio"] > 0  # about 1e-216: squares of it underflow to 0
    assert -230 < math.log10(tiny["ratio"]) < -200
    assert df.loc[(0.9, 10), "ratio"] > df.loc[(0.9, 400), "ratio"] > tiny["ratio"]


def test_lstm97_inside_shows_the_carousel():
    """The LSTM of 1997 on Inside the LSTM: no forget gate, ∂c_t/∂c_{t-1} = 1 everywhere (computed by the backward
    step, compared here with the constant), every unit a memory unit, and with the truncated gradient the error on
    the cell state is the same at every step of a sequence with its loss at the end."""
    c = RunConfig(cell="lstm97", task="adding", seq_len=12, hidden_size=4, steps=0, gradient="truncated")
    out = probes.lstm_inside(c, None, 3, batch=5)
    assert set(out["gates"]) == {"i", "n", "o"} and out["cell"] == "lstm97"
    np.testing.assert_array_equal(out["carry"], np.ones((12, 5, 4)))
    assert probes.open_units(out).tolist() == [0, 1, 2, 3]
    summary = probes.units_summary(out, probes.open_units(out))
    assert summary["carry_mean"] == 1.0 and summary["carousel"] == 1.0
    np.testing.assert_array_equal(out["dc"], np.broadcast_to(out["dc"][-1], out["dc"].shape))
    tables = probes.inside_tables(out, 2, probes.open_units(out))
    carried = tables["means"][tables["means"]["name"] == probes.CARRY_NAME]
    assert len(carried) == 24 and (carried["value"] == 1.0).all()  # all units and the memory units, 12 steps each
    row = probes.at_step(out, 2, 5).set_index("gate").loc[probes.CARRY_NAME]
    assert (row["mean"], row["min"], row["max"]) == (1.0, 1.0, 1.0)
    assert row["‖δ‖"] == np.linalg.norm(out["dc"][4, 2])  # the error it hands back, unchanged
    assert "cell input n = g(a_n)" in set(probes.at_step(out, 2, 5)["gate"])


def test_spectrum_follows_the_cell_state_alone_for_the_lstms():
    along = {}
    for cell in ("lstm", "lstm97"):
        df = probes.spectrum(cell, 1.0, 30, 6, "orthogonal", 1.0, 0)
        along[cell] = df[df["which"] == probes.CAROUSEL].set_index("lag")["value"]
    assert (along["lstm97"] == 1.0).all() and len(along["lstm97"]) == 31
    assert along["lstm"].iloc[-1] < 1e-2  # forget gates near sigma(1) = 0.73 multiply up


def test_phase_map_labels_the_cells_as_the_dashboard_does():
    df = probes.phase_map(["rnn_relu", "lstm97"], [1.0], [10], 4, "irnn", 1.0, 0)
    assert set(df["cell"]) == {"ReLU RNN", "LSTM 1997"}
