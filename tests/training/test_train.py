import math

import numpy as np
import pandas as pd
import pytest

from lstmlab.core.analysis import mean_l2, sigma_max
from lstmlab.core.config import RunConfig
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import Run, initial_params, model_spec
from lstmlab.training.train import train

TINY = dict(seq_len=6, hidden_size=4, batch_size=4, steps=7, record_every=3, eval_size=5)
PARAMS = {
    "rnn": ["l{k}.Wh", "l{k}.Wx", "l{k}.b"],
    "lstm": ["l{k}.Wh", "l{k}.Wx", "l{k}.b"],
    "gru": ["l{k}.Wh", "l{k}.Wx", "l{k}.b", "l{k}.bhn"],
}
GATE_COLS = {"rnn": ["dg_h"], "lstm": ["dg_i", "dg_f", "dg_n", "dg_o"], "gru": ["dg_r", "dg_z", "dg_n"]}


def expected_steps_columns(cell, layers):
    names = ["head.W", "head.b"] + [p.format(k=k) for k in range(layers) for p in PARAMS[cell]]
    return (["step", "loss", "metric", "grad_norm", "clipped", "forget_mean", "wall_time"]
            + [f"gnorm:{n}" for n in sorted(names)] + [f"sigma_max:l{k}" for k in range(layers)])


@pytest.mark.parametrize("cell, task, layers", [("rnn", "adding", 1), ("lstm", "recall", 2), ("gru", "forecast", 2),
                                                ("lstm", "copy", 1)])
def test_table_schemas(cell, task, layers):
    T = 22 if task == "copy" else TINY["seq_len"]
    c = RunConfig(cell=cell, task=task, layers=layers, **{**TINY, "seq_len": T})
    run = train(c)
    assert isinstance(run, Run) and run.status == "finished" and run.config is c
    assert len(run.run_id) == 32 and int(run.run_id, 16) >= 0 and run.wall_time > 0 and run.created_at > 1.6e9
    assert (run.name, run.tags) == ("", ())

    s = run.steps
    assert list(s.columns) == expected_steps_columns(cell, layers)
    assert s["step"].dtype == np.int64 and s["clipped"].dtype == bool
    assert all(s[col].dtype == np.float64 for col in s.columns if col not in ("step", "clipped"))
    assert s["step"].tolist() == list(range(1, 8))
    assert s["forget_mean"].isna().all() == (cell != "lstm")
    assert s.drop(columns="forget_mean").notna().all().all()
    assert s["wall_time"].is_monotonic_increasing

    e = run.eval
    assert list(e.columns) == ["step", "loss", "metric"] and e["step"].dtype == np.int64
    assert e["step"].tolist() == [0, 3, 6, 7]

    f = run.flow
    assert list(f.columns) == ["step", "layer", "t", "lag", "dh_norm", "dc_norm"] + GATE_COLS[cell]
    assert all(f[col].dtype == np.int64 for col in ("step", "layer", "t", "lag"))
    assert len(f) == 4 * layers * T
    assert sorted(f["step"].unique()) == [0, 3, 6, 7]
    one = f[f["step"] == 3]
    assert one["layer"].tolist() == [k for k in range(layers) for _ in range(T)]
    assert one["t"].tolist() == list(range(1, T + 1)) * layers
    assert (one["lag"] == T - one["t"]).all()
    assert f["dc_norm"].isna().all() == (cell != "lstm")
    assert f.drop(columns="dc_norm").notna().all().all() and (f["dh_norm"] >= 0).all()


