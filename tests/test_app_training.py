"""AppTest: the Training page."""

TINY = dict(T="12", H="6", steps="8", batch="8")


def test_runs_and_draws_curves(app):
    at = app("training.py", **TINY).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) >= 6
    labels = [m.label for m in at.metric]
    assert labels == ["RNN: held-out loss", "LSTM: held-out loss"]


def test_form_changes_result(app):
    at = app("training.py", **TINY).run()
    before = [m.value for m in at.metric]
    at.number_input(key="training.seed").set_value(3)
    at.button[0].click()
    at.run()
    assert not at.exception
    assert at.query_params["seed"] == "3"
    assert [m.value for m in at.metric] != before


def test_error_flow_study_carries_over(app):
    at = app("error_flow.py", cells="gru", **TINY).run()
    assert not at.exception
    at.query_params.clear()
    at.switch_page("pages/training.py").run()
    assert not at.exception
    assert [m.label for m in at.metric] == ["GRU: held-out loss"]


def test_bad_query_params_warn(app):
    at = app("training.py", steps="lots", opt="rmsprop", **{k: v for k, v in TINY.items() if k != "steps"}).run()
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "`steps`" in warned and "`opt`" in warned


def test_baselines_and_sigma_max_are_named_for_what_they_are(app):
    at = app("training.py", task="forecast", **TINY).run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "dashed: window-mean predictor" in text and "input-blind" not in text
    assert "Largest singular value of W_h's gate blocks" in text
    assert any("orthogonal or identity init" in c.value for c in at.caption)
    specs = " ".join(c.proto.spec for c in at.get("vega_lite_chart"))
    assert "of W_h's gate blocks" in specs

    at = app("training.py", task="adding", **TINY).run()
    assert "dashed: input-blind predictor" in " ".join(m.value for m in at.markdown)


def test_network_sentence_names_the_tasks_baseline_predictor():
    from lstmlab.config import RunConfig
    from lstmlab.train import train
    from lstmlab.ui import runs

    for task, name in (("forecast", "window-mean predictor"), ("adding", "input-blind predictor")):
        config = RunConfig(task=task, seq_len=12, hidden_size=4, steps=2, batch_size=4, record_every=1,
                           eval_size=4)
        text = runs.network_text(config, train(config))
        assert f"({name}: " in text and text.count("input-blind") == (task == "adding")


def test_error_flow_names_the_reference_line(app):
    at = app("error_flow.py", cells="rnn", **TINY).run()
    assert not at.exception
    specs = " ".join(c.proto.spec for c in at.get("vega_lite_chart"))
    assert "w^lag, w = initial weight scale" in specs and "RNN envelope" not in specs
    assert any("initial weight scale" in c.value and "gaussian" in c.value for c in at.caption)


def test_long_tables_are_thinned_by_one_helper_keeping_both_ends():
    import numpy as np
    import pandas as pd

    from lstmlab.ui import shaping

    assert shaping.even_index(5, 10).tolist() == [0, 1, 2, 3, 4]
    idx = shaping.even_index(1001, 7)
    assert idx[0] == 0 and idx[-1] == 1000 and len(idx) == 7 and (np.diff(idx) > 0).all()
    n = 2000
    steps = pd.DataFrame({"step": np.arange(1, n + 1), "loss": np.linspace(1, 0.1, n), "metric": 0.5,
                          "grad_norm": 1.0, "clipped": False, "gnorm:l0.Wh": 1.0, "sigma_max:l0": 1.0})
    for long in (shaping.training_long({"a": steps}, {"a": steps.iloc[:0]}, "loss", max_points=50),
                 shaping.gradnorm_long({"a": steps}, max_points=50), shaping.melt_prefixed(steps, "gnorm:", 50),
                 shaping.series_long({"a": steps}, ["sigma_max:l0"], max_points=50)):
        assert set(long["step"]) >= {1, n} and long["step"].nunique() <= 50
    grid = shaping.grid_long(np.arange(300 * 100.0).reshape(300, 100), "r", "c", max_rows=20, max_cols=10)
    assert grid["r"].nunique() == 20 and grid["c"].nunique() == 10 and grid["r"].max() == 299
