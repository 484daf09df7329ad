"""lstmlab.core.analysis: norms, flow ratios and run summaries."""

import math

import numpy as np
import pandas as pd
import pytest

from lstmlab.core.analysis import flow_ratio, flow_ratios, mean_l2, norm_ratio, sigma_max, summary, task_info
from lstmlab.core.config import RunConfig
from lstmlab.training.train import train


def test_sigma_max_is_the_largest_over_gate_blocks():
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((6, 6)) for _ in range(4)]
    expected = max(np.linalg.svd(b, compute_uv=False)[0] for b in blocks)
    assert sigma_max(np.concatenate(blocks, axis=1)) == pytest.approx(expected, rel=1e-12)
    # orthogonal init: every block's singular values equal the weight scale, in every cell
    for cell in ("rnn", "lstm", "gru"):
        run = train(RunConfig(cell=cell, task="adding", seq_len=5, hidden_size=8, steps=1, weight_scale=0.7))
        assert run.steps["sigma_max:l0"].iloc[0] == pytest.approx(0.7, rel=1e-12)


def test_mean_l2_keeps_tiny_and_huge_norms():
    a = np.zeros((1, 3, 2, 4))
    a[0, 0] = 3e-200  # squares underflow to 0 in float64
    a[0, 1] = 3e200  # squares overflow
    a[0, 2, 0, 0] = np.inf
    out = mean_l2(a)
    np.testing.assert_allclose(out[0, :2], [6e-200, 6e200], rtol=1e-12)  # sqrt(4) * 3e±200
    assert np.isinf(out[0, 2])


def test_mean_l2_matches_hypot_row_by_row_with_extreme_rows_mixed_in():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3, 4, 5, 6))
    a[0, 1, 2, 3] *= 1e-200  # squares underflow
    a[1, 2, 0, 1] *= 1e200  # squares overflow
    a[1, 0, 3, 4] = 0.0
    a[0, 2, 1, 0, 5] = np.inf
    a[1, 1, 1, 2, 0] = np.nan
    a[0, 0, 0, 0, :3] = 5e-324  # denormal
    want = np.empty(a.shape[:-1])
    for idx in np.ndindex(*a.shape[:-1]):
        want[idx] = math.hypot(*a[idx])
    want = want.mean(axis=2)  # over the batch
    got = mean_l2(a)
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got, want, rtol=1e-13)  # NaN where want is NaN, inf where inf
    # (L, T, B, H) rows as before: one gate block of the 5-d array
    np.testing.assert_allclose(mean_l2(a[:, :, :, 3]), want[:, :, 3], rtol=1e-13)


def test_flow_ratio_first_over_last():
    flow = pd.DataFrame({"step": [0] * 3 + [5] * 3, "layer": [0] * 6, "t": [1, 2, 3] * 2,
                         "dh_norm": [1e-3, 0.5, 2.0, 0.0, 1.0, 0.0]})
    assert flow_ratio(flow, 0, 0) == pytest.approx(5e-4)
    assert np.isnan(flow_ratio(flow, 5, 0))  # last is 0: undefined
    assert np.isnan(flow_ratio(flow, 7, 0))  # not recorded
    flow.loc[3, "dh_norm"], flow.loc[5, "dh_norm"] = 0.0, 4.0
    assert flow_ratio(flow, 5, 0) == 0.0  # vanished


def test_flow_ratios_are_flow_ratio_at_every_step():
    rng = np.random.default_rng(2)
    rows = [(s, k, t, float(rng.uniform(0, 2))) for s in (0, 5, 10, 15, 20) for k in (0, 1) for t in range(1, 7)]
    flow = pd.DataFrame(rows, columns=["step", "layer", "t", "dh_norm"]).sample(frac=1.0, random_state=0)
    at = (flow["layer"] == 1)
    flow.loc[at & (flow["step"] == 5) & (flow["t"] == 1), "dh_norm"] = 0.0  # vanished: 0
    flow.loc[at & (flow["step"] == 10) & (flow["t"] == 6), "dh_norm"] = 0.0  # last 0: undefined
    flow.loc[at & (flow["step"] == 15) & (flow["t"] == 1), "dh_norm"] = np.inf  # overflowed: inf
    flow.loc[at & (flow["step"] == 20) & (flow["t"] == 1), "dh_norm"] = np.nan  # undefined
    for layer in (0, 1):
        got = flow_ratios(flow, layer)
        assert list(got.index) == [0, 5, 10, 15, 20]
        for step, r in got.items():
            want = flow_ratio(flow, step, layer)
            assert (math.isnan(r) and math.isnan(want)) or r == want, (layer, step, r, want)
    assert flow_ratios(flow, 1).loc[5] == 0.0 and math.isinf(flow_ratios(flow, 1).loc[15])