def test_rows_agree_with_an_independent_recomputation():
    c = RunConfig(cell="lstm", task="adding", seq_len=8, hidden_size=5, batch_size=6, steps=4, record_every=2,
                  eval_size=7, clip=0.05, seed=11)
    run = train(c)
    task = get_task(c)
    spec = ModelSpec(cell="lstm", input_size=2, hidden_size=5, output_size=1, head="last")
    init_ss, data_ss, eval_ss = np.random.SeedSequence(11).spawn(3)
    params = init_params(spec, 1.0, "orthogonal", 1.0, seed=np.random.default_rng(init_ss))
    x, y = task.sample(np.random.default_rng(data_ss), 6)
    xe, ye = task.sample(np.random.default_rng(eval_ss), 7)

    first = run.steps.iloc[0]
    res = bptt(spec, params, x, y, loss="mse")
    assert first["loss"] == pytest.approx(res.loss, rel=1e-12)
    assert first["metric"] == pytest.approx(np.mean((res.y_hat - y) ** 2), rel=1e-12)
    norms = {k: np.sqrt(np.sum(g**2)) for k, g in res.grads.items()}
    for k, v in norms.items():
        assert first[f"gnorm:{k}"] == pytest.approx(v, rel=1e-12)
    assert first["grad_norm"] == pytest.approx(np.sqrt(sum(v**2 for v in norms.values())), rel=1e-12)
    assert first["forget_mean"] == pytest.approx(res.gates["f"].mean(), rel=1e-12)
    Wh, H = params["l0.Wh"], params["l0.Wh"].shape[0]
    top = max(np.linalg.svd(Wh[:, g * H : (g + 1) * H], compute_uv=False)[0] for g in range(Wh.shape[1] // H))
    assert first["sigma_max:l0"] == pytest.approx(top, rel=1e-10)
    assert (run.steps["clipped"] == (run.steps["grad_norm"] > 0.05)).all()

    ev = bptt(spec, params, xe, ye, loss="mse")
    assert run.eval.iloc[0]["loss"] == pytest.approx(ev.loss, rel=1e-12)
    flow0 = run.flow[run.flow["step"] == 0]
    for t in range(8):
        want_dh = np.mean([np.sqrt(np.sum(ev.dh[0, t, b] ** 2)) for b in range(7)])
        assert flow0["dh_norm"].iloc[t] == pytest.approx(want_dh, rel=1e-12)
        want_dc = np.mean([np.sqrt(np.sum(ev.dc[0, t, b] ** 2)) for b in range(7)])
        assert flow0["dc_norm"].iloc[t] == pytest.approx(want_dc, rel=1e-12)
        for g in ("i", "f", "n", "o"):
            want_dg = np.mean([np.sqrt(np.sum(ev.dgates[g][0, t, b] ** 2)) for b in range(7)])
            assert flow0[f"dg_{g}"].iloc[t] == pytest.approx(want_dg, rel=1e-12)


def test_learns_adding_far_below_baseline():
    c = RunConfig(cell="lstm", task="adding", seq_len=10, hidden_size=16, batch_size=32, steps=300,
                  record_every=100, eval_size=128)
    run = train(c)
    assert run.status == "finished"
    assert run.eval["loss"].iloc[-1] < get_task(c).baseline / 10
    assert run.eval["loss"].iloc[0] > run.eval["loss"].iloc[-1] * 10


def test_learns_recall_far_below_baseline():
    c = RunConfig(cell="lstm", task="recall", seq_len=12, n_symbols=5, hidden_size=16, batch_size=32, steps=150,
                  record_every=50, eval_size=128)
    run = train(c)
    final = run.eval.iloc[-1]
    assert final["loss"] < math.log(5) / 10 and final["metric"] > 0.95


def test_same_config_same_tables_except_wall_time():
    c = RunConfig(cell="gru", task="forecast", seq_len=7, hidden_size=6, layers=2, batch_size=5, steps=12,
                  record_every=5, eval_size=9, seed=3)
    a, b = train(c), train(c)
    pd.testing.assert_frame_equal(a.steps.drop(columns="wall_time"), b.steps.drop(columns="wall_time"), check_exact=True)
    pd.testing.assert_frame_equal(a.flow, b.flow, check_exact=True)
    pd.testing.assert_frame_equal(a.eval, b.eval, check_exact=True)
    assert a.run_id != b.run_id
    other = train(c.replace(seed=4))
    assert not np.array_equal(other.steps["loss"].to_numpy(), a.steps["loss"].to_numpy())


def test_divergence_is_reported_not_raised():
    # SGD at lr 10 on a squared loss: the head update alone overshoots geometrically until overflow
    c = RunConfig(cell="rnn", task="adding", seq_len=10, hidden_size=8, weight_scale=3.0, clip=0.0, optimizer="sgd",
                  lr=10.0, steps=200, batch_size=8, record_every=5, eval_size=8)
    seen = []
    run = train(c, progress=lambda done, total, m: seen.append(done))
    assert run.status == "diverged"
    n = len(run.steps)
    assert 1 <= n < 200 and f"step {n}" in run.message and run.steps["step"].iloc[-1] == n
    assert seen == list(range(1, n + 1))
    last = run.steps.iloc[-1]
    if "parameters" not in run.message:  # otherwise the update, not this row, produced the NaN/inf
        assert not (math.isfinite(last["loss"]) and math.isfinite(last["grad_norm"]))
    assert np.isfinite(run.steps["loss"].iloc[: n - 1]).all()
    assert run.eval["step"].iloc[0] == 0 and (run.eval["step"] < n).all()
    assert len(run.flow) == len(run.eval) * 10


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_large_weights_and_lr_never_raise(cell):
    c = RunConfig(cell=cell, task="adding", seq_len=20, hidden_size=8, weight_scale=3.0, clip=0.0, lr=5.0,
                  optimizer="momentum", steps=60, batch_size=8, record_every=10, eval_size=8)
    with np.errstate(all="raise"):  # train must handle floating-point trouble itself
        run = train(c)
    assert run.status in ("diverged", "finished")
    if run.status == "finished":
        assert np.isfinite(run.steps[["loss", "grad_norm"]].to_numpy()).all()
    else:
        assert "diverged at step" in run.message


def test_should_stop():
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 5

    c = RunConfig(task="adding", **{**TINY, "steps": 50, "record_every": 10})
    run = train(c, should_stop=stop)
    assert run.status == "stopped" and "4 of 50" in run.message
    assert run.steps["step"].tolist() == [1, 2, 3, 4]
    assert run.eval["step"].tolist() == [0, 4]  # a final snapshot at the last completed step
    assert sorted(run.flow["step"].unique()) == [0, 4]
    immediately = train(c, should_stop=lambda: True)
    assert immediately.status == "stopped" and len(immediately.steps) == 0 and immediately.eval["step"].tolist() == [0]


def test_progress_called_every_step():
    calls = []
    c = RunConfig(task="recall", **TINY)
    train(c, progress=lambda done, total, m: calls.append((done, total, m)))
    assert [(d, t) for d, t, _ in calls] == [(i, 7) for i in range(1, 8)]
    m = calls[-1][2]
    assert {"loss", "metric", "grad_norm", "eval_loss", "eval_metric"} <= set(m)
    assert all(isinstance(v, (int, float, bool)) for v in m.values())


def test_zero_steps_records_initialisation_only():
    run = train(RunConfig(task="adding", **{**TINY, "steps": 0}))
    assert run.status == "finished" and len(run.steps) == 0
    assert list(run.steps.columns) == expected_steps_columns("lstm", 1)
    assert run.eval["step"].tolist() == [0] and len(run.flow) == TINY["seq_len"]


def test_float32_run():
    run = train(RunConfig(task="adding", dtype="float32", **TINY))
    assert run.status == "finished" and np.isfinite(run.steps["loss"]).all()


def test_norm_helpers():
    W = np.random.default_rng(0).standard_normal((6, 24))
    top = max(np.linalg.svd(W[:, g * 6 : (g + 1) * 6], compute_uv=False)[0] for g in range(4))
    assert sigma_max(W) == pytest.approx(top, rel=1e-12)
    assert sigma_max(W * 1e200) == pytest.approx(top * 1e200, rel=1e-10)
    assert math.isnan(sigma_max(np.full((2, 8), np.nan)))
    a = np.zeros((1, 2, 2, 2))
    a[0, 0] = [[3.0, 4.0], [0.0, 1.0]]
    a[0, 1] = [[1e200, 1e200], [0.0, 0.0]]
    out = mean_l2(a)
    assert out[0, 0] == pytest.approx(3.0) and out[0, 1] == pytest.approx(1e200 * math.sqrt(2) / 2)
    a[0, 1, 0, 0] = np.inf
    assert mean_l2(a)[0, 1] == np.inf


def test_flow_orientation_shows_vanishing_in_a_contractive_rnn():
    # tanh RNN with ||Wh|| = 0.5: dL/dh_t shrinks at least 2x per step back from the loss at t = T (lag 0)
    c = RunConfig(cell="rnn", task="adding", seq_len=20, hidden_size=8, weight_scale=0.5, steps=0, eval_size=16)
    f = train(c).flow.set_index("lag")["dh_norm"]
    assert f[0] > 0 and f[19] < f[0] * 0.5**19 * 1.0001
    assert (np.diff(f.sort_index().to_numpy()) <= 0).all()


def test_gru_learns_adding():
    c = RunConfig(cell="gru", task="adding", seq_len=10, hidden_size=16, batch_size=32, steps=300,
                  record_every=150, eval_size=128)
    assert train(c).eval["loss"].iloc[-1] < get_task(c).baseline / 5


def test_recording_does_not_perturb_training():
    # eval snapshots use their own batch and no training randomness: the trajectory ignores record_every
    c = RunConfig(task="recall", **{**TINY, "steps": 9})
    a, b = train(c), train(c.replace(record_every=1, eval_size=3))
    cols = ["loss", "grad_norm", "gnorm:l0.Wh", "sigma_max:l0"]
    pd.testing.assert_frame_equal(a.steps[cols], b.steps[cols], check_exact=True)
    assert len(b.eval) == 10 and len(a.eval) == 4  # steps 0, 3, 6, 9


def _eval_loss_at(config, params):
    """Loss of ``params`` on the config's held-out eval batch (RNG stream 2, as train draws it)."""
    task = get_task(config)
    eval_ss = np.random.SeedSequence(config.seed).spawn(3)[2]
    x, y = task.sample(np.random.default_rng(eval_ss), config.eval_size)
    return bptt(model_spec(config), params, x, y, loss=task.loss).loss


@pytest.mark.parametrize("cell, layers, dtype", [("lstm", 1, "float64"), ("gru", 2, "float32"), ("rnn", 1, "float64")])
def test_params_are_the_final_parameters(cell, layers, dtype):
    c = RunConfig(cell=cell, task="adding", layers=layers, dtype=dtype, **TINY)
    run = train(c)
    shapes = model_spec(c).param_shapes()
    assert list(run.params) == sorted(shapes)
    assert all(run.params[k].shape == shapes[k] and run.params[k].dtype == np.dtype(dtype) for k in shapes)
    # the last eval snapshot (step 7) was taken at exactly these parameters
    assert run.eval["step"].iloc[-1] == 7
    assert _eval_loss_at(c, run.params) == run.eval["loss"].iloc[-1]
    start = initial_params(c)
    assert not np.array_equal(run.params["l0.Wh"], start["l0.Wh"])  # training moved them
    assert train(c).params.keys() == run.params.keys()
    assert all(np.array_equal(train(c).params[k], v) for k, v in run.params.items())  # deterministic


def test_params_of_zero_steps_and_stopped_runs():
    c = RunConfig(task="adding", **{**TINY, "steps": 0})
    run = train(c)
    assert all(np.array_equal(run.params[k], v) for k, v in initial_params(c).items())
    assert _eval_loss_at(c, run.params) == run.eval["loss"].iloc[0]
    calls = []
    stopped = train(c.replace(steps=50, record_every=10), should_stop=lambda: calls.append(1) or len(calls) > 4)
    assert stopped.status == "stopped" and stopped.eval["step"].iloc[-1] == 4
    assert _eval_loss_at(stopped.config, stopped.params) == stopped.eval["loss"].iloc[-1]


def test_diverged_run_keeps_the_last_finite_params():
    c = RunConfig(cell="rnn", task="adding", seq_len=10, hidden_size=8, weight_scale=3.0, clip=0.0, optimizer="sgd",
                  lr=10.0, steps=200, batch_size=8, record_every=5, eval_size=8)
    run = train(c)
    assert run.status == "diverged"
    assert all(np.isfinite(p).all() for p in run.params.values())
    # the diverging step's row was computed at the parameters kept (sigma_max of the same Wh, bit for bit)
    assert sigma_max(run.params["l0.Wh"]) == run.steps["sigma_max:l0"].iloc[-1]


def test_update_to_non_finite_params_is_discarded(monkeypatch):
    """An update that produces inf (finite loss and gradient) ends the run; params are those before it."""
    import lstmlab.training.train as T
    from lstmlab.core.optim import make_optimizer

    real = make_optimizer("sgd", 0.1)
    seen = []

    class Blows:
        def init(self, params):
            return real.init(params)

        def update(self, params, grads, state):
            seen.append({k: v.copy() for k, v in params.items()})
            new, state = real.update(params, grads, state)
            if len(seen) == 3:
                new = {**new, "head.b": np.full_like(new["head.b"], np.inf)}
            return new, state

    monkeypatch.setattr(T, "make_optimizer", lambda *a, **k: Blows())
    run = T.train(RunConfig(task="adding", **{**TINY, "steps": 10}))
    assert run.status == "diverged" and "step 3" in run.message and "parameters" in run.message
    assert len(run.steps) == 3 and np.isfinite(run.steps["loss"]).all()
    assert all(np.array_equal(run.params[k], v) for k, v in seen[2].items())  # before the third update
