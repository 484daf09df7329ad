"""lstmlab.views.tables: long tables for the charts, log-safe values and thinning."""

import math

import numpy as np
import pandas as pd
import pytest

from lstmlab.views import tables


def test_long_tables_are_thinned_by_one_helper_keeping_both_ends():
    assert tables.even_index(5, 10).tolist() == [0, 1, 2, 3, 4]
    idx = tables.even_index(1001, 7)
    assert idx[0] == 0 and idx[-1] == 1000 and len(idx) == 7 and (np.diff(idx) > 0).all()
    n = 2000
    steps = pd.DataFrame({"step": np.arange(1, n + 1), "loss": np.linspace(1, 0.1, n), "metric": 0.5,
                          "grad_norm": 1.0, "clipped": False, "gnorm:l0.Wh": 1.0, "sigma_max:l0": 1.0})
    for long in (tables.training_long({"a": steps}, {"a": steps.iloc[:0]}, "loss", max_points=50),
                 tables.gradnorm_long({"a": steps}, max_points=50), tables.melt_prefixed(steps, "gnorm:", 50),
                 tables.series_long({"a": steps}, ["sigma_max:l0"], max_points=50)):
        assert set(long["step"]) >= {1, n} and long["step"].nunique() <= 50
    grid = tables.grid_long(np.arange(300 * 100.0).reshape(300, 100), "r", "c", max_rows=20, max_cols=10)
    assert grid["r"].nunique() == 20 and grid["c"].nunique() == 10 and grid["r"].max() == 299


def test_log_safe_marks_what_a_log_axis_cannot_draw():
    df = tables.log_safe(pd.DataFrame({"v": [1e-3, 0.0, np.inf, np.nan, 10.0]}), "v")
    assert list(df["state_v"]) == [tables.OK, tables.VANISHED, tables.OVERFLOW, tables.NAN, tables.OK]
    assert (df["plot_v"] > 0).all()
    assert df["plot_v"].iloc[1] == 1e-4 and df["plot_v"].iloc[2] == 100.0  # a decade outside the data


def test_power_table_is_w_to_the_k():
    df = tables.power_table(0.5, 4)
    assert list(df["value"]) == [1.0, 0.5, 0.25, 0.125, 0.0625] and list(df["k"]) == [0, 1, 2, 3, 4]


def test_lstm_cell_lines_name_the_last_recording_by_whether_the_run_still_trains():
    flow = pd.DataFrame({"step": np.repeat([0, 25], 3), "layer": 0, "lag": np.tile([0, 1, 2], 2),
                         "dh_norm": [1.0, 0.5, 0.25, 1.0, 0.9, 0.8], "dc_norm": [2.0, 1.0, 0.5, 2.0, 1.9, 1.8]})
    ended = tables.lstm_cell_lines(flow)
    live = tables.lstm_cell_lines(flow, training=True)
    assert sorted(set(ended["phase"])) == ["after training (25 steps)", "at initialisation"]
    assert sorted(set(live["phase"])) == ["at initialisation", "latest recording (25 steps)"]
    cell_late = live[(live["phase"] == "latest recording (25 steps)") & live["quantity"].str.contains("cell")]
    assert cell_late.sort_values("lag")["value"].tolist() == [2.0, 1.9, 1.8]


def test_heatmap_table_bins_every_recording_like_a_plain_loop():
    """Binned log10 geometric means and states against a row-by-row computation, with zeros, inf and NaN in the
    flow, thinned steps and log-spaced lag bins."""
    rng = np.random.default_rng(5)
    T, recorded = 40, list(range(0, 300, 10))
    rows = [(s, 0, T - lag, lag, v) for s in recorded for lag in range(T)
            for v in [float(10.0 ** rng.uniform(-30, 3))]]
    flow = pd.DataFrame(rows, columns=["step", "layer", "t", "lag", "dh_norm"])
    steps = tables.thin_steps(recorded, 8)
    bins = tables.lag_bins(T, 12)
    assert len(steps) == 8 and len(bins) < T
    flow.loc[(flow["step"] == steps[1]) & (flow["lag"] >= bins[-2][0]), "dh_norm"] = 0.0  # two vanished bins
    flow.loc[(flow["step"] == steps[2]) & (flow["lag"] == 35), "dh_norm"] = np.inf
    flow.loc[(flow["step"] == steps[3]) & (flow["lag"] == 3), "dh_norm"] = np.nan
    flow.loc[(flow["step"] == steps[4]) & (flow["lag"] == 31), "dh_norm"] = 0.0  # a zero among positives: left out
    flow.loc[(flow["step"] == steps[5]) & (flow["lag"] == 33), "dh_norm"] = np.nan  # a bin with NaN and inf: NaN
    flow.loc[(flow["step"] == steps[5]) & (flow["lag"] == 34), "dh_norm"] = np.inf
    got = tables.heatmap_table({"RNN": flow}, max_lags=12, max_steps=8)
    assert set(got["state"]) == {tables.OK, tables.VANISHED, tables.OVERFLOW, tables.NAN}
    assert list(got["step"].unique()) == steps and len(got) == len(steps) * len(bins)
    for (s, lo, hi), row in zip([(s, a, b) for s in steps for a, b in bins], got.itertuples()):
        assert (row.step, row.lag_lo, row.lag_hi) == (s, lo, hi)
        v = [float(x) for x in flow[(flow["step"] == s) & (flow["lag"] >= lo) & (flow["lag"] < hi)]["dh_norm"]]
        if any(math.isnan(x) for x in v):
            want = (tables.NAN, None)
        elif any(math.isinf(x) for x in v):
            want = (tables.OVERFLOW, None)
        elif not any(x > 0 for x in v):
            want = (tables.VANISHED, None)
        else:
            logs = [math.log10(x) for x in v if x > 0]
            want = (tables.OK, sum(logs) / len(logs))
        assert row.state == want[0], (s, lo)
        if want[1] is None:
            assert math.isnan(row.log10) and math.isnan(row.value), (s, lo, want)
        else:
            assert row.log10 == pytest.approx(want[1], rel=1e-12, abs=1e-12), (s, lo)
            assert row.value == pytest.approx(10.0 ** want[1], rel=1e-11)
