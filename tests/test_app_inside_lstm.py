"""AppTest: the Inside the LSTM page."""


def test_draws_gates_and_equations(app):
    at = app("inside_lstm.py", T="20", H="4").run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 7  # means, norms, four gates, cell state
    assert len(at.latex) == 2
    table = at.dataframe[0].value
    assert list(table["gate"])[:2] == ["input gate i", "forget gate f"]


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


def test_bad_query_params_warn(app):
    at = app("inside_lstm.py", T="0", task="forecast", ex="-1").run()
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "`T`" in warned and "`task`" in warned and "`ex`" in warned
