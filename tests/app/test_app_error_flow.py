"""AppTest: the Error flow page (tiny configs so each run trains in well under a second)."""

import dataclasses
import shlex

import numpy as np
import pytest
import streamlit as st

from lstmlab.cli import build_parser
from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.store import RunStore
from lstmlab.views import settings

TINY = dict(T="12", H="6", steps="6", batch="8")


def _charts(at):
    return at.get("vega_lite_chart")


def test_runs_and_draws_charts(app):
    at = app("error_flow.py", **TINY).run()
    assert not at.exception
    assert not at.error
    assert len(_charts(at)) >= 4  # lag charts (init, trained), heatmaps, LSTM cell state
    reading = at.info[0].value
    assert "RNN" in reading and "LSTM" in reading
    assert at.query_params["cells"] == "rnn,lstm"


def test_runs_are_saved_to_the_store(app, tmp_path):
    at = app("error_flow.py", **TINY).run()
    assert not at.exception
    listed = RunStore(tmp_path / "runs.db").list()
    assert sorted(listed["cell"]) == ["lstm", "rnn"]


def test_coming_back_shows_the_stored_runs_without_submitting_again(app, tmp_path, monkeypatch):
    at = app("error_flow.py", **TINY).run()
    assert not at.exception and not at.warning
    store = RunStore(tmp_path / "runs.db")
    first = store.list()
    assert sorted(first["cell"]) == ["lstm", "rnn"] and set(first["status"]) == {"finished"}

    submitted = []
    monkeypatch.setattr(jobs, "submit", lambda *a, **k: submitted.append(a))
    monkeypatch.setattr(jobs, "submit_many", lambda *a, **k: submitted.append(a))
    st.cache_data.clear()
    st.cache_resource.clear()  # a restarted server: nothing but the store remembers the runs
    at.run()
    assert not at.exception and not at.warning
    assert submitted == []
    assert sorted(store.list()["id"]) == sorted(first["id"])
    caption = next(c.value for c in at.caption if c.value.startswith("Trained in"))
    for cell, wall in zip(first["cell"], first["wall_time"]):
        assert f"{cell.upper()} {wall:.1f} s" in caption  # the stored runs' own wall times


def test_an_unusable_store_is_named_and_nothing_is_submitted(app, tmp_path, monkeypatch):
    db = tmp_path / "runs.db"
    db.write_bytes(b"this is not sqlite" * 100)
    at = app("error_flow.py", **TINY).run()
    assert not at.exception
    assert len(at.error) == 1 and "The run store cannot be used" in at.error[0].value
    assert not _charts(at)
    db.unlink()  # the store becomes usable: the study is submitted on the next visit
    at.run()
    assert not at.exception and not at.error
    assert sorted(RunStore(db).list()["cell"]) == ["lstm", "rnn"]
    at.run()
    assert len(RunStore(db).list()) == 2


def test_submitting_the_form_changes_result_and_url(app):
    at = app("error_flow.py", **TINY).run()
    before = at.info[0].value
    at.multiselect(key="flow.cells").set_value(["gru"])
    at.slider(key="flow.ws").set_value(1.5)
    at.button[0].click()  # form submit
    at.run()
    assert not at.exception
    assert at.query_params["cells"] == "gru"
    assert at.query_params["ws"] == "1.5"
    after = at.info[0].value
    assert "GRU" in after and after != before


def test_widgets_do_not_apply_until_submitted(app):
    at = app("error_flow.py", **TINY).run()
    at.slider(key="flow.T").set_value(20).run()
    assert at.query_params["T"] == "12"


def test_cached_rerun_returns_same_result(app):
    at = app("error_flow.py", **TINY).run()
    first = at.info[0].value
    at.run()
    assert at.info[0].value == first


def test_bad_query_params_warn(app):
    # not settled: the warnings belong to the first run, before the page puts valid values in the URL
    at = app("error_flow.py", settle=False, cells="rnn,elman", T="-3", ws="nan", H="6", steps="4", batch="4").run()
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "`cells`" in warned and "`T`" in warned and "`ws`" in warned
    # the page put the corrected settings in the URL; a rerun of it (as when its jobs end) keeps the warnings
    at.run()
    assert not at.exception and " ".join(w.value for w in at.warning) == warned


def test_oversized_request_is_refused_with_the_limit_and_cli(app):
    at = app("error_flow.py", T="400", H="128", steps="2000", batch="64").run()
    assert not at.exception
    msg = at.error[0].value
    assert "too large" in msg and "python -m lstmlab run" in msg
    assert not _charts(at)


