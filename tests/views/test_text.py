"""lstmlab.views.text: numbers, labels and sentences for people."""

import math
import re

import pandas as pd

from lstmlab.core.config import RunConfig
from lstmlab.training.train import train
from lstmlab.views import text


def test_a_ratio_over_a_zero_last_norm_reads_undefined_not_overflow():
    T = 5
    flow = pd.DataFrame({"step": [0] * T, "layer": [0] * T, "t": range(1, T + 1), "lag": range(T - 1, -1, -1),
                         "dh_norm": [1e-3, 1e-3, 1e-3, 1e-3, 0.0], "dc_norm": [float("nan")] * T})
    said = text.reading({"RNN": flow})
    assert "**RNN**: undefined at initialisation" in said and "overflow" not in said and "∞" not in said


def test_the_reading_of_a_layer_joining_late_says_no_error_reached_it_before():
    """join_after: before the join head.W is zero, so the recorded error at initialisation is undefined (none
    reaches the layer); the reading says why, and whether the layer has joined by the last recording."""
    config = RunConfig(cell="lstm97ig", task="hs97-lag-2a", seq_len=4, hidden_size=1, init="uniform",
                       weight_scale=0.2, optimizer="sgd", lr=10.0, clip=0.0, batch_size=1, steps=20, record_every=10,
                       eval_size=4, direct="yes", biases="none", join_after=10)
    joined, waiting = train(config), train(config.replace(steps=8, record_every=4))
    said = text.reading({"late": joined.flow, "waiting": waiting.flow}, joins={"late": 10, "waiting": 10})
    assert ("**late**: undefined at initialisation (the layer joins the head after 10 updates: before, no error "
            "reaches it), ") in said
    assert not re.search(r"\*\*late\*\*.*?undefined after 20 steps", said)  # joined: error reaches it
    assert ("**waiting**: undefined at initialisation (the layer joins the head after 10 updates: before, no error "
            "reaches it, and it has not joined yet), undefined after 8 steps") in said
    assert "joins the head" not in text.reading({"late": joined.flow})


def test_network_sentence_names_the_tasks_baseline_predictor():
    for task, name in (("forecast", "window-mean predictor"), ("adding", "input-blind predictor")):
        config = RunConfig(task=task, seq_len=12, hidden_size=4, steps=2, batch_size=4, record_every=1,
                           eval_size=4)
        said = text.network_text(config, train(config))
        assert f"({name}: " in said and said.count("input-blind") == (task == "adding")


def test_numbers_for_sentences_name_zero_inf_and_nan():
    assert text.fmt(0.0) == "0 (vanished)" and text.fmt(float("inf")) == "∞ (overflow)"
    assert text.fmt(float("nan")) == "NaN" and text.fmt(2.66e-5) == "2.66e-05" and text.fmt(0.41) == "0.41"
    assert text.ratio_text(float("nan")) == "undefined" and text.ratio_text(0.5) == "0.5"
    assert text.power_value(0.9**100) == "2.66e-05" and text.power_value(1.1**100) == "13780.6"
    assert text.power_value(0.0) == "0 (underflow)" and text.power_value(math.inf) == "∞ (overflow)"
    assert text.half_life(0.5) == "the error halves every 1 steps" and "keeps its size" in text.half_life(1.0)


def test_run_label_prefers_the_name():
    row = {"id": "abcdef123", "name": "", "cell": "lstm", "seq_len": 50, "weight_scale": 0.9}
    assert text.run_label(row) == "LSTM T=50 w=0.9 · abcdef"
    assert text.run_label({**row, "name": "mine"}) == "mine · abcdef"


def test_escape_markdown_leaves_no_markup_and_no_way_out_of_a_code_span():
    attack = "x![px](http://evil.example/p.png)[click here](http://evil.example) *b* <u> $x$ :red[y]\nz"
    out = text.escape_markdown(attack)
    assert re.fullmatch(r"(?:[^!-/:-@\[-`{-~\s\u2060]|\u2060?\\[!-/:-@\[-`{-~]| )*", out)  # all escaped
    assert "\n" not in out and out.replace("\\", "").replace("\u2060", "") == attack.replace("\n", " ")
    # bare URLs and addresses: a word joiner breaks "http://", "www." and "a@b" for the autolinker
    assert "http\u2060\\:" in out and "evil\u2060\\.example" in out
    assert text.escape_markdown("www.x a@b") == "www\u2060\\.x a\u2060\\@b"
    code = text.escape_markdown("a`b![px](http://e)", code=True)
    assert code == "`a'b![px](http://e)`"  # one code span: nothing in it is rendered
    assert text.escape_markdown("n" * 100, limit=10) == "n" * 9 + "…"


def test_a_recorded_runs_label_and_source_kind():
    from lstmlab.core.config import RunConfig
    from lstmlab.views.text import run_label, source_kind

    config = RunConfig(cell="gru", task="", seq_len=40, source="PyTorch 2.13.0+cpu: torch.nn.GRU(3, 8), float32, cpu")
    assert source_kind(config.source) == "PyTorch" and source_kind("") == "lstmlab"
    assert run_label({"id": "abcdef0123", "name": "", "config": config}) == "GRU T=40 from PyTorch · abcdef"
    assert run_label({"id": "abcdef0123", "name": "", "cell": "gru", "seq_len": 40, "weight_scale": 1.0,
                      "source": config.source}) == "GRU T=40 from PyTorch · abcdef"
    assert run_label({"id": "abcdef0123", "name": "", "cell": "gru", "seq_len": 40, "weight_scale": 1.0,
                      "source": ""}) == "GRU T=40 w=1 · abcdef"
