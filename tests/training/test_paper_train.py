"""Training as the long-lag papers trained: their tasks as RunConfig tasks, online training, the stopping criteria,
the test set, thinned steps rows, and a paper task's run stored, exported and run as a job."""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from lstmlab.core import paper_tasks
from lstmlab.core.analysis import summary
from lstmlab.core.config import PAPER_TASKS, RunConfig
from lstmlab.core.model import forward
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import PAPER_EVAL_COLUMNS, held_at_zero, initial_params, model_spec, table_layout
from lstmlab.store import RunStore, runs_table
from lstmlab.training.train import train

# pmb13-addition at its shortest length: an LSTM trained online (batch 1) by plain SGD learns it in seconds.
ONLINE = dict(task="pmb13-addition", seq_len=10, cell="lstm", hidden_size=8, optimizer="sgd", lr=0.5, clip=1.0,
              batch_size=1, eval_size=64, record_every=100, seed=0)


# ---- the config: names, parameters, keys ---------------------------------------------------------------------

def test_keys_of_configs_stored_before_the_papers_fields_are_unchanged():
    """Keys as the code before these fields computed them (literals), and sha256 of the earlier fields alone."""
    before = {
        "cb3c9147ee54f422": RunConfig(),
        "ca7048ff722ab773": RunConfig(task="copy", seq_len=30, optimizer="momentum", clip=0.0, seed=123456789),
        "83d581c6c3ab44a8": RunConfig(cell="rnn", task="recall", n_symbols=5, init="identity", weight_scale=0.9,
                                      batch_size=16, steps=2000),
    }
    first = ["cell", "task", "seq_len", "hidden_size", "layers", "weight_scale", "init", "forget_bias", "optimizer",
             "lr", "momentum", "clip", "batch_size", "steps", "record_every", "eval_size", "seed", "dtype",
             "n_symbols", "noise", "series", "series_name"]
    for key, config in before.items():
        assert config.key == key
        text = json.dumps({f: getattr(config, f) for f in first}, sort_keys=True, separators=(",", ":"))
        assert config.key == hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("field, value", [
    ("seq_len_max", 120), ("latch_steps", 4), ("latch_noise", 0.3), ("gate_bias", "i=-1"), ("clip_value", 1.0),
    ("stop", "train"), ("stop_window", 100), ("stop_wrong", 3), ("stop_error", 0.01), ("test_size", 10),
    ("log_every", 5)])
def test_a_papers_field_set_away_from_its_default_changes_the_key(field, value):
    base = RunConfig(task="pmb13-addition", seq_len=50, record_every=25)
    changed = base.replace(**{field: value})
    assert changed.key != base.key
    assert RunConfig.from_dict(json.loads(json.dumps(changed.to_dict()))).key == changed.key


def test_every_paper_task_fits_the_stores_task_column_and_is_built_from_its_fields():
    width = runs_table.c.task.type.length
    for name, (cls, fields, fixed) in PAPER_TASKS.items():
        assert len(name) <= width, name
        task = get_task(RunConfig(task=name, seq_len=40, n_symbols=20, latch_steps=2))
        assert isinstance(task.paper, getattr(paper_tasks, cls))
        for param, field in fields.items():
            if field == "seq_len":
                assert getattr(task.paper, param) == 40
        for param, value in fixed.items():
            assert getattr(task.paper, param) == value
    assert get_task(RunConfig(task="hs97-lag-2c", seq_len=40, n_symbols=20)).paper.p == 20
    assert get_task(RunConfig(task="pmb13-order", seq_len=40, seq_len_max=60)).paper.max_length == 60
    assert get_task(RunConfig(task="pmb13-order", seq_len=40)).paper.max_length is None


