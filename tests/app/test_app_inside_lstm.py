"""AppTest: the Inside the LSTM page (freshly initialised, trained and stored networks)."""

import numpy as np
import pytest

from lstmlab.core.config import RunConfig
from lstmlab.core.model import bptt
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import initial_params, model_spec
from lstmlab.store import RunStore
from lstmlab.training.train import train
from lstmlab.views import probes

# Learns the adding problem in about 0.3 s: held-out MSE 0.008 against the 0.167 baseline.
TRAINED = dict(net="trained", T="20", H="8", steps="300")


def _metrics(at) -> dict:
    return {m.label.split(",")[0]: m for m in at.metric}


def _store(tmp_path):
    return RunStore(tmp_path / "runs.db")


def test_draws_gates_and_equations(app):
    at = app("inside_lstm.py", T="20", H="4").run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 7  # means, norms, four gates, cell state
    assert len(at.latex) == 2
    code = [c.value for c in at.caption if c.value.startswith("In code:")]  # where the equations are computed
    assert code == ["In code: `lstm_step_forward` and `lstm_step_backward` in `lstmlab/core/engines/reference.py`, "
                    "one line per equation."]
    table = at.dataframe[0].value
    assert list(table["gate"])[:2] == ["input gate i", "forget gate f"]
    assert "Freshly initialised LSTM" in at.info[0].value and "no training" in at.info[0].value
    assert at.number_input(key="inside.steps").disabled  # only the trained network uses it


def test_forget_bias_moves_the_forget_gate(app):
    at = app("inside_lstm.py", T="20", H="4").run()
    f_before = at.dataframe[0].value.set_index("gate").loc["forget gate f", "mean"]
    at.slider(key="inside.fb").set_value(4.0).run()
    assert not at.exception
    f_after = at.dataframe[0].value.set_index("gate").loc["forget gate f", "mean"]
    assert f_after > f_before + 0.1
    assert at.query_params["fb"] == "4"


def test_time_step_and_example_change_the_table(app):
    at = app("inside_lstm.py", T="20", H="4").run()
    before = at.dataframe[0].value.copy()
    at.slider(key="inside.t").set_value(3).run()
    assert not at.exception
    assert not at.dataframe[0].value.equals(before)


def test_time_step_is_clamped_when_the_sequence_shrinks(app):
    at = app("inside_lstm.py", T="40", H="4").run()
    at.slider(key="inside.t").set_value(38).run()
    at.slider(key="inside.T").set_value(10).run()
    assert not at.exception
    assert at.slider(key="inside.t").value == 10


def test_bad_query_params_warn(app):
    at = app("inside_lstm.py", T="0", task="forecast", ex="-1", net="best").run()
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "`T`" in warned and "`task`" in warned and "`ex`" in warned and "`net`" in warned


def test_trained_network_opens_the_forget_gates_of_its_memory_units(app, tmp_path):
    at = app("inside_lstm.py", **TRAINED).run()
    assert not at.exception and not at.error
    text = at.info[0].value
    assert "trained 300 steps on the adding problem (T=20)" in text
    m = _metrics(at)
    trained_f = float(m["Mean forget gate"].value)
    opened = float(m["Mean forget gate"].delta.split()[0])  # "+0.146 vs initialised"
    assert opened > 0.08 and trained_f > 0.8
    assert float(m["‖δc_1‖ / ‖δc_T‖"].value) > 0.5  # carried over the whole sequence
    assert float(m["‖δc_1‖ / ‖δc_T‖"].delta.split()[-1]) < 0.3  # vanishing at initialisation
    assert len(at.get("vega_lite_chart")) == 7
    stored = _store(tmp_path).list(with_params=True)
    assert list(stored["cell"]) == ["lstm"] and list(stored["steps"]) == [300]

    # an independent computation from the stored parameters: the same memory units, freshly initialised
    run = _store(tmp_path).load(stored["id"][0])
    out = probes.lstm_inside(run.config, run.params, 0, batch=64)
    start = probes.lstm_inside(run.config, None, 0, batch=64)
    units = probes.open_units(out)
    assert m["Mean forget gate"].label.endswith(f"({probes.units_label(units)})")
    assert f"{probes.units_summary(out, units)['carry_mean']:.3f}" == m["Mean forget gate"].value
    assert probes.units_summary(start, units)["carry_mean"] < trained_f - 0.08

    at.radio(key="inside.net").set_value("init").run()
    assert not at.exception and at.query_params["net"] == "init"
    assert "Freshly initialised" in at.info[0].value
    assert float(_metrics(at)["Loss on this batch (seed 0)"].value) > 10 * float(m["Loss on this batch (seed 0)"].value)


