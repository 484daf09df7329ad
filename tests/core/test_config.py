import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from lstmlab.cli import build_parser
from lstmlab.core import config, params, spec
from lstmlab.core.config import RunConfig
from lstmlab.training.train import train
from lstmlab.views.settings import FIELDS

CONTRACT_DEFAULTS = dict(
    cell="lstm", task="adding", seq_len=100, hidden_size=32, layers=1, weight_scale=1.0, init="orthogonal",
    forget_bias=1.0, optimizer="adam", lr=1e-2, momentum=0.9, clip=1.0, gradient="full", batch_size=64, steps=500,
    record_every=25,
    eval_size=256, seed=0, dtype="float64", n_symbols=8, noise=0.1, series=None, series_name="",
    seq_len_max=0, latch_steps=3, latch_noise=0.2, gate_bias="", biases="trained", recurrent="trained", direct="no",
    join_after=0,
    clip_value=0.0, stop="budget",
    stop_window=2000,
    stop_wrong=0, stop_error=0.0, test_size=0, log_every=1, source="",
)
# The fields every config had before the gradient and the papers' fields were added: the key of a config that leaves the later ones
# at their defaults is the sha256 of these alone (runs stored before keep their key).
FIRST_FIELDS = [f for f in list(CONTRACT_DEFAULTS)[:23] if f != "gradient"]


def test_fields_and_defaults_match_contract():
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    assert fields == list(CONTRACT_DEFAULTS)
    assert RunConfig().to_dict() == CONTRACT_DEFAULTS


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().lr = 0.1


def test_error_message_names_field_value_and_range():
    with pytest.raises(ValueError, match=r"^seq_len=0: expected an integer from 1 to 5000$"):
        RunConfig(seq_len=0)


@pytest.mark.parametrize(
    "field, value",
    [
        ("seq_len", 5001), ("seq_len", 1.0), ("seq_len", "10"), ("seq_len", True), ("hidden_size", 0),
        ("hidden_size", 1025), ("layers", 5), ("layers", 0), ("weight_scale", 0.0), ("weight_scale", 10.5),
        ("weight_scale", math.nan), ("forget_bias", -10.1), ("forget_bias", math.inf), ("lr", 0), ("lr", -1e-3),
        ("lr", "0.01"), ("lr", True), ("lr", math.nan), ("momentum", 1.0), ("momentum", -0.1), ("clip", -1.0),
        ("clip", math.inf), ("batch_size", 0), ("batch_size", 4097), ("steps", -1), ("steps", 1_000_001),
        ("record_every", 0), ("eval_size", 0), ("eval_size", 4097), ("seed", -1), ("seed", 2**32),
        ("n_symbols", 1), ("n_symbols", 1001), ("noise", -0.1), ("noise", math.nan), ("cell", "LSTM"),
        ("cell", None), ("task", "sort"), ("optimizer", "adagrad"), ("init", "xavier"), ("dtype", "float16"),
        ("gradient", "rtrl"), ("gradient", None),
        ("series_name", 3), ("series", "1,2,3"), ("series", 5.0), ("series", [[1.0, 2.0]]),
    ],
)
def test_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError) as e:
        RunConfig(**{field: value})
    assert str(e.value).startswith(field)
    if field != "series":
        assert repr(value) in str(e.value)


@pytest.mark.parametrize("field, choices", [("cell", "'rnn', 'lstm', 'gru'"), ("optimizer", "'sgd', 'momentum', 'adam'")])
def test_choice_errors_list_the_choices(field, choices):
    with pytest.raises(ValueError, match=choices):
        RunConfig(**{field: "nope"})


def test_accepts_boundaries_and_numpy_scalars():
    c = RunConfig(seq_len=np.int64(5000), hidden_size=1, layers=4, weight_scale=10, momentum=0.0, clip=0,
                  seed=2**32 - 1, lr=np.float32(0.5), steps=0)
    assert type(c.seq_len) is int and type(c.lr) is float and type(c.weight_scale) is float
    assert c.weight_scale == 10.0 and c.lr == 0.5
    assert RunConfig(lr=1).to_dict() == RunConfig(lr=1.0).to_dict()
    assert RunConfig(lr=1).key == RunConfig(lr=1.0).key


def test_task_specific_lengths():
    with pytest.raises(ValueError, match=r"seq_len=20: expected an integer from 21 to 5000 for task 'copy'"):
        RunConfig(task="copy", seq_len=20)
    assert RunConfig(task="copy", seq_len=21).seq_len == 21
    with pytest.raises(ValueError, match="seq_len=1"):
        RunConfig(task="adding", seq_len=1)
    assert RunConfig(task="recall", seq_len=1).seq_len == 1


