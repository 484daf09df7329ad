"""analysis.recovery and its sentence: the collapse and recovery of the error reaching t = 1."""

import math

import pandas as pd
import pytest

from lstmlab.core.analysis import recovery, task_info
from lstmlab.core.config import RunConfig
from lstmlab.training.train import train
from lstmlab.views import text

BASELINE = 1 / 6


def _tables(steps, ratios, losses, T=4):
    """Flow rows whose ||dL/dh_1|| / ||dL/dh_T|| is ``ratios[k]`` at ``steps[k]`` (the last norm is 2), and the
    eval rows with those held-out losses."""
    rows = []
    for s, r in zip(steps, ratios):
        for t in range(1, T + 1):
            rows.append({"step": s, "layer": 0, "t": t, "lag": T - t,
                         "dh_norm": 2.0 * r if t == 1 else (2.0 if t == T else 0.5)})
    ev = pd.DataFrame({"step": steps, "loss": losses, "metric": losses})
    return pd.DataFrame(rows), ev


def test_collapse_then_recovery_with_the_loss_leaving_the_baseline():
    steps = [0, 100, 200, 300, 400, 500, 600]
    flow, ev = _tables(steps, [3e-3, 1e-6, 3e-9, 5e-9, 2e-9, 0.16, 0.2],
                       [0.2, 0.19, 0.18, 0.17, 0.16, 0.05, 0.001])
    rec = recovery(flow, ev, BASELINE)
    assert rec.initial_ratio == pytest.approx(3e-3)
    assert rec.collapse_ratio == pytest.approx(2e-9) and rec.collapse_step == 200  # first within a decade of 2e-9
    assert rec.recovery_step == 500 and rec.recovery_ratio == pytest.approx(0.16)
    assert rec.left_baseline_step == 500 and rec.left_baseline_loss == pytest.approx(0.05)
    said = text.recovery_text("LSTM", rec)
    assert said == ("The LSTM's error reaching t = 1 collapsed to 2.0e-09 by step 200 and recovered to 0.16 at "
                    "step 500, when its held-out loss fell below half the baseline (0.05 against 0.167).")


def test_recovery_is_the_first_recording_back_at_one_percent():
    steps = [0, 10, 20, 30, 40]
    flow, ev = _tables(steps, [1e-2, 1e-6, 5e-4, 2e-2, 0.1], [0.2, 0.2, 0.1, 0.01, 0.001])
    rec = recovery(flow, ev, BASELINE)
    assert rec.collapse_step == 10 and rec.collapse_ratio == pytest.approx(1e-6)
    assert rec.recovery_step == 30 and rec.recovery_ratio == pytest.approx(2e-2)  # 5e-4 is not back
    assert rec.left_baseline_step == 30  # 0.1 is above half the baseline 1/6, 0.01 below
    flow, ev = _tables(steps, [1e-2, 1e-6, 5e-4, 2e-2, 0.1], [0.2, 0.2, 0.1, 0.1, 0.001])
    rec = recovery(flow, ev, BASELINE)
    assert rec.left_baseline_step == 40
    assert text.recovery_text("LSTM", rec).endswith(
        "recovered to 0.02 at step 30; its held-out loss fell below half the baseline (0.001 against 0.167) at "
        "step 40.")


def test_a_climb_that_stays_below_one_percent_is_no_recovery():
    # three decades up from 1e-12 and above the start: an RNN wandering at the bottom
    flow, ev = _tables([0, 10, 20, 30], [1e-6, 1e-9, 1e-12, 1e-5], [0.2, 0.17, 0.17, 0.17])
    rec = recovery(flow, ev, BASELINE)
    assert rec.collapse_ratio == pytest.approx(1e-12) and rec.collapse_step == 20 and rec.recovery_step is None
    assert text.recovery_text("RNN", rec).endswith("and has not recovered.")


def test_a_ratio_that_never_collapses_has_no_recovery():
    flow, ev = _tables([0, 10, 20], [0.5, 0.2, 0.8], [0.2, 0.1, 0.05])
    assert recovery(flow, ev, BASELINE) is None
    flow, ev = _tables([0, 10, 20], [0.5, 6e-3, 0.8], [0.2, 0.1, 0.05])  # 1.9 decades: not a collapse
    assert recovery(flow, ev, BASELINE) is None


def test_a_collapse_without_recovery_and_a_vanished_ratio():
    flow, ev = _tables([0, 10, 20, 30], [1e-3, 1e-7, 0.0, 1e-9], [0.17, 0.17, 0.17, 0.17])
    rec = recovery(flow, ev, BASELINE)
    assert rec.collapse_ratio == 0.0 and rec.collapse_step == 20
    assert rec.recovery_step is None and math.isnan(rec.recovery_ratio) and rec.left_baseline_step is None
    said = text.recovery_text("RNN", rec)
    assert said == "The RNN's error reaching t = 1 collapsed to 0 (vanished) by step 20 and has not recovered."


def test_undefined_ratios_are_skipped_and_an_undefined_start_reads_nothing():
    flow, ev = _tables([0, 10, 20, 30], [1e-2, 1e-8, math.nan, 0.5], [0.2, 0.2, 0.2, 0.01])
    rec = recovery(flow, ev, BASELINE)
    assert rec.recovery_step == 30 and rec.left_baseline_step == 30
    flow, ev = _tables([0, 10], [math.nan, 1e-9], [0.2, 0.2])
    assert recovery(flow, ev, BASELINE) is None
    flow, ev = _tables([0, 10], [0.0, 1e-9], [0.2, 0.2])  # nothing to fall from
    assert recovery(flow, ev, BASELINE) is None


@pytest.fixture(scope="module")
def lstm_run():
    """A short real run in which an LSTM learns the adding problem at T = 50 (recovery near step 380)."""
    return train(RunConfig(cell="lstm", seq_len=50, hidden_size=8, batch_size=32, steps=400, record_every=10,
                           eval_size=64))


def test_a_real_lstm_run_collapses_then_recovers_as_it_learns(lstm_run):
    run, T = lstm_run, lstm_run.config.seq_len
    baseline = task_info(run.config)["baseline"]
    rec = recovery(run.flow, run.eval, baseline)
    # the ratio at every recording, read straight from the flow rows
    f = run.flow[run.flow["layer"] == 0]
    r = f[f["t"] == 1].set_index("step")["dh_norm"] / f[f["t"] == T].set_index("step")["dh_norm"]
    loss = run.eval.set_index("step")["loss"]
    assert rec.initial_ratio == r.iloc[0]
    assert r.min() < r.iloc[0] / 100  # it did collapse by two decades
    assert rec.recovery_step is not None and 100 < rec.recovery_step <= 400
    assert rec.collapse_ratio == r.min() and rec.collapse_step == r[r <= 10 * r.min()].index[0]
    climb = r.loc[r.idxmin():].iloc[1:]
    assert rec.recovery_ratio == r.loc[rec.recovery_step] >= 1e-2
    assert (climb.loc[: rec.recovery_step].iloc[:-1] < 1e-2).all()
    assert loss.loc[rec.left_baseline_step] < baseline / 2
    assert (loss.loc[: rec.left_baseline_step].iloc[:-1] >= baseline / 2).all()
    assert abs(rec.left_baseline_step - rec.recovery_step) <= 50  # the error reaches t = 1 as the task is learned
    said = text.reading({"LSTM": run.flow}, recoveries={"LSTM": rec})
    assert f"recovered to {text.fmt(rec.recovery_ratio, 2)} at step {rec.recovery_step}" in said