def test_trained_network_shares_the_error_flow_cache(app, tmp_path):
    """Error flow with the same settings trains the very same run: Inside the LSTM reuses it, trains nothing."""
    at = app("error_flow.py", cells="lstm", T="20", H="8", steps="300").run()
    assert not at.exception
    [run_id] = _store(tmp_path).list()["id"]
    at.query_params.clear()
    for k, v in TRAINED.items():
        at.query_params[k] = v
    at.switch_page("pages/inside_lstm.py").run()
    assert not at.exception and "trained 300 steps" in at.info[0].value
    assert list(_store(tmp_path).list()["id"]) == [run_id]


def test_switching_to_trained_by_the_radio_keeps_the_settings(app):
    at = app("inside_lstm.py", T="20", H="8", steps="300").run()
    assert at.number_input(key="inside.steps").disabled
    at.radio(key="inside.net").set_value("trained").run()
    assert not at.exception
    assert at.query_params["net"] == "trained" and at.query_params["T"] == "20"
    assert "trained 300 steps" in at.info[0].value
    assert not at.number_input(key="inside.steps").disabled


def test_oversized_training_is_refused(app):
    at = app("inside_lstm.py", net="trained", T="400", H="128", steps="2000").run()
    assert not at.exception
    assert "too large for an interactive session" in at.error[0].value
    assert not at.get("vega_lite_chart")


def _save_trained(tmp_path, with_params=True, **config):
    run = train(RunConfig(task="adding", seq_len=20, hidden_size=8, steps=40, batch_size=16, record_every=20,
                          eval_size=16, **config))
    if not with_params:
        run.params = None
    _store(tmp_path).save(run)
    return run


def test_stored_run_is_inspected_with_its_own_parameters(app, tmp_path):
    run = _save_trained(tmp_path, seed=5)
    other = _save_trained(tmp_path, cell="gru")  # not an LSTM: not offered
    bare = _save_trained(tmp_path, with_params=False, seed=6)  # no parameters: not offered
    at = app("inside_lstm.py", net="stored", seed="3").run()
    assert not at.exception and not at.error
    box = at.selectbox(key="inside.run")
    assert box.options and len(box.options) == 1 and run.run_id[:6] in box.options[0]
    assert other.run_id[:6] not in " ".join(box.options) and bare.run_id[:6] not in " ".join(box.options)
    assert at.query_params["run"] == run.run_id
    assert at.info[0].value.startswith("Stored run ") and "trained 40 steps" in at.info[0].value
    assert not [w for w in list(at.slider) + list(at.selectbox) if w.key in ("inside.T", "inside.task")]
    # the page's numbers are those of the stored parameters on a fresh batch of seed 3, recomputed here with the
    # core's BPTT pass on the task's own batch (not with the probe the page calls)
    x, y = get_task(run.config).sample(np.random.default_rng(3), 64)
    res = bptt(model_spec(run.config), run.params, x, y, loss="mse")
    assert _metrics(at)["Loss on this batch (seed 3)"].value == f"{res.loss:.3g}"
    table = at.dataframe[0].value.set_index("gate")
    t = at.slider(key="inside.t").value
    assert table.loc["forget gate f", "mean"] == pytest.approx(res.gates["f"][0, t - 1, 0].mean(), rel=1e-12)
    assert table.loc["cell state c", "‖δ‖"] == pytest.approx(np.linalg.norm(res.dc[0, t - 1, 0]), rel=1e-12)


