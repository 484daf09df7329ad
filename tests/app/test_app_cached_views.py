"""A cached view draws charts built once per key for every session (lstmlab.ui.cached.chart): the chart builders are
not called again, and what is drawn equals what st.altair_chart draws of a freshly built chart."""

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lstmlab.store import RunStore
from lstmlab.training.train import train
from lstmlab.ui import charts
from lstmlab.views import settings, tables

TINY = dict(T="12", H="6", steps="6", batch="8")
FLOW_BUILDERS = ("flow_lag_chart", "flow_heatmap", "cell_state_chart")


def _drawn(at) -> list[tuple]:
    """(spec, datasets, theme) of every chart the last run drew, in order."""
    return [(c.proto.spec, [(d.name, d.data.data) for d in c.proto.datasets], c.proto.theme)
            for c in at.get("vega_lite_chart")]


@pytest.fixture
def counted(monkeypatch):
    """Calls of chart builders and chart tables, by name, as the pages make them."""
    calls = {}

    def count(module, name):
        real = getattr(module, name)

        def wrapper(*a, **k):
            calls[name] = calls.get(name, 0) + 1
            return real(*a, **k)

        monkeypatch.setattr(module, name, wrapper)

    for name in (*FLOW_BUILDERS, "training_chart", "prefixed_chart", "gradnorm_chart"):
        count(charts, name)
    for name in ("flow_lines", "heatmap_table", "training_long"):
        count(tables, name)
    return calls


def test_a_cached_view_builds_no_chart_and_draws_the_fresh_build(app, counted):
    at = app("error_flow.py", **TINY).run()
    assert not at.exception
    first = _drawn(at)
    assert len(first) == 5 and all(counted[name] for name in FLOW_BUILDERS)  # 2 lag charts, 2 heatmaps, cell state

    counted.clear()
    at.run()
    other = app("error_flow.py", **TINY).run()  # another session: the same server process, the same charts
    assert not at.exception and not other.exception
    assert counted == {}
    assert _drawn(at) == first and _drawn(other) == first

    st.cache_data.clear()  # built afresh: the same charts
    at.run()
    assert counted["flow_lag_chart"] == 2 and counted["heatmap_table"] == 1
    assert _drawn(at) == first


def test_other_settings_build_other_charts(app, counted):
    at = app("training.py", **TINY).run()
    assert not at.exception
    counted.clear()
    lstm_only = app("training.py", cells="lstm", **TINY).run()  # the study's LSTM run alone: other charts
    assert not lstm_only.exception
    assert counted["training_chart"] == 2 and counted["gradnorm_chart"] == 1
    assert _drawn(lstm_only) != _drawn(at)
    counted.clear()
    at.run()
    assert counted == {}


def test_a_run_in_flight_is_redrawn_when_it_records(app, counted, tmp_path):
    """The test plays the worker: the page draws a running run's records as they are appended, rebuilding its charts
    only when a record arrived."""
    values, _ = settings.parse_params("flow", dict(cells="lstm", **TINY) | {"steps": "8"})
    config = settings.study(values).configs[0]
    records = []
    run = train(config, on_record=records.append)
    assert len(records) >= 3
    store = RunStore(tmp_path / "runs.db")
    run_id, attempt, _ = store.queue(config)
    store.start(run_id, attempt)
    store.append(run_id, attempt, records[0])
    store.append(run_id, attempt, records[1])

    at = app("error_flow.py", settle=False, cells="lstm", **TINY | {"steps": "8"}).run()
    assert not at.exception
    heatmap_steps = lambda: int(next(c for c in at.caption if "recordings" in c.value).value  # noqa: E731
                                .split(" recordings")[0].split()[-1])
    assert heatmap_steps() == 2
    drawn, built = _drawn(at), counted["flow_heatmap"]

    at.run()  # nothing new: nothing rebuilt
    assert counted["flow_heatmap"] == built and _drawn(at) == drawn

    store.append(run_id, attempt, records[2])
    at.run()
    assert counted["flow_heatmap"] == built + 1 and heatmap_steps() == 3 and _drawn(at) != drawn

    store.finish(run_id, attempt, run)
    at.run()
    assert not at.exception
    assert heatmap_steps() == len(records)
    assert any(c.value.startswith("Trained in") for c in at.caption)


def _both_ways():
    """A script drawing each chart twice: with st.altair_chart, and through lstmlab.ui.cached.chart."""
    import streamlit as st

    from lstmlab.ui import cached, charts
    from lstmlab.views import probes, tables

    built = {
        "power": lambda: charts.power_chart(tables.power_table(1.2, 300), 1.2),  # exploding: state markers
        "phase map": lambda: charts.phase_map_chart(probes.phase_map(["rnn", "lstm"], [0.5, 1.5], [10, 20], 4,
                                                                     "orthogonal", 1.0, 0), "LSTM"),
    }
    for name, build in built.items():
        st.altair_chart(build(), width="content")
        cached.chart(st, name, 0, build, width="content")


def test_the_cached_spec_is_what_altair_chart_draws():
    at = AppTest.from_function(_both_ways, default_timeout=120).run()
    assert not at.exception
    drawn = _drawn(at)
    assert len(drawn) == 4
    assert drawn[0] == drawn[1] and drawn[2] == drawn[3]
    assert drawn[0] != drawn[2]
    assert '"LSTM"' in drawn[2][0] and drawn[2][1]  # a phase map's panel, its data in Arrow datasets
    assert all(theme == "streamlit" for _, _, theme in drawn)


@pytest.mark.usefixtures("app")  # $LSTMLAB_DB in tmp_path, empty caches
def test_refreshes_share_one_reading_of_a_running_run_per_interval(tmp_path):
    """A page run reads the store now; refreshes (shared=True) share one reading per LIVE_REFRESH_S among every
    session, so sessions watching a run in flight rebuild its charts once per interval, not once per refresh each."""
    import time

    from lstmlab.ui import live
    from lstmlab.views import limits as L

    values, _ = settings.parse_params("flow", dict(cells="lstm", **TINY) | {"steps": "8"})
    config = settings.study(values).configs[0]
    records = []
    train(config, on_record=records.append)
    store = RunStore(tmp_path / "runs.db")
    run_id, attempt, _ = store.queue(config)
    store.start(run_id, attempt)
    store.append(run_id, attempt, records[0])
    ids = {"LSTM": run_id}

    t0 = time.monotonic()
    first = live.load_runs(ids, shared=True)["LSTM"]
    store.append(run_id, attempt, records[1])
    again = live.load_runs(ids, shared=True)["LSTM"]
    now = live.load_runs(ids)["LSTM"]
    assert time.monotonic() - t0 < L.LIVE_REFRESH_S  # the shared reading cannot have expired yet
    assert len(first.eval) == len(again.eval) == 1  # the shared reading: the state before the append
    assert len(now.eval) == 2  # a page run's own reading
    time.sleep(L.LIVE_REFRESH_S * 1.1)
    assert len(live.load_runs(ids, shared=True)["LSTM"].eval) == 2  # the next interval's reading
    store.fail(run_id, attempt, "the test is over")  # no run left in flight for the fixture's teardown to wait on