def test_series_normalised_to_tuple_of_floats():
    for given in ([1, 2.5, 3], np.array([1.0, 2.5, 3.0]), (1, 2.5, 3), np.array([1, 2, 3], dtype=np.int32)):
        c = RunConfig(task="forecast", seq_len=2, series=given)
        assert isinstance(c.series, tuple) and all(type(v) is float for v in c.series)
        assert len(c.series) == 3
    hash(c)  # frozen config with a tuple series stays hashable


def test_series_validation():
    with pytest.raises(ValueError, match=r"series\[1\]=nan"):
        RunConfig(task="forecast", seq_len=2, series=[1.0, math.nan, 2.0])
    with pytest.raises(ValueError, match=r"series\[2\]=inf"):
        RunConfig(task="forecast", seq_len=2, series=np.array([1.0, 2.0, np.inf]))
    with pytest.raises(ValueError, match="at least seq_len \\+ 1 = 11"):
        RunConfig(task="forecast", seq_len=10, series=list(range(10)))
    with pytest.raises(ValueError, match="constant"):
        RunConfig(task="forecast", seq_len=3, series=[2.0] * 10)
    with pytest.raises(ValueError, match="at most 1000000"):
        RunConfig(task="forecast", seq_len=3, series=np.zeros(1_000_001))
    with pytest.raises(ValueError, match="series"):
        RunConfig(task="forecast", seq_len=2, series=[True, False, True])
    with pytest.raises(ValueError, match="series"):
        RunConfig(task="forecast", seq_len=2, series=["1", "2", "3"])


def test_round_trip_through_json():
    configs = [RunConfig(), RunConfig(cell="gru", task="forecast", seq_len=7, lr=0.1 + 0.2, noise=1 / 3,
                                      series=np.linspace(-1, 1, 50) ** 3, series_name="cubic"),
               RunConfig(task="copy", seq_len=30, optimizer="momentum", clip=0.0, seed=123456789)]
    for c in configs:
        d = json.loads(json.dumps(c.to_dict()))
        back = RunConfig.from_dict(d)
        assert back == c and back.to_dict() == c.to_dict() and back.key == c.key


def test_from_dict_rejects_unknown_and_fills_missing():
    with pytest.raises(ValueError, match="unknown RunConfig field.*'learning_rate'"):
        RunConfig.from_dict({"learning_rate": 0.1})
    assert RunConfig.from_dict({"seq_len": 10}) == RunConfig(seq_len=10)


def test_key_is_independent_sha256_of_canonical_json():
    import hashlib

    c = RunConfig(seq_len=12, cell="rnn")
    canonical = json.dumps({f: c.to_dict()[f] for f in FIRST_FIELDS}, sort_keys=True, separators=(",", ":"))
    assert c.key == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert len(c.key) == 16 and int(c.key, 16) >= 0
    assert c.key != RunConfig(seq_len=13, cell="rnn").key
    assert c.key != c.replace(series_name="x").key
    truncated = c.replace(gradient="truncated")
    canonical = json.dumps({f: truncated.to_dict()[f] for f in [*FIRST_FIELDS, "gradient"]}, sort_keys=True,
                           separators=(",", ":"))
    assert truncated.key == hashlib.sha256(canonical.encode()).hexdigest()[:16] != c.key


def test_configs_keep_the_keys_they_had_before_the_gradient_field():
    """Keys of configs as stored before RunConfig had ``gradient`` (computed then): the run store still finds the
    runs stored under them."""
    assert RunConfig().key == "cb3c9147ee54f422"
    assert RunConfig(cell="rnn", seq_len=12).key == "1624448f22b72040"
    assert config.KEY_DEFAULTS == {f: RunConfig().to_dict()[f] for f in config.KEY_DEFAULTS}


@pytest.mark.parametrize("config, key", [
    (RunConfig(), "cb3c9147ee54f422"),
    (RunConfig(cell="gru", task="forecast", seq_len=7, series=[0.1, 0.5, 0.2, 0.9, 0.3, 0.4, 0.8, 0.7],
               series_name="s"), "70d9892ffd158f13"),
    (RunConfig(task="copy", seq_len=30, optimizer="momentum"), "9a77f86c186addbf"),
])
def test_keys_of_configs_stored_before_source_existed_are_unchanged(config, key):
    """The keys these configs had before the ``source`` field existed (computed by that version): a study finds the
    runs stored then."""
    assert config.key == key
    assert RunConfig.from_dict({k: v for k, v in config.to_dict().items() if k != "source"}).key == key