def test_stored_run_shows_its_own_settings_not_the_page_defaults(app, tmp_path):
    run = train(RunConfig(task="recall", seq_len=30, hidden_size=8, weight_scale=0.5, steps=10, batch_size=8,
                          record_every=5, eval_size=8))
    _store(tmp_path).save(run)
    at = app("inside_lstm.py", net="stored").run()
    assert not at.exception and not at.error
    text = at.info[0].value
    assert "H=8, weight scale 0.5" in text and "first-symbol recall (T=30)" in text
    # no control shows a setting of the page that the stored network does not have
    drawn = {w.key for w in list(at.slider) + list(at.selectbox) + list(at.number_input)}
    assert not drawn & {"inside.T", "inside.H", "inside.ws", "inside.fb", "inside.task", "inside.init",
                        "inside.steps"}
    assert at.slider(key="inside.t").max == 30  # the pass runs the stored run's sequence length
    assert dict(at.query_params) == {"net": "stored", "run": run.run_id, "seed": "0", "ex": "0"}
    at.number_input(key="inside.seed").set_value(4).run()
    assert not at.exception and at.query_params["seed"] == "4"
    assert at.number_input(key="inside.seed").value == 4
    at.radio(key="inside.net").set_value("init").run()  # back to the page's own settings
    assert not at.exception and "Freshly initialised LSTM, H=16" in at.info[0].value


@pytest.mark.parametrize("shape, limit", [(dict(seq_len=401, hidden_size=4), "sequence length 401 > 400"),
                                          (dict(seq_len=10, hidden_size=129), "hidden size 129 > 128")])
def test_stored_run_beyond_the_interactive_limits_is_refused(app, tmp_path, shape, limit):
    run = train(RunConfig(task="adding", steps=0, batch_size=2, record_every=1, eval_size=2, **shape))
    _store(tmp_path).save(run)
    at = app("inside_lstm.py", net="stored").run()
    assert not at.exception
    assert limit in at.error[0].value and "smaller run" in at.error[0].value
    assert not at.get("vega_lite_chart") and not at.metric


def test_stored_run_named_in_the_url(app, tmp_path):
    older, newer = _save_trained(tmp_path, seed=1), _save_trained(tmp_path, seed=2)
    at = app("inside_lstm.py", net="stored", run=older.run_id[:10]).run()
    assert not at.exception and not at.warning
    assert at.query_params["run"] == older.run_id and "seed 1" in at.info[0].value
    at = app("inside_lstm.py", net="stored", run="nope").run()
    assert "`nope`" in at.warning[0].value
    assert at.query_params["run"] == newer.run_id and "seed 2" in at.info[0].value


def test_stored_multi_layer_run_offers_its_layers(app, tmp_path):
    run = _save_trained(tmp_path, layers=2)
    at = app("inside_lstm.py", net="stored", run=run.run_id[:8]).run()
    assert not at.exception and "2-layer LSTM" in at.info[0].value
    layer0 = at.dataframe[0].value.copy()
    at.selectbox(key="inside.layer").set_value(1).run()
    assert not at.exception
    assert not at.dataframe[0].value.equals(layer0)


def test_no_stored_run_says_how_to_get_one(app):
    at = app("inside_lstm.py", net="stored").run()
    assert not at.exception and not at.error
    assert "No stored LSTM run" in at.info[0].value
    assert not at.get("vega_lite_chart")


