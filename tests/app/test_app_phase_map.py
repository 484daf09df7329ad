"""AppTest: the Phase map page."""

import json

from lstmlab.core.config import CELLS
from lstmlab.views import limits, probes, settings

SMALL = dict(nw="3", nT="2", Tmax="20", H="4")


def test_draws_map_and_spectrum(app):
    at = app("phase_map.py", **SMALL).run()
    assert not at.exception and not at.error
    specs = at.get("vega_lite_chart")
    assert len(specs) == len(settings.PHASE_CELLS) + 1  # a panel per cell (RNN, LSTM, GRU by default), the spectrum
    assert all("redblue" in s.proto.spec for s in specs[:-1]) and "singular value" in specs[-1].proto.spec


def test_every_cell_gets_a_panel_and_the_lstm_of_1997_its_carousel_line(app):
    at = app("phase_map.py", cells=",".join(CELLS), wmin="0.5", wmax="2.5", **{**SMALL, "nw": "2"}).run()
    assert not at.exception and not at.error
    specs = at.get("vega_lite_chart")
    assert len(specs) == len(CELLS) + 1
    titles = [json.loads(s.proto.spec)["title"] for s in specs[:-1]]
    assert titles == [settings.CELL_LABELS[c] for c in CELLS]
    at.selectbox(key="phase.spec_cell").set_value("lstm97").run()
    assert not at.exception
    assert probes.CAROUSEL in at.get("vega_lite_chart")[-1].proto.spec


def test_form_changes_result(app):
    at = app("phase_map.py", **SMALL).run()
    before = at.get("vega_lite_chart")[0].proto.spec
    at.slider(key="phase.wmax").set_value(2.5)
    at.button[0].click()
    at.run()
    assert not at.exception
    assert at.query_params["wmax"] == "2.5"
    assert at.get("vega_lite_chart")[0].proto.spec != before


def test_spectrum_controls_change_result(app):
    at = app("phase_map.py", **SMALL).run()
    before = at.get("vega_lite_chart")[-1].proto.spec
    at.selectbox(key="phase.spec_cell").set_value("lstm").run()
    assert not at.exception
    assert at.get("vega_lite_chart")[-1].proto.spec != before


def test_inverted_range_is_refused(app):
    at = app("phase_map.py", wmin="2", wmax="1", nw="3", nT="2", Tmax="20", H="4").run()
    assert not at.exception
    assert "must be below" in at.error[0].value


def test_bad_query_params_warn(app):
    at = app("phase_map.py", nw="1000", cells="lstm,transformer", nT="2", Tmax="20", H="4").run()
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "`nw`" in warned and "`cells`" in warned


def test_no_dead_work_limit_the_controls_cannot_reach():
    assert not hasattr(limits, "PHASE_MAX_WORK") and not hasattr(limits, "phase_work")
    fields = {f.name: f for f in settings.FIELDS["phase"]}
    largest = len(CELLS) * fields["nw"].hi * fields["Tmax"].hi * fields["H"].hi * limits.PHASE_BATCH
    assert largest == 40_960_000  # the figure the comment in limits.py quotes