@pytest.mark.parametrize("config, message", [
    (dict(task="hs97-adding", seq_len=15),
     r"^seq_len=15: expected an even integer >= 20 .*paper's T of task 'hs97-adding'"),
    (dict(task="hs97-lag-2a", seq_len=1), r"^seq_len=1: expected an integer >= 2, as the paper's p of task"),
    (dict(task="bsf94-latch", seq_len=3), r"^seq_len=3: expected an integer > latch_steps = 3, as the paper's T"),
    (dict(task="pmb13-addition", seq_len=50, seq_len_max=40), r"^seq_len_max=40: expected 0 .* or an integer >= "
                                                                r"seq_len = 50"),
    (dict(task="pmb13-order", seq_len=5), r"^seq_len=5: expected an integer >= 10, as the paper's min_length"),
    (dict(task="hs97-lag-2c", seq_len=10, n_symbols=1001), r"^n_symbols=1001: expected an integer from 2 to 1000"),
    (dict(task="ljh15-adding", stop="train"), r"^stop='train': expected 'budget' for task 'ljh15-adding'"),
    (dict(task="adding", stop="eval"), r"^stop='eval': expected 'budget' for task 'adding'"),
    (dict(task="copy", seq_len=30, test_size=5), r"^test_size=5: expected 0 for task 'copy'"),
    (dict(task="hs97-adding", stop="train", stop_window=100, stop_wrong=100), r"^stop_wrong=100: expected fewer "
                                                                              r"than stop_window = 100"),
    (dict(task="hs97-adding", stop="eval", eval_size=16, stop_wrong=16), r"^stop_wrong=16: expected fewer than "
                                                                         r"eval_size = 16"),
    (dict(stop="later"), r"^stop='later': expected one of 'budget', 'train', 'eval'"),
    (dict(record_every=25, log_every=10), r"^log_every=10: expected a divisor of record_every = 25"),
    (dict(gate_bias="i=-3,x"), r"^gate_bias='i=-3,x': cannot read 'i=-3,x'; expected gate=value"),
    (dict(gate_bias="i=1 i=2"), r"^gate_bias='i=1 i=2': gate 'i' given twice"),
    (dict(cell="gru", gate_bias="o=-2"), r"^gate_bias='o=-2': gate 'o' is not a gate of cell 'gru'; expected some of "
                                         r"'r', 'z', 'n'"),
    (dict(hidden_size=2, gate_bias="i=1,2,3"), r"^gate_bias='i=1,2,3': 3 values for gate 'i'; expected at most "
                                               r"hidden_size = 2"),
    (dict(clip_value=-1.0), r"^clip_value=-1.0: expected a finite number >= 0"),
    (dict(biases="none", gate_bias="i=-3"), r"^gate_bias='i=-3': given with biases='none', which holds every bias at "
                                            r"zero; expected '' or biases='trained'"),
    (dict(biases="frozen"), r"^biases='frozen': expected one of 'trained', 'none'"),
    (dict(test_size=-1), r"^test_size=-1: expected an integer from 0 to 100000"),
])
def test_bad_paper_settings_name_the_field_the_value_and_what_is_expected(config, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**config)


