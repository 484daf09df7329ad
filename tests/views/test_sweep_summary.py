"""lstmlab.views.sweep_summary: verdicts over (cell, seq_len, weight_scale), medians over seeds, longest length solved."""

import io
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lstmlab.core.config import RunConfig
from lstmlab.views import export
from lstmlab.views.sweep_summary import longest_solved, run_outcomes, summarise

BASELINE = 1 / 6  # the adding problem's input-blind predictor


def _run(cell, T, w, seed, loss, status="finished", ratio=0.5):
    """A run as the store hands it back, with its last held-out loss and last first-step ratio."""
    config = RunConfig(cell=cell, seq_len=T, weight_scale=w, seed=seed, steps=20, record_every=10)
    last = [] if loss is None else [(0, 0.3), (20, loss)]
    ev = pd.DataFrame(last, columns=["step", "loss"]).assign(metric=0.0)
    flow = pd.DataFrame({"step": [20, 20], "layer": [0, 0], "t": [1, T], "lag": [T - 1, 0],
                         "dh_norm": [ratio, 1.0]}) if last else pd.DataFrame(columns=["step", "layer", "t", "dh_norm"])
    return SimpleNamespace(run_id=f"{cell}{T}{w}{seed}", config=config, status=status, eval=ev, flow=flow,
                           steps=pd.DataFrame({"step": range(1, 21 if last else 1)}))


RUNS = [
    _run("lstm", 50, 1.0, 0, 0.001), _run("lstm", 50, 1.0, 1, 0.002), _run("lstm", 50, 1.0, 2, 0.2),
    _run("lstm", 50, 0.5, 0, 0.0005), _run("lstm", 50, 0.5, 1, 0.001),
    _run("lstm", 100, 1.0, 0, 0.1), _run("lstm", 100, 1.0, 1, 0.15), _run("lstm", 100, 1.0, 2, 0.3, "diverged"),
    _run("rnn", 50, 1.0, 0, 0.16, ratio=1e-9), _run("rnn", 50, 1.0, 1, 0.17, ratio=3e-9),
    _run("rnn", 10, 1.0, 0, 0.001), _run("rnn", 10, 1.0, 1, 0.003, "stopped"),
    _run("gru", 50, 1.0, 0, 0.001), _run("gru", 50, 1.0, 1, None, "running"),
]


def test_outcomes_name_each_run_and_count_a_diverged_run_as_unsolved():
    out = run_outcomes(RUNS)
    assert len(out) == len(RUNS)
    div = out[out["status"] == "diverged"].iloc[0]
    assert div["eval_loss"] == math.inf and div["solved"] is not None and not div["solved"]
    running = out[out["status"] == "running"].iloc[0]
    assert math.isnan(running["eval_loss"]) and running["solved"] is None
    assert out.loc[out["run_id"] == "rnn501.00", "first_step_ratio"].iloc[0] == pytest.approx(1e-9)
    assert out["baseline"].to_numpy() == pytest.approx([BASELINE] * len(RUNS))


def test_summary_medians_spreads_and_verdicts_per_grid_cell():
    s = summarise(run_outcomes(RUNS)).set_index(["cell", "seq_len", "weight_scale"])
    assert list(dict.fromkeys(s.index.get_level_values(0))) == ["rnn", "lstm", "gru"]  # the lab's cell order
    a = s.loc[("lstm", 50, 1.0)]
    assert a["runs"] == 3 and a["done"] == 3 and a["solved_runs"] == 2
    assert a["eval_loss_median"] == pytest.approx(0.002) and a["eval_loss_min"] == 0.001 and a["eval_loss_max"] == 0.2
    assert a["loss_over_baseline"] == pytest.approx(0.012) and a["verdict"] == "solved"
    b = s.loc[("lstm", 100, 1.0)]
    assert b["eval_loss_median"] == pytest.approx(0.15) and b["eval_loss_max"] == math.inf
    assert b["verdict"] == "unsolved" and b["solved_runs"] == 0
    r = s.loc[("rnn", 50, 1.0)]
    assert r["verdict"] == "unsolved" and r["first_step_ratio_median"] == pytest.approx(2e-9)
    assert s.loc[("rnn", 10, 1.0), "verdict"] == "solved"  # a stopped run counts with the network it reached
    g = s.loc[("gru", 50, 1.0)]
    assert g["verdict"] == "pending" and g["done"] == 1 and g["runs"] == 2


def test_longest_solved_per_cell_with_the_best_weight_scale():
    longest = longest_solved(summarise(run_outcomes(RUNS))).set_index("cell")
    assert longest.loc["lstm", "longest_solved"] == 50 and longest.loc["lstm", "weight_scale"] == 0.5
    assert longest.loc["lstm", "eval_loss_median"] == pytest.approx(0.00075)
    assert longest.loc["lstm", "longest_tried"] == 100
    assert longest.loc["rnn", "longest_solved"] == 10 and longest.loc["rnn", "longest_tried"] == 50
    assert longest.loc["gru", "longest_solved"] == 0 and math.isnan(longest.loc["gru", "weight_scale"])


def test_summary_csv_round_trips_and_neutralises_text():
    s = summarise(run_outcomes(RUNS))
    text = export.frame_csv(s)
    back = pd.read_csv(io.StringIO(text))
    assert list(back.columns) == list(s.columns) and len(back) == len(s)
    np.testing.assert_allclose(back["eval_loss_median"], s["eval_loss_median"])
    assert "\r\n" in text
    assert export.frame_csv(pd.DataFrame({"cell": ["=1+1"]})).splitlines()[1] == "'=1+1"
