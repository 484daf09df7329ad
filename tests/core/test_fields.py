"""Each RunConfig field's declaration (lstmlab.core.config.FIELD_INFO) drives every place that checks, reads or
explains the field: RunConfig's check, ModelSpec's fields of the same quantity, the command line's flags, sweeps and
the dashboard's URL fields and their help; and the dashboard's interactive ranges lie inside the declared bounds."""

import argparse
import dataclasses
import io
import math

import pytest

from lstmlab import cli
from lstmlab.core import config
from lstmlab.core.config import FIELD_INFO, FieldInfo, RunConfig, check_field, value_from_text
from lstmlab.core.spec import MAX_HIDDEN, ModelSpec
from lstmlab.jobs import sweeps
from lstmlab.views import limits as L
from lstmlab.views import settings

NUMERIC = [name for name, info in FIELD_INFO.items() if info.kind in ("int", "float")]


def run_flags(argv=("run",)) -> dict[str, argparse.Action]:
    """{dest: action} of the config flags of a command's parser."""
    parser = cli.build_parser()._subparsers._group_actions[0].choices[argv[0]]
    return {a.dest: a for a in parser._actions}


def call(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = cli.main(list(argv), out=io.StringIO(), err=err)
    return code, err.getvalue()


# ---- the declarations themselves ------------------------------------------------------------------------

def test_every_field_is_declared_with_a_kind_matching_its_type_a_label_and_help():
    kinds = {"int": ("int",), "float": ("float",), "str": ("choice", "text"), "tuple[float, ...] | None": ("series",)}
    for f in dataclasses.fields(RunConfig):
        info = FIELD_INFO[f.name]
        assert info.kind in kinds[str(f.type)], f.name
        assert info.label and info.help.endswith("."), f.name
        assert check_field(f.name, f.default) == f.default  # every default is allowed by its own declaration
    assert list(FIELD_INFO) == [f.name for f in dataclasses.fields(RunConfig)]


def test_url_names_are_unique_and_name_no_other_field():
    names = [info.url or name for name, info in FIELD_INFO.items()]
    assert len(set(names)) == len(names)
    assert settings.URL_NAMES == {"seq_len": "T", "hidden_size": "H", "weight_scale": "ws", "forget_bias": "fb",
                                  "optimizer": "opt", "batch_size": "batch"}


@pytest.mark.parametrize("info, expected", [
    (FieldInfo("int", lo=1, hi=5000), "an integer from 1 to 5000"),
    (FieldInfo("float", lo=0.0, hi=10.0, lo_open=True), "a number in (0, 10]"),
    (FieldInfo("float", lo=0.0, hi=1.0, hi_open=True), "a number in [0, 1)"),
    (FieldInfo("float", lo=-10.0, hi=10.0), "a number in [-10, 10]"),
    (FieldInfo("float", lo=0.0, hi=1e6), "a number in [0, 1e6]"),
    (FieldInfo("float", lo=1e-5, hi=0.5, lo_open=True, hi_open=True), "a number in (1e-5, 0.5)"),
    (FieldInfo("float", lo=0.0, note="0 = no clipping"), "a finite number >= 0 (0 = no clipping)"),
    (FieldInfo("float", hi=5.0, hi_open=True), "a finite number < 5"),
    (FieldInfo("float"), "a finite number"),
    (FieldInfo("choice", choices=("a", "b")), "one of 'a', 'b'"),
    (FieldInfo("text", hi=200), "a string of at most 200 characters"),
])
def test_what_a_declaration_expects_is_said_with_its_ends(info, expected):
    assert info.expected() == expected


@pytest.mark.parametrize("value, ok", [(0.0, False), (1e-300, True), (10.0, True), (10.000001, False),
                                       (math.nan, False), (math.inf, False), (True, False), ("1", False)])
def test_an_open_lower_end_and_a_closed_upper_end(value, ok):
    info = FieldInfo("float", lo=0.0, hi=10.0, lo_open=True)
    if ok:
        assert info.check("x", value) == value
    else:
        with pytest.raises(ValueError, match=r"^x=.*: expected a number in \(0, 10\]$"):
            info.check("x", value)


@pytest.mark.parametrize("kwargs", [{"kind": "int", "lo": 0.5}, {"kind": "int", "lo": 0, "lo_open": True},
                                    {"kind": "choice"}, {"kind": "float", "choices": ("a",)}, {"kind": "bool"}])
def test_a_malformed_declaration_is_refused(kwargs):
    with pytest.raises(ValueError):
        FieldInfo(**kwargs)


def test_a_field_has_at_most_one_lower_and_one_upper_end():
    with pytest.raises(ValueError, match="at most one lower end"):
        config.declare(1.0, "float", ge=0.0, gt=0.0)


# ---- a changed declaration reaches every consumer ------------------------------------------------------

@pytest.fixture
def declare(monkeypatch):
    """Replace a field's declaration by a copy with some parts changed, for the length of a test."""
    def change(name: str, **parts) -> FieldInfo:
        info = dataclasses.replace(FIELD_INFO[name], **parts)
        monkeypatch.setitem(FIELD_INFO, name, info)
        return info
    return change


def test_a_changed_integer_bound_reaches_the_config_the_cli_and_the_dashboard(declare, tmp_path):
    declare("seq_len", hi=50, url="len", help="Steps per sequence.")
    with pytest.raises(ValueError, match=r"^seq_len=51: expected an integer from 1 to 50$"):
        RunConfig(seq_len=51)
    assert RunConfig(seq_len=50).seq_len == 50
    with pytest.raises(ValueError, match=r"^seq_len=20: expected an integer from 21 to 50 for task 'copy'"):
        RunConfig(task="copy", seq_len=20)

    help_text = run_flags()["seq_len"].help
    assert help_text.startswith("Steps per sequence; an integer from 1 to 50; default: 100")
    db = str(tmp_path / "runs.db")
    code, err = call("--db", db, "run", "--seq-len", "60")
    assert (code, err) == (2, "lstmlab: error: seq_len=60: expected an integer from 1 to 50\n")
    code, err = call("--db", db, "ls", "--seq-len", "60")
    assert (code, err) == (2, "lstmlab: error: ls --seq-len 60: expected an integer from 1 to 50\n")
    with pytest.raises(sweeps.SweepError, match="--seq-len 60: expected an integer from 1 to 50"):
        sweeps.make_spec("s", {"seq_len": "10,60"})

    field = settings.run_field("seq_len", 20)  # no interactive range: the declared one
    assert (field.name, field.kind, field.lo, field.hi, field.help) == ("len", "int", 1, 50, "Steps per sequence.")
    assert settings.url_name("seq_len") == "len"
    with pytest.raises(ValueError, match="60 is outside 1 … 50"):
        field.parse("60")
    with pytest.raises(ValueError, match="seq_len: the page's hi = 400 lies outside the declared bounds"):
        settings.run_field("seq_len", 20, L.SEQ_LEN_MIN, L.SEQ_LEN_MAX)


def test_a_changed_open_end_reaches_the_config_the_cli_and_the_dashboard(declare):
    declare("lr", hi=1.0, hi_open=True)
    with pytest.raises(ValueError, match=r"^lr=1.0: expected a number in \(0, 1\)$"):
        RunConfig(lr=1.0)
    assert RunConfig(lr=0.999).lr == 0.999
    assert "a number in (0, 1); default: 0.01" in run_flags()["lr"].help
    field = settings.run_field("lr", 0.01)
    assert field.parse("0.5") == 0.5
    for raw in ("1", "0", "-1"):
        with pytest.raises(ValueError, match=r"is outside \(0 … 1\)"):
            field.parse(raw)
    with pytest.raises(ValueError, match="lr: the page's hi = 1 lies outside"):
        settings.run_field("lr", 0.01, L.LR_MIN, L.LR_MAX)  # LR_MAX = 1.0 is not below an open 1


def test_changed_choices_reach_the_config_the_model_the_cli_and_the_dashboard(declare):
    declare("cell", choices=("lstm", "gru"), label="Recurrent cell")
    with pytest.raises(ValueError, match=r"^cell='rnn': expected one of 'lstm', 'gru'$"):
        RunConfig(cell="rnn")
    with pytest.raises(ValueError, match=r"^cell='rnn': expected one of 'lstm', 'gru'$"):
        ModelSpec(cell="rnn", input_size=1, hidden_size=2, output_size=1)
    assert run_flags()["cell"].metavar == "{lstm,gru}"
    field = settings.run_field("cell", "lstm")
    assert (field.kind, field.choices, field.label) == ("choice", ("lstm", "gru"), "Recurrent cell")
    with pytest.raises(ValueError, match="not all among the declared"):
        settings.run_field("cell", "lstm", choices=("rnn", "lstm"))


def test_a_changed_bound_reaches_model_spec_where_it_is_the_same_quantity(declare):
    declare("layers", hi=2)
    with pytest.raises(ValueError, match=r"^layers=3: expected an integer from 1 to 2$"):
        ModelSpec(cell="lstm", input_size=1, hidden_size=2, output_size=1, layers=3)
    declare("hidden_size", lo=4)  # the lower end is the declaration's, the upper end ModelSpec's own
    with pytest.raises(ValueError, match=rf"^hidden_size=3: expected an integer from 4 to {MAX_HIDDEN}$"):
        ModelSpec(cell="lstm", input_size=1, hidden_size=3, output_size=1)


# ---- each consumer against the declarations as they are ---------------------------------------------------

@pytest.mark.parametrize("name", ["cell", "layers", "dtype"])
def test_model_spec_and_run_config_refuse_the_same_values_in_the_same_words(name):
    for bad in ("elman", 0, 5, 2.0, True, None, "float16"):
        with pytest.raises(ValueError) as from_config:
            RunConfig(**{name: bad})
        with pytest.raises(ValueError) as from_spec:
            ModelSpec(**{"cell": "lstm", "input_size": 1, "hidden_size": 2, "output_size": 1, name: bad})
        assert str(from_spec.value) == str(from_config.value)


def test_a_run_s_hidden_sizes_are_ones_a_model_spec_takes():
    info = FIELD_INFO["hidden_size"]
    ModelSpec(cell="lstm", input_size=1, hidden_size=info.lo, output_size=1)
    assert info.hi <= MAX_HIDDEN


def test_every_config_flag_says_the_declared_help_and_bounds_and_reads_the_declared_kind():
    flags, grid = run_flags(), run_flags(("sweep",))
    assert [name for name in FIELD_INFO if name not in flags] == list(config.RECORDER_FIELDS) == ["source"]
    assert "source" not in grid and "source" not in sweeps.SWEEP_FIELDS  # nor a sweep axis
    for name, info in FIELD_INFO.items():
        if name in config.RECORDER_FIELDS:  # set by lstmlab.torch's recorder, never on a command line
            continue
        assert flags[name].help.startswith(info.help.rstrip(".") + "; "), name
        if info.kind == "choice":
            assert flags[name].metavar == "{" + ",".join(info.choices) + "}"
        elif info.kind == "series":
            assert "numbers separated by commas, or @FILE" in flags[name].help
        else:
            assert info.expected() in flags[name].help, name
        if name in sweeps.SWEEP_FIELDS:
            assert info.help.rstrip(".") in grid[name].help and "comma-separated list" in grid[name].help
    assert flags["steps"].type("1e3") == 1000 and flags["lr"].type("3e-4") == 3e-4
    assert flags["steps"].type("2.5") == 2.5  # handed on for RunConfig to refuse, naming the field
    assert flags["cell"].type("gru") == "gru" and flags["series"].type("1, 2 3") == (1.0, 2.0, 3.0)


def test_the_dashboard_s_run_fields_take_their_names_labels_help_and_kind_from_the_declarations():
    for page, fields in settings.FIELDS.items():
        for field in fields:
            if not field.run:
                continue
            info = FIELD_INFO[field.run]
            assert field.name == (info.url or field.run), (page, field.name)
            assert (field.label, field.help) == (info.label, info.help), (page, field.name)
            assert field.kind == info.kind, (page, field.name)


def _interactive_ranges():
    """(what, declared field, lo, hi) of every interactive range of a RunConfig quantity: the page fields, and the
    limits the page-only fields of the same quantity use."""
    out = [(f"{page}.{f.name}", f.run, f.lo, f.hi) for page, fields in settings.FIELDS.items() for f in fields
           if f.run and f.kind in ("int", "float")]
    out += [("phase.wmin/wmax", "weight_scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
            ("phase.Tmax", "seq_len", settings.field("phase", "Tmax").lo, L.PHASE_T_MAX),
            ("inside.T", "seq_len", L.SEQ_LEN_MIN, L.INSIDE_T_MAX),
            ("study eval batch", "eval_size", L.EVAL_SIZE, L.EVAL_SIZE),
            ("phase.H", "hidden_size", L.HIDDEN_MIN, L.PHASE_HIDDEN_MAX)]
    return out


@pytest.mark.parametrize("what, name, lo, hi", _interactive_ranges())
def test_the_dashboard_s_interactive_ranges_lie_inside_the_declared_bounds(what, name, lo, hi):
    info = FIELD_INFO[name]
    assert lo is not None and hi is not None and lo <= hi, what
    assert info.contains(lo) and info.contains(hi), f"{what}: {lo} … {hi} is not within {info.expected()}"


def test_the_interactive_ranges_cover_every_numeric_field_the_dashboard_sets():
    covered = {name for _, name, _, _ in _interactive_ranges()}
    assert covered == {f.run for fields in settings.FIELDS.values() for f in fields if f.run in NUMERIC} | {
        "eval_size"}


def test_the_interactive_choices_are_declared_choices():
    for page, fields in settings.FIELDS.items():
        for f in fields:
            if f.run and f.kind == "choice":
                assert set(f.choices) <= set(FIELD_INFO[f.run].choices), (page, f.name)


# ---- one reading of a value written as text ---------------------------------------------------------------

@pytest.mark.parametrize("kind, text, value", [
    ("int", "12", 12), ("int", "1e3", 1000), ("int", "12.0", 12), ("int", " 7 ", 7), ("int", "1.5", 1.5),
    ("int", "abc", "abc"), ("int", "99999999999999999999999", 99999999999999999999999),
    ("float", "3e-4", 3e-4), ("float", "2", 2.0), ("float", "x", "x"),
    ("series", "1, 2 3", (1.0, 2.0, 3.0)), ("series", "none", None), ("series", "", None), ("series", "1,a", "1,a"),
    ("choice", "lstm", "lstm"), ("text", "a, b", "a, b"),
])
def test_text_is_read_as_the_field_s_kind(kind, text, value):
    got = value_from_text(kind, text)
    assert got == value and type(got) is type(value)


def test_an_integer_written_as_a_float_means_the_same_on_the_command_line_in_a_sweep_and_in_a_url():
    assert cli.build_parser().parse_args(["run", "--steps", "1e3"]).steps == 1000
    assert dict(sweeps.make_spec("s", {"steps": "1e3,2e3"}).grid)["steps"] == (1000, 2000)
    values, warnings = settings.parse_params("flow", {"steps": "1e3", "T": "50.0"})
    assert (values["steps"], values["T"], warnings) == (1000, 50, [])
    values, warnings = settings.parse_params("flow", {"steps": "2.5"})
    assert values["steps"] == settings.defaults("flow")["steps"] and "is not an integer" in warnings[0]