def test_uniform_init_and_gate_biases():
    spec = ModelSpec(cell="lstm", input_size=2, hidden_size=4, output_size=1)
    p = init_params(spec, weight_scale=0.1, init="uniform", forget_bias=2.0, seed=1,
                    gate_bias={"i": (-3.0, -6.0), "o": (-1.0, -2.0, -3.0, -4.0)})
    for name, value in p.items():
        if name != "l0.b":
            assert np.abs(value).max() <= 0.1 and np.abs(value).min() > 0, name
    b = p["l0.b"]
    assert list(b[0:4]) == [-3.0, -3.0, -6.0, -6.0]  # i: two groups of two units
    assert list(b[4:8]) == [2.0] * 4  # f: forget_bias
    assert np.abs(b[8:12]).max() <= 0.1  # n: drawn from the range
    assert list(b[12:16]) == [-1.0, -2.0, -3.0, -4.0]  # o: one value per unit
    q = init_params(spec, 0.1, "uniform", 2.0, seed=1, gate_bias={"f": (0.5,)})
    assert list(q["l0.b"][4:8]) == [0.5] * 4
    config = RunConfig(init="uniform", weight_scale=0.2, gate_bias="i=-3,-6 o=-2", hidden_size=4, seq_len=10)
    run = train(config.replace(steps=0, eval_size=4))
    assert list(run.params["l0.b"][0:4]) == [-3.0, -3.0, -6.0, -6.0] and list(run.params["l0.b"][12:16]) == [-2.0] * 4
    with pytest.raises(ValueError, match="gate_bias: gate 'x' is not a gate of cell 'lstm'"):
        init_params(spec, gate_bias={"x": (1.0,)})


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm97fc"])
def test_biases_none_hold_every_bias_at_zero_while_the_weights_train(cell):
    """HS97's nets of Experiment 2 have no biases: with biases="none" every bias (the forget gate's, the GRU's bhn
    and the head's included) starts at zero and no update moves it, with SGD and with Adam; the same config with
    trained biases moves them."""
    for optimizer in ("sgd", "adam"):
        config = RunConfig(cell=cell, seq_len=8, hidden_size=4, batch_size=4, steps=20, record_every=10,
                           eval_size=4, optimizer=optimizer, lr=0.1, biases="none")
        run = train(config)
        assert run.status == "finished"
        biases = [n for n in run.params if n.endswith((".b", ".bhn"))]
        assert sorted(biases) == sorted(["l0.b", "head.b"] + (["l0.bhn"] if cell == "gru" else []))
        for name, value in run.params.items():
            start = train(config.replace(steps=0)).params[name]
            if name in biases:
                assert not value.any() and not start.any(), name
            else:
                assert np.abs(value - start).max() > 1e-4, name
        trained = train(config.replace(biases="trained")).params
        assert all(np.abs(trained[n]).max() > 1e-4 for n in biases)


def test_input_to_output_weights_train_and_change_nothing_when_off():
    """direct="yes" (HS97's nets of Task 2a): the head's input weights head.Wx are drawn, trained and recorded
    (their gradient norm per step); the same config without them trains the same other parameters' shapes and
    draws them the same under HS97's uniform init, which draws head.Wx last."""
    config = RunConfig(cell="rnn_logistic", task="hs97-lag-2a", seq_len=4, hidden_size=1, init="uniform",
                       weight_scale=0.2, optimizer="sgd", lr=10.0, clip=0.0, batch_size=1, steps=50, record_every=25,
                       eval_size=4, direct="yes")
    run = train(config)
    start = train(config.replace(steps=0)).params
    assert run.status == "finished" and run.params["head.Wx"].shape == (5, 5)
    assert np.abs(start["head.Wx"]).max() <= 0.2 and np.abs(run.params["head.Wx"] - start["head.Wx"]).max() > 1e-3
    assert run.steps["gnorm:head.Wx"].gt(0).all()
    plain = train(config.replace(direct="no", steps=0)).params
    assert set(plain) == set(start) - {"head.Wx"}
    assert all(np.array_equal(plain[n], start[n]) for n in plain)