def test_task_info_names_the_baseline_of_each_task():
    adding = task_info(RunConfig(task="adding"))
    assert adding["baseline"] == pytest.approx(1 / 6) and adding["baseline_name"] == "input-blind predictor"
    assert adding["metric_name"] == "mse" and adding["loss"] == "mse"
    recall = task_info(RunConfig(task="recall", n_symbols=4))
    assert recall["baseline"] == pytest.approx(math.log(4)) and recall["chance_metric"] == 0.25
    assert recall["metric_name"] == "accuracy" and recall["loss"] == "xent"
    assert task_info(RunConfig(task="forecast", seq_len=10))["baseline_name"] == "window-mean predictor"


def test_summary_reads_the_last_rows_and_the_flow_of_every_layer():
    run = train(RunConfig(cell="rnn", task="adding", seq_len=8, hidden_size=4, layers=2, steps=4, batch_size=4,
                          record_every=2, eval_size=4))
    s = summary(run)
    assert s["status"] == "finished" and s["steps_done"] == 4
    assert s["train_loss"] == run.steps["loss"].iloc[-1] and s["eval_loss"] == run.eval["loss"].iloc[-1]
    assert s["baseline"] == pytest.approx(1 / 6) and s["metric_name"] == "mse"
    assert sorted(s["flow_ratio"]) == [0, 1]
    first, r0, last, r1 = s["flow_ratio"][1]
    rows = run.flow[(run.flow["step"] == 0) & (run.flow["layer"] == 1)].sort_values("t")
    assert (first, last) == (0, 4)
    assert r0 == pytest.approx(rows["dh_norm"].iloc[0] / rows["dh_norm"].iloc[-1], rel=1e-12)


def test_summary_of_a_run_without_rows_is_nan_not_an_error():
    run = train(RunConfig(task="adding", seq_len=5, hidden_size=4, steps=0, batch_size=2, eval_size=2))
    run.steps, run.eval, run.flow = run.steps.iloc[:0], run.eval.iloc[:0], run.flow.iloc[:0]
    s = summary(run)
    assert s["steps_done"] == 0 and math.isnan(s["train_loss"]) and math.isnan(s["eval_loss"])
    assert s["flow_ratio"] == {}


def test_norm_ratio_is_the_one_rule_for_a_ratio_of_error_norms():
    assert norm_ratio(1e-3, 2.0) == 5e-4 and norm_ratio(0.0, 1.0) == 0.0 and norm_ratio(math.inf, 1.0) == math.inf
    for first, last in ((1.0, 0.0), (1.0, math.inf), (math.nan, 1.0), (1.0, math.nan)):
        assert math.isnan(norm_ratio(first, last))


@pytest.mark.parametrize("H,G,scale", [(1, 1, 1.0), (5, 4, 1.0), (32, 3, 0.1), (64, 4, 1e150), (16, 1, 1e-150)])
def test_sigma_max_by_the_engines_own_blas_equals_numpys(H, G, scale):
    """The private OpenBLAS at one thread (for a caller whose threads keep numpy's BLAS busy) gives numpy's value,
    and the SVD's, to rounding, huge and tiny weights included."""
    W = scale * np.random.default_rng(H).standard_normal((H, G * H))
    want = max(np.linalg.svd(W[:, g * H:(g + 1) * H], compute_uv=False)[0] for g in range(G))
    assert sigma_max(W, own_blas=True) == pytest.approx(sigma_max(W), rel=1e-12)
    assert sigma_max(W, own_blas=True) == pytest.approx(want, rel=1e-10)
    assert math.isnan(sigma_max(np.full((H, G * H), np.nan), own_blas=True))