def test_a_stored_run_name_is_escaped_in_the_sentence_above_the_charts(app, tmp_path):
    run = train(RunConfig(task="adding", seq_len=20, hidden_size=8, steps=4, batch_size=4, record_every=2,
                          eval_size=4))
    run.name = "[click here](http://evil.example)"
    _store(tmp_path).save(run)
    at = app("inside_lstm.py", net="stored").run()
    assert not at.exception
    info = at.info[0].value.replace("\u2060", "")  # the word joiners that keep a URL from being linked
    assert r"Stored run \[click here\]\(http\:" in info and "[click here](" not in info


@pytest.mark.parametrize("cell", ["lstm97", "lstm97fc", "lstm97ig"])
def test_the_lstm_of_1997_shows_its_carousel(app, cell):
    """∂c_t/∂c_{t-1} = 1 in every unit, drawn and stated; with the truncated gradient the error on the cell state is
    carried from the last step to the first unchanged (in HS97's fully connected layer too, and in Experiment 2's
    cell with an input gate only)."""
    at = app("inside_lstm.py", cell=cell, gradient="truncated", T="20", H="4").run()
    assert not at.exception and not at.error
    m = _metrics(at)
    assert m["Mean ∂c_t/∂c_(t−1)"].value == "1.000" and m["Mean ∂c_t/∂c_(t−1)"].label.endswith("all units")
    assert float(m["‖δc_1‖ / ‖δc_T‖"].value) == 1.0
    assert "Mean forget gate" not in m and at.slider(key="inside.fb").disabled
    gates = 2 if cell == "lstm97ig" else 3  # lstm97ig: no output gate
    assert len(at.get("vega_lite_chart")) == 4 + gates  # means, norms, the gates and ∂c_t/∂c_(t-1), cell state
    g = "2\\sigma - 1" if cell == "lstm97ig" else "4\\sigma - 2"
    assert g in at.latex[0].value and "carousel" in at.latex[1].value
    assert ("h_t &= c_t" in at.latex[0].value) == (cell == "lstm97ig")
    assert any(c.value.startswith(f"In code: `{cell}_step_forward`") for c in at.caption)
    assert ("u_{t-1}" in at.latex[0].value) == (cell == "lstm97fc")
    table = at.dataframe[0].value.set_index("gate")
    assert "forget gate f" not in table.index
    assert tuple(table.loc["∂c_t/∂c_{t−1} (carousel)", ["mean", "min", "max"]]) == (1.0, 1.0, 1.0)
    assert "Freshly initialised LSTM 1997" in at.info[0].value and "truncated gradient" in at.info[0].value
    assert at.query_params["cell"] == cell and at.query_params["gradient"] == "truncated"
    # an independent computation: the core's pass on the page's batch, loss at the last step only
    config = RunConfig(cell=cell, gradient="truncated", task="adding", seq_len=20, hidden_size=4)
    x, y = get_task(config).sample(np.random.default_rng(0), 64)
    res = bptt(model_spec(config), initial_params(config), x, y, loss="mse")
    t = at.slider(key="inside.t").value
    assert table.loc["cell state c", "‖δ‖"] == pytest.approx(np.linalg.norm(res.dc[0, -1, 0]), rel=1e-12)
    assert table.loc["cell state c", "‖δ‖"] == pytest.approx(np.linalg.norm(res.dc[0, t - 1, 0]), rel=1e-12)


def test_a_trained_lstm_of_1997(app, tmp_path):
    at = app("inside_lstm.py", cell="lstm97", net="trained", T="20", H="8", steps="100").run()
    assert not at.exception and not at.error
    assert "LSTM 1997" in at.info[0].value and "trained 100 steps" in at.info[0].value
    stored = _store(tmp_path).list(with_params=True)
    assert list(stored["cell"]) == ["lstm97"]
    at = app("inside_lstm.py", net="stored").run()  # a stored LSTM of 1997 is offered too
    assert not at.exception and not at.error
    assert stored["id"][0][:6] in at.selectbox(key="inside.run").options[0]