def test_the_hidden_layer_joins_the_net_after_join_after_updates():
    """join_after (HS97's Experiment 2 adds the memory cell once the error stops decreasing): for that many updates
    head.W is zero and the layer is untouched (no error reaches it) while the input-to-output weights learn; then
    head.W starts from its drawn values and every weight trains."""
    config = RunConfig(cell="lstm97ig", task="hs97-lag-2a", seq_len=4, hidden_size=1, init="uniform",
                       weight_scale=0.2, optimizer="sgd", lr=10.0, clip=0.0, batch_size=1, steps=30, record_every=10,
                       eval_size=4, direct="yes", biases="none", join_after=30)
    drawn = train(config.replace(steps=0, join_after=0)).params
    before = train(config)
    assert not before.params["head.W"].any()
    for name in ("l0.Wx", "l0.Wh"):
        np.testing.assert_array_equal(before.params[name], drawn[name])
    assert np.abs(before.params["head.Wx"] - drawn["head.Wx"]).max() > 1e-3
    assert (before.steps["gnorm:head.W"] == 0).all() and (before.steps["gnorm:l0.Wx"] == 0).all()
    after = train(config.replace(steps=40, join_after=30))
    np.testing.assert_array_equal(after.steps["gnorm:head.W"].iloc[:30], 0.0)
    assert after.steps["gnorm:head.W"].iloc[30] > 0 and after.steps["gnorm:l0.Wx"].iloc[30:].gt(0).all()
    first = train(config.replace(steps=31))  # the join's update, plain SGD: head.W moves from its drawn values
    np.testing.assert_allclose(np.linalg.norm(first.params["head.W"] - drawn["head.W"]),
                               config.lr * first.steps["gnorm:head.W"].iloc[30], rtol=1e-12)
    assert np.abs(after.params["l0.Wx"] - drawn["l0.Wx"]).max() > 0
    with pytest.raises(ValueError, match=r"join_after"):
        RunConfig(join_after=-1)


def test_recurrent_none_holds_every_layers_recurrent_weights_at_zero():
    """recurrent="none": each layer's W_h starts at zero and gets no gradient, so a layer reads only the layer below
    while the rest trains; HS97's LSTM net of Task 2a at p = 100 then has Table 10's 10,504 weights exactly."""
    config = RunConfig(cell="lstm", task="adding", seq_len=8, hidden_size=3, layers=2, optimizer="sgd", lr=0.5,
                       batch_size=4, steps=6, record_every=3, eval_size=4, recurrent="none")
    drawn = train(config.replace(steps=0, recurrent="trained")).params
    run = train(config)
    for k in (0, 1):
        assert not run.params[f"l{k}.Wh"].any() and (run.steps[f"gnorm:l{k}.Wh"] == 0).all()
        assert np.abs(run.params[f"l{k}.Wx"] - drawn[f"l{k}.Wx"]).max() > 0
        np.testing.assert_array_equal(train(config.replace(steps=0)).params[f"l{k}.Wx"], drawn[f"l{k}.Wx"])
    assert drawn["l0.Wh"].any() and (run.steps["sigma_max:l0"] == 0).all()
    hs97 = RunConfig(cell="lstm97ig", task="hs97-lag-2a", seq_len=100, hidden_size=1, direct="yes", biases="none",
                     recurrent="none")
    held = held_at_zero(hs97)
    assert set(held) == {"l0.Wh", "l0.b", "head.b"}
    assert sum(v.size for k, v in initial_params(hs97).items() if k not in held) == 10_504


# ---- online training learns --------------------------------------------------------------------------------

def test_online_sgd_learns_pascanus_addition_below_chance():
    config = RunConfig(**ONLINE, steps=3000, test_size=500, log_every=50)
    run = train(config)
    chance = get_task(config).paper.chance()["loss"]
    assert run.status == "finished" and len(run.steps) == 3000 // 50
    ev = run.eval.iloc[-1]
    assert ev["sequences"] == 3000 and ev["loss"] < 0.25 * chance.loss  # chance: MSE 1/24
    wrong = ev["test_wrong"] / config.test_size
    assert wrong < 0.5 * (1 - chance.correct)  # chance: 36 % of sequences have a squared error above 0.04
    assert run.message.endswith(f"test set: {int(ev['test_wrong'])} of 500 sequences wrong")


# ---- stopping criteria ---------------------------------------------------------------------------------------