def _printed_config(message: str, series_file=None):
    """The RunConfig the command printed in ``message`` (between backticks) runs, as `lstmlab run` builds it."""
    command = message.split("`")[1]
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "lstmlab", "run"]
    if series_file is not None:
        argv = [f"@{series_file}" if a == "@FILE" else a for a in argv]
    args = build_parser().parse_args(argv[3:])
    return RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)})


def test_the_printed_command_runs_the_refused_config(app):
    query = dict(cells="gru", task="recall", T="400", H="128", steps="2000", batch="256", ws="0.85",
                 init="gaussian", opt="momentum", lr="0.003", clip="0", seed="7")
    at = app("error_flow.py", **query).run()
    assert not at.exception
    msg = at.error[0].value
    expected = settings.study(settings.parse_params("flow", query)[0]).configs[0]
    printed = _printed_config(msg)
    assert printed.to_dict() == expected.to_dict() and printed.key == expected.key
    assert "--record-every 50" in msg and "--eval-size 64" in msg


def test_the_printed_command_of_an_uploaded_series_reads_it_from_a_file(app, tmp_path):
    query = dict(cells="lstm", task="forecast", T="400", H="128", steps="2000", batch="64")
    at = app("error_flow.py", cells="lstm", task="forecast", **TINY).run()
    series = "\n".join(f"{np.sin(i / 3):.5f}" for i in range(500))
    at.file_uploader(key="forecast.file").set_value(("s.csv", ("y\n" + series).encode(), "text/csv")).run()
    for k, v in query.items():
        at.query_params[k] = v
    at.session_state["_forecast_sig"] = None  # accept the upload again at T=400
    at.run()
    assert not at.exception
    msg = next(e.value for e in at.error if "too large" in e.value)
    assert "--series @FILE" in msg and " to FILE" in msg
    assert r"save the uploaded values (s\.csv\:" in msg.replace("\u2060", "")
    name, values = at.session_state["forecast_series"]
    (tmp_path / "series.txt").write_text("\n".join(repr(v) for v in values))
    expected = settings.study(settings.parse_params("flow", query)[0], values, name).configs[0]
    assert _printed_config(msg, tmp_path / "series.txt").to_dict() == expected.to_dict()


def test_invalid_config_shows_library_message(app):
    # copy needs seq_len >= 21: RunConfig's ValueError is shown, not a traceback
    at = app("error_flow.py", task="copy", T="10", H="4", steps="2", batch="4").run()
    assert not at.exception
    assert "seq_len" in at.error[0].value


def test_no_cell_selected(app):
    at = app("error_flow.py", **TINY).run()
    at.multiselect(key="flow.cells").set_value([])
    at.button[0].click()
    at.run()
    assert not at.exception
    assert "at least one cell" in at.error[0].value


def test_diverged_run_is_reported(app):
    # SGD with momentum at lr 1, no clipping, weight scale 3: the RNN's loss overflows at step 132 of 300
    query = dict(cells="rnn", T="20", H="8", ws="3", opt="momentum", lr="1", clip="0", steps="300", batch="8")
    at = app("error_flow.py", **query).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("**RNN** diverged: diverged at step 132: non-finite loss")
    assert "(training diverged)" in at.info[0].value
    assert at.get("vega_lite_chart")  # the tables up to the diverging step are still drawn


@pytest.mark.parametrize("content, expect", [
    (b"", "empty"),
    (b"a,b\nx,y\nz,w\n", "no numeric column"),
    (b"v\n1\n2\n3\n", "needs at least"),
    (b"v\n" + b"1\n" * 50, "constant"),
    (b"v\n" + b"1.2345678\n" * 250_000, "MB"),
    (b"v\n" + b"1\n" * 100_001, "rows"),
    (b"\xff\xfe\x00bad", "binary file"),
    (b"v\n1\n\"2\n3\n", "never closed"),
    (b",".join(b"1" for _ in range(1_000_000)), "columns"),
    (b"v\n1\nnan\n" + b"1\n" * 40, "NaN or infinite"),
    (b"v\n" + (b"9" * 400 + b"\n") * 30, "float range"),
    (b"v,t\n" + b"".join(f"{(-1) ** i * 1e308!r},{i}\n".encode() for i in range(30)), "z\\-scored"),
])
def test_bad_uploads_show_a_message_and_change_nothing(app, content, expect):
    at = app("error_flow.py", task="forecast", **TINY).run()
    assert not at.exception
    before = at.info[0].value
    at.file_uploader(key="forecast.file").set_value(("series.csv", content, "text/csv")).run()
    assert not at.exception
    assert any(expect in e.value for e in at.error)
    assert at.info[0].value == before
    assert at.session_state["forecast_series"] is None