def test_a_recorded_run_has_a_source_and_no_lab_task():
    c = RunConfig(task="", source="PyTorch 2.13.0: torch.nn.LSTM(1, 8)", seq_len=6000 // 2, batch_size=64,
                  eval_size=4096, hidden_size=1024, layers=4)  # the lab's memory rule is for its own passes
    assert c.key != c.replace(source="PyTorch 2.13.0: torch.nn.LSTM(1, 9)").key
    assert RunConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError, match=r"^task='adding': expected '' for a run recorded elsewhere"):
        RunConfig(source="PyTorch")
    with pytest.raises(ValueError, match=r"^task='': expected one of 'adding'"):
        RunConfig(task="")
    with pytest.raises(ValueError, match=r"^source=3: expected a string of at most 500 characters"):
        RunConfig(task="", source=3)
    with pytest.raises(ValueError, match=r"^source='xxx.*: expected a string of at most 500 characters"):
        RunConfig(task="", source="x" * 501)


def test_key_stable_across_processes():
    c = RunConfig(task="forecast", seq_len=5, series=[0.1, 0.2, 0.7, 0.3, 0.25, 0.9], lr=3e-4)
    code = ("from lstmlab.core.config import RunConfig; "
            "print(RunConfig(task='forecast', seq_len=5, series=[0.1, 0.2, 0.7, 0.3, 0.25, 0.9], lr=3e-4).key)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert out.stdout.strip() == c.key


def test_replace_validates():
    c = RunConfig()
    assert c.replace(seq_len=10).seq_len == 10 and c.seq_len == 100
    with pytest.raises(ValueError, match="hidden_size=0"):
        c.replace(hidden_size=0)


def test_configs_whose_pass_would_not_fit_in_memory_are_refused():
    with pytest.raises(ValueError, match=r"^seq_len x max\(batch_size, eval_size\) x hidden_size x layers = 5000 x 4096 x 1024 x 4"):
        RunConfig(seq_len=5000, batch_size=64, eval_size=4096, hidden_size=1024, layers=4)
    ok = RunConfig(seq_len=1000, batch_size=64, eval_size=64, hidden_size=128, layers=1)
    # 24 arrays of T x B x H float64 per layer
    assert ok.pass_bytes() == 24 * 1000 * 64 * 128 * 1 * 8
    with pytest.raises(ValueError, match="about 5.9 GiB; expected at most 4 GiB"):
        ok.replace(eval_size=256)


def test_every_choice_has_one_owner():
    assert config.CELLS == tuple(config.GATES) and spec.CELL_NAMES is config.CELLS and spec.GATES is config.GATES
    assert params.INITS is config.INITS and spec.DTYPES is config.DTYPES
    run_flags = build_parser()._subparsers._group_actions[0].choices["run"]
    for field, choices in config.CHOICES.items():
        flag = next(a for a in run_flags._actions if a.dest == field)
        assert flag.metavar == "{" + ",".join(choices) + "}"
    study = {f.name: f for f in FIELDS["flow"]}
    assert study["cells"].choices == config.CELLS and study["opt"].choices == config.OPTIMIZERS
    assert study["task"].choices == config.CHOICES["task"] and study["init"].choices == config.INITS


@pytest.mark.parametrize("field", ["weight_scale", "forget_bias", "lr", "momentum", "clip", "noise"])
def test_an_integer_too_large_for_a_float_is_refused_naming_the_field(field):
    with pytest.raises(ValueError, match=f"^{field}=9{{10}}.*: expected "):
        RunConfig(**{field: 10**400 - 1})


@pytest.mark.parametrize("series", [
    [1e308 * (1 if i % 2 else -1) for i in range(30)],  # the mean and the spread overflow
    [5e-324 * (i % 3) for i in range(30)],  # denormal: the squares of the spread underflow to 0
    [1e-300 * (i % 3) for i in range(30)],
    [1e200 * (i % 3) for i in range(30)],  # the squares of the spread overflow: every z-score would be 0
])
def test_a_series_that_cannot_be_z_scored_is_refused(series):
    with pytest.raises(ValueError, match=r"^series: .*expected"):
        RunConfig(task="forecast", seq_len=10, series=series)


def test_a_wide_but_representable_series_is_accepted_and_trains():
    for scale in (1e-100, 1e100):
        config = RunConfig(task="forecast", seq_len=10, series=[scale * (i % 3) for i in range(30)], steps=2,
                           batch_size=4, eval_size=4, hidden_size=4)
        assert train(config).status == "finished"


def test_noise_that_would_overflow_the_synthetic_series_is_refused():
    with pytest.raises(ValueError, match=r"^noise=1e\+308: expected"):
        RunConfig(task="forecast", noise=1e308)


@pytest.mark.parametrize("series", [np.array(5.0), np.float64(5.0), np.array([[1.0, 2.0], [3.0, 4.0]])])
def test_a_series_that_is_not_a_flat_sequence_is_refused_naming_the_field(series):
    with pytest.raises(ValueError, match=r"(?s)^series=.*: expected .*sequence of finite numbers"):
        RunConfig(task="forecast", seq_len=2, series=series)