def _window_wrong(run, window: int) -> np.ndarray:
    """Wrong sequences among the last ``window`` training sequences after each update, from the steps table of a
    batch-1 run recorded every update (metric = 1 for a correct sequence, 0 for a wrong one); NaN before
    ``window`` sequences were seen."""
    wrong = 1.0 - run.steps["metric"].to_numpy()
    csum = np.concatenate([[0.0], np.cumsum(wrong)])
    out = np.full(len(wrong), np.nan)
    out[window - 1:] = csum[window:] - csum[:-window]
    return out


def test_a_run_that_meets_the_training_criterion_stops_at_the_first_update_it_holds():
    config = RunConfig(**ONLINE, steps=3000, stop="train", stop_window=50, stop_wrong=2, test_size=100)
    run = train(config)
    done = int(run.steps["step"].iloc[-1])
    held = _window_wrong(run, 50) <= 2
    assert held[-1] and not held[:-1].any()  # the first update after which the window held at most 2 wrong
    assert 50 <= done < 3000
    ev = run.eval
    assert list(ev["stop_met"]) == [0.0] * (len(ev) - 1) + [1.0]
    assert ev["step"].iloc[-1] == done and ev["sequences"].iloc[-1] == done
    assert ev["window_wrong"].iloc[-1] == _window_wrong(run, 50)[-1]
    assert run.status == "finished"
    assert run.message.startswith(f"met the stopping criterion (at most 2 wrong of the 50 most recent training "
                                  f"sequences) after {done:,} updates, {done:,} sequences; test set: ")
    assert not math.isnan(ev["test_wrong"].iloc[-1]) and ev["test_wrong"].iloc[:-1].isna().all()
    s = summary(run)
    assert (s["sequences"], s["criterion_met"], s["test_size"], s["test_wrong"], s["steps_done"]) == (
        done, True, 100, ev["test_wrong"].iloc[-1], done)


def test_a_run_that_does_not_meet_its_criterion_spends_its_budget_and_says_so():
    config = RunConfig(**{**ONLINE, "record_every": 20}, steps=60, stop="train", stop_window=40, stop_error=1e-9)
    run = train(config)
    assert run.status == "finished" and len(run.steps) == 60 and run.steps["step"].iloc[-1] == 60
    assert (run.eval["stop_met"] == 0.0).all() and run.eval["test_wrong"].isna().all()
    assert run.message == ("finished 60 steps (60 updates, 60 sequences) without meeting the stopping criterion (at "
                           "most 0 wrong of the 40 most recent training sequences, mean error below 1e-09)")
    s = summary(run)
    assert (s["sequences"], s["criterion_met"], s["steps_done"]) == (60, False, 60) and math.isnan(s["test_wrong"])


def test_the_training_criterion_reads_the_mean_error_of_its_window():
    """stop_error: HS97's average training error below beta, as the window's mean absolute error."""
    base = RunConfig(**ONLINE, steps=3000, stop="train", stop_window=50, stop_wrong=49)
    easy = train(base)  # at most 49 of 50 wrong: holds as soon as the window is full (or one is right)
    assert easy.steps["step"].iloc[-1] == 50
    strict = train(base.replace(stop_error=0.05))
    ev = strict.eval.iloc[-1]
    assert ev["stop_met"] == 1.0 and ev["window_error"] < 0.05
    # every earlier recording's window had a mean error of at least 0.05
    assert (strict.eval["window_error"].iloc[1:-1] >= 0.05).all()
    assert strict.steps["step"].iloc[-1] > 50


def test_a_run_meets_the_held_out_criterion_at_the_first_recording_it_holds():
    config = RunConfig(**ONLINE, steps=3000, stop="eval", stop_wrong=6, test_size=50)
    run = train(config)
    wrong = np.rint((1.0 - run.eval["metric"]) * config.eval_size)
    assert wrong.iloc[-1] <= 6 and (wrong.iloc[1:-1] > 6).all()
    assert run.eval["step"].iloc[-1] % config.record_every == 0 and run.eval["step"].iloc[-1] < 3000
    assert run.eval["stop_met"].iloc[-1] == 1.0 and run.message.startswith("met the stopping criterion (at most 6 "
                                                                           "wrong of the 64 held-out sequences)")
    assert run.steps["step"].iloc[-1] == run.eval["step"].iloc[-1]