def test_good_upload_is_used_by_the_forecast_task(app):
    at = app("error_flow.py", task="forecast", **TINY).run()
    synthetic = at.info[0].value
    series = "\n".join(f"{np.sin(i / 3):.5f},{i}" for i in range(200))
    at.file_uploader(key="forecast.file").set_value(("s.csv", ("y,i\n" + series).encode(), "text/csv")).run()
    assert not at.exception and not at.error
    name, values = at.session_state["forecast_series"]
    assert name == "s.csv:y" and len(values) == 200
    assert at.info[0].value != synthetic


@pytest.mark.parametrize("extra", [
    dict(steps="0"),
    dict(layers="2", steps="4"),
    dict(task="recall", steps="4"),
    dict(task="copy", T="25", steps="4"),
    dict(cells="rnn,lstm,gru", init="identity", ws="2.5", steps="4"),
])
def test_settings_variants_draw_without_error(app, extra):
    params = {**TINY, **extra}
    for page in ("error_flow.py", "training.py"):
        at = app(page, **params).run()
        assert not at.exception, (page, extra)
        assert not at.error, (page, [e.value for e in at.error])
        assert at.get("vega_lite_chart")


def test_a_huge_number_in_the_url_falls_back_to_the_default(app):
    at = app("error_flow.py", settle=False, **{**TINY, "T": "9" * 309}).run()  # the first run warns
    assert not at.exception
    assert any("`T`" in w.value and "outside" in w.value for w in at.warning)
    assert at.query_params["T"] == "100"


def test_an_uploaded_file_name_is_escaped(app):
    at = app("error_flow.py", task="forecast", **TINY).run()
    name = "![px](http:⁄⁄evil.example⁄p.png)[click](http:⁄⁄evil.example).csv"
    at.file_uploader(key="forecast.file").set_value((name, b"", "text/csv")).run()
    assert not at.exception
    assert "![px](" not in at.error[0].value and r"\!\[px\]\(" in at.error[0].value
    series = "\n".join(f"{np.sin(i / 3):.5f}" for i in range(200))
    at.file_uploader(key="forecast.file").set_value((name, ("y\n" + series).encode(), "text/csv")).run()
    assert not at.exception and not at.error
    using = next(c.value for c in at.caption if c.value.startswith("Using"))
    assert "![px](" not in using and r"\!\[px\]\(" in using


@pytest.mark.parametrize("cell", ["lstm97", "lstm97fc", "lstm97ig"])
def test_the_lstm_of_1997_with_its_truncated_gradient_shows_the_carousel(app, tmp_path, cell):
    """LSTM 1997 beside the ReLU and logistic RNNs: each trained with the truncated gradient; the LSTM of 1997 gets
    its cell-state section with the carousel's equation, and its error on the cell state is the same at every lag."""
    at = app("error_flow.py", cells=f"rnn_relu,rnn_logistic,{cell}", gradient="truncated", init="irnn",
             **TINY).run()
    assert not at.exception and not at.error
    listed = RunStore(tmp_path / "runs.db").list()
    assert sorted(listed["cell"]) == [cell, "rnn_logistic", "rnn_relu"]
    assert at.query_params["gradient"] == "truncated"
    assert [h.value for h in at.subheader if "carries" in h.value] == [
        f"{settings.CELL_LABELS[cell]}: the cell state carries the error"]
    assert any("\\frac{\\partial c_t}{\\partial c_{t-1}}" in x.value and "= I" in x.value for x in at.latex)
    assert "ReLU RNN" in at.info[0].value and "Logistic RNN" in at.info[0].value
    run = RunStore(tmp_path / "runs.db").load(listed[listed["cell"] == cell]["id"].iloc[0])
    assert run.config.gradient == "truncated"
    for step, flow in run.flow.groupby("step"):  # with the loss at the last step only, dc never changes
        assert flow["dc_norm"].nunique() == 1 and (flow["dh_norm"][flow["lag"] > 0] == 0).all(), step
