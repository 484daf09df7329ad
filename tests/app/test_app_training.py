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
    at = app("training.py", settle=False, steps="lots", opt="adagrad",  # the first run warns
             **{k: v for k, v in TINY.items() if k != "steps"}).run()
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


def test_error_flow_names_the_reference_line(app):
    at = app("error_flow.py", cells="rnn", **TINY).run()
    assert not at.exception
    specs = " ".join(c.proto.spec for c in at.get("vega_lite_chart"))
    assert "w^lag, w = initial weight scale" in specs and "RNN envelope" not in specs
    assert any("initial weight scale" in c.value and "gaussian" in c.value for c in at.caption)


def test_a_paper_task_trains_and_draws_against_its_papers_baseline(app):
    at = app("training.py", task="pmb13-addition", T="10", H="6", steps="8", batch="8").run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["RNN: held-out loss", "LSTM: held-out loss"]
    assert all("Baseline 0.04167" in m.help for m in at.metric)  # PMB13 addition: the constant 0.5, MSE 1/24
    text = " ".join(m.value for m in at.markdown)
    assert "dashed: constant 0.5" in text and "**Correct**" in text
    assert all("correct:" in c.value and "(chance 0.64)" in c.value for c in at.caption if "correct:" in c.value)
    assert sum("correct:" in c.value for c in at.caption) == 2
    assert len(at.get("vega_lite_chart")) >= 6
    assert at.selectbox(key="training.task").value == "pmb13-addition"  # the form shows the study it drew