# ---- the test set --------------------------------------------------------------------------------------------

def test_the_test_set_counts_the_wrong_sequences_of_fresh_draws():
    """Recounted here: the test stream (SeedSequence(seed, spawn_key=(4,))), drawn in batches of batch_size,
    through the reference engine, with HS97's rule written out (|error| < 0.04 at the end)."""
    config = RunConfig(task="hs97-adding", seq_len=20, hidden_size=6, batch_size=4, steps=40, record_every=20,
                       optimizer="adam", lr=0.01, eval_size=8, seed=3, test_size=30)
    run = train(config)
    paper = paper_tasks.HS97Adding(T=20)
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(4,)))
    spec = model_spec(config)
    wrong, sq, ab, left = 0, [], [], 30
    while left:
        seqs = paper.sample(rng, min(4, left))
        out = forward(spec, run.params, seqs.x, engine="reference")[:, 0]
        err = out - seqs.y[:, 0]
        wrong += int(np.sum(~(np.abs(err) < 0.04)))
        sq += list(err ** 2)
        ab += list(np.abs(err))
        left -= len(err)
    ev = run.eval.iloc[-1]
    assert ev["test_wrong"] == wrong and 0 < wrong < 30
    assert ev["test_loss"] == pytest.approx(np.mean(sq), rel=1e-9)
    assert ev["test_error"] == pytest.approx(np.mean(ab), rel=1e-9)
    assert run.message.endswith(f"test set: {wrong} of 30 sequences wrong")


def test_a_test_set_without_a_rule_reports_its_loss():
    run = train(RunConfig(task="ljh15-adding", seq_len=10, hidden_size=4, batch_size=8, steps=4, record_every=2,
                          eval_size=8, test_size=20))
    ev = run.eval.iloc[-1]
    assert math.isnan(ev["test_wrong"]) and ev["test_loss"] > 0
    assert run.message.endswith(f"test set: loss {ev['test_loss']:.4g} over 20 sequences")


# ---- thinned steps rows --------------------------------------------------------------------------------------

def test_log_every_thins_the_steps_rows_without_changing_the_training():
    one = train(RunConfig(**{**ONLINE, "record_every": 20}, steps=47, log_every=1))
    five = train(RunConfig(**{**ONLINE, "record_every": 20}, steps=47, log_every=5))
    a, b = one.steps, five.steps
    ends = list(range(5, 47, 5)) + [47]
    assert list(b["step"]) == ends
    starts = [0] + ends[:-1]
    for row, (s0, s1) in enumerate(zip(starts, ends)):
        block = a.iloc[s0:s1]
        assert b["loss"].iloc[row] == pytest.approx(block["loss"].mean(), rel=1e-12)
        assert b["metric"].iloc[row] == pytest.approx(block["metric"].mean(), rel=1e-12)
        assert b["grad_norm"].iloc[row] == block["grad_norm"].max()
        assert b["clipped"].iloc[row] == block["clipped"].any()
        last = a.iloc[s1 - 1]
        for col in [c for c in a.columns if c.startswith(("gnorm:", "sigma_max:"))] + ["forget_mean"]:
            assert b[col].iloc[row] == last[col], col
    pd.testing.assert_frame_equal(one.eval, five.eval)
    for k in one.params:
        assert np.array_equal(one.params[k], five.params[k])


# ---- stored, exported, listed, run as a job ------------------------------------------------------------------

def test_a_paper_run_round_trips_through_the_store_and_the_csv_export(store_url, tmp_path):
    from lstmlab.views import export

    config = RunConfig(task="hs97-reber", hidden_size=6, batch_size=2, steps=12, record_every=6, log_every=3,
                       eval_size=8, test_size=6, optimizer="sgd", lr=0.5)
    run = train(config)
    assert list(run.eval.columns) == ["step", "loss", "metric", *PAPER_EVAL_COLUMNS]
    assert table_layout(config)["eval"] == [[c, "int64" if c == "step" else "float64"] for c in run.eval.columns]
    store = RunStore(store_url)
    store.save(run)
    back = store.load(run.run_id)
    for name in ("steps", "flow", "eval"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(run, name), check_exact=True)
    assert back.config == config and back.message == run.message
    listed = store.list(task="hs97-reber")
    assert list(listed["id"]) == [run.run_id] and listed["step"].iloc[0] == 12
    assert listed["stop"].iloc[0] == "budget" and listed["test_size"].iloc[0] == 6
    eval_csv = export.export_tables([back], "eval")
    assert list(eval_csv["test_wrong"].dropna()) == [run.eval["test_wrong"].iloc[-1]]
    assert (eval_csv["task"] == "hs97-reber").all()
    path = tmp_path / "eval.csv"
    eval_csv.to_csv(path, index=False)
    again = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert list(again["sequences"]) == list(run.eval["sequences"])


def test_a_paper_run_as_a_job_stores_what_training_in_process_gives(store_url):
    from lstmlab.jobs import api as jobs

    config = RunConfig(**{**ONLINE, "record_every": 40}, steps=400, stop="train", stop_window=20, stop_wrong=10,
                       test_size=20, log_every=10)
    run_id = jobs.submit(config, store_url=store_url)
    assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
    got, want = RunStore(store_url).load(run_id), train(config)
    assert got.message == want.message and got.message.startswith("met the stopping criterion")
    for name in ("steps", "flow", "eval"):
        a, b = getattr(got, name), getattr(want, name)
        pd.testing.assert_frame_equal(a.drop(columns=["wall_time"], errors="ignore"),
                                      b.drop(columns=["wall_time"], errors="ignore"), check_exact=True)
    assert RunStore(store_url).progress(run_id)["step"] == int(want.steps["step"].iloc[-1])


@pytest.mark.parametrize("name", list(PAPER_TASKS))
def test_a_batchs_score_pools_to_the_loss_bptt_trains_on(name):
    """Score's per-sequence loss terms, pooled, give the batch loss of bptt (two separate computations); its error
    is the mean absolute error of the output units at each sequence's error steps (cross-entropy for xent)."""
    from lstmlab.core.model import bptt

    config = RunConfig(task=name, seq_len=20, hidden_size=4, n_symbols=5)
    task = get_task(config)
    spec = model_spec(config, task)
    params = init_params(spec, seed=2)
    batch = task.draw(np.random.default_rng(5), 3)
    res = bptt(spec, params, batch.x, batch.y, loss=task.loss, mask=batch.mask)
    score = task.score(res.y_hat, batch)
    assert score.loss_sum.sum() / score.loss_count.sum() == pytest.approx(res.loss, rel=1e-12)
    if task.loss != "xent":
        out = res.y_hat if task.loss == "mse" else 1 / (1 + np.exp(-res.y_hat))
        target = batch.y if task.loss == "mse" else np.eye(task.output_size)[batch.y]
        err = np.abs(out - target).mean(axis=-1)
        if task.head == "all":
            mask = batch.seqs.mask
            err = (err * mask).sum(axis=0) / mask.sum(axis=0)
        np.testing.assert_allclose(score.error, err, rtol=1e-12)
    if task.metric_name == "correct":
        assert score.metric == np.mean(score.correct) and score.correct.shape == (3,)


@pytest.mark.parametrize("size, batch", [(7, 1), (7, 3), (6, 3), (4, 9)])
def test_the_training_window_holds_the_most_recent_sequences(size, batch):
    """Window's wrong count and mean error against the last ``size`` sequences kept in a plain list."""
    from lstmlab.training.criteria import Window

    rng = np.random.default_rng(size * 10 + batch)
    window, seen = Window(size), []
    for _ in range(12):
        correct, error = rng.random(batch) < 0.6, rng.random(batch)
        window.add(correct, error)
        seen += list(zip(correct, error))
        last = seen[-size:]
        stats = window.stats()
        assert stats["window_wrong"] == sum(not c for c, _ in last)
        assert stats["window_error"] == pytest.approx(np.mean([e for _, e in last]), rel=1e-12)
        wrong = sum(not c for c, _ in last)
        assert window.meets(wrong, 0.0) == (len(seen) >= size)
        assert not window.meets(wrong - 1, 0.0)


def test_a_stopped_paper_run_keeps_its_last_updates_and_scores_no_test_set():
    calls = []
    config = RunConfig(**{**ONLINE, "record_every": 10}, steps=100, log_every=5, test_size=5, stop="eval",
                       stop_wrong=0)
    run = train(config, should_stop=lambda: calls.append(1) or len(calls) > 37)
    assert run.status == "stopped" and run.message == "stopped after 37 of 100 steps"
    assert list(run.steps["step"]) == [5, 10, 15, 20, 25, 30, 35, 37]
    assert list(run.eval["step"]) == [0, 10, 20, 30, 37]
    assert (run.eval["stop_met"] == 0).all() and run.eval["test_wrong"].isna().all()


def test_rmsprop_follows_arjovskys_update_and_element_wise_clipping_bounds_each_entry():
    from lstmlab.core.optim import clip_by_value, make_optimizer

    opt = make_optimizer("rmsprop", 0.01)
    p = {"w": np.array([1.0, -2.0]), "b": np.array([0.5], dtype=np.float32)}
    g1 = {"w": np.array([0.3, -4.0]), "b": np.array([2.0], dtype=np.float32)}
    g2 = {"w": np.array([-0.1, 1.0]), "b": np.array([0.0], dtype=np.float32)}
    state = opt.init(p)
    p1, state = opt.update(p, g1, state)
    p2, state = opt.update(p1, g2, state)
    r1 = 0.9 * 1e-3 + 0.1 * np.array([0.09, 16.0])  # r_0 = 1e-3, decay 0.9, as in the authors' rms_prop
    w1 = np.array([1.0, -2.0]) - 0.01 * np.array([0.3, -4.0]) / np.sqrt(r1)
    r2 = 0.9 * r1 + 0.1 * np.array([0.01, 1.0])
    w2 = w1 - 0.01 * np.array([-0.1, 1.0]) / np.sqrt(r2)
    np.testing.assert_allclose(p2["w"], w2, rtol=1e-14)
    assert p2["b"].dtype == np.float32 and state["t"] == 2
    clipped, changed = clip_by_value({"w": np.array([0.3, -4.0, 2.0])}, 1.0)
    assert changed and list(clipped["w"]) == [0.3, -1.0, 1.0]
    same, changed = clip_by_value(g1, 5.0)
    assert not changed and same is g1
    assert clip_by_value(g1, 0.0) == (g1, False)


def test_element_wise_clipping_in_training_bounds_the_update():
    """One SGD step with clip_value: the parameters move by at most lr * clip_value per entry, and the row says so."""
    config = RunConfig(cell="rnn", task="pmb13-addition", seq_len=10, hidden_size=4, weight_scale=3.0, init="uniform",
                       optimizer="sgd", lr=1.0, clip=0.0, clip_value=1e-3, batch_size=4, steps=1, eval_size=4,
                       record_every=1)
    before = train(config.replace(steps=0)).params
    run = train(config)
    for k in before:
        assert np.abs(run.params[k] - before[k]).max() <= 1e-3 * (1 + 1e-12), k
    assert bool(run.steps["clipped"].iloc[0]) and run.steps["grad_norm"].iloc[0] > 1e-3
