"""lstmlab.views.settings: page fields derived from the config, URL parsing, and the RunConfigs a study names."""

import dataclasses

import pytest

from lstmlab.core.config import CHOICES, RunConfig
from lstmlab.views import limits, settings
from lstmlab.views.settings import URL_NAMES


def test_run_fields_take_their_names_kinds_and_choices_from_the_config():
    for page in settings.FIELDS:
        fields = {f.name: f for f in settings.FIELDS[page]}
        for name, field in settings.run_fields(page).items():
            assert name == URL_NAMES.get(field, field)
            if field in CHOICES:
                expected = {("inside", "task"): settings.INSIDE_TASKS, ("inside", "cell"): settings.INSIDE_CELLS}.get(
                    (page, field), CHOICES[field])
                assert fields[name].kind == "choice" and fields[name].choices == expected
    assert settings.run_fields("flow")["T"] == "seq_len" and settings.run_fields("flow")["batch"] == "batch_size"
    assert set(settings.run_fields("flow").values()) <= {f.name for f in dataclasses.fields(RunConfig)}
    assert "forecast" not in dict((f.name, f) for f in settings.FIELDS["inside"])["task"].choices


def test_study_builds_one_config_per_cell_from_the_url_names():
    values, warnings = settings.parse_params("flow", {"cells": "gru,rnn", "T": "40", "ws": "0.8", "H": "8",
                                                      "fb": "2", "opt": "sgd", "batch": "16", "steps": "24"})
    assert not warnings
    study = settings.study(values)
    assert [c.cell for c in study.configs] == ["rnn", "gru"]  # canonical order
    c = study.configs[1]
    assert (c.seq_len, c.weight_scale, c.hidden_size, c.forget_bias, c.optimizer, c.batch_size, c.steps) == \
        (40, 0.8, 8, 2.0, "sgd", 16, 24)
    assert c.record_every == 1 and c.eval_size == limits.EVAL_SIZE  # 24 steps, FLOW_RECORDS = 40: every step
    assert study.work == 40 * 8 * 1 * 24 * 16 * 2
    with pytest.raises(ValueError, match="at least one cell"):
        settings.study({**values, "cells": []})


def test_inside_trains_the_config_error_flow_would_train():
    inside = {**settings.defaults("inside"), "T": 30, "H": 8, "ws": 0.7, "task": "recall", "seed": 3}
    flow = {**settings.defaults("flow"), "cells": ["lstm"], "T": 30, "H": 8, "ws": 0.7, "task": "recall",
            "seed": 3, "steps": settings.INSIDE_TRAIN_STEPS}
    assert settings.inside_config(inside) == settings.study(flow).configs[0]


def test_inside_trains_the_lstm_of_1997_with_its_truncated_gradient():
    inside = {**settings.defaults("inside"), "cell": "lstm97", "gradient": "truncated", "T": 30, "H": 8}
    flow = {**settings.defaults("flow"), "cells": ["lstm97"], "gradient": "truncated", "T": 30, "H": 8,
            "steps": settings.INSIDE_TRAIN_STEPS}
    config = settings.inside_config(inside)
    assert config == settings.study(flow).configs[0]
    assert (config.cell, config.gradient, config.layers) == ("lstm97", "truncated", 1)
    assert settings.INSIDE_CELLS == ("lstm", "lstm97", "lstm97fc", "lstm97ig")
    values, warnings = settings.parse_params("inside", {"cell": "gru"})  # not an LSTM: refused with a warning
    assert values["cell"] == "lstm" and "`cell`" in warnings[0]


def test_the_study_offers_every_cell_and_the_gradient_with_the_default_study_unchanged():
    fields = {f.name: f for f in settings.FIELDS["flow"]}
    assert fields["cells"].choices == CHOICES["cell"] and fields["cells"].default == ["rnn", "lstm"]
    assert fields["gradient"].default == "full" and fields["gradient"].choices == ("full", "truncated")
    values, warnings = settings.parse_params("flow", {"cells": "rnn_relu,lstm97", "gradient": "truncated",
                                                      "init": "irnn"})
    assert not warnings
    configs = settings.study(values).configs
    assert [(c.cell, c.gradient, c.init) for c in configs] == [("rnn_relu", "truncated", "irnn"),
                                                               ("lstm97", "truncated", "irnn")]
    assert settings.study(settings.defaults("flow")).configs == (RunConfig(cell="rnn", **_STUDY),
                                                                 RunConfig(cell="lstm", **_STUDY))


_STUDY = dict(batch_size=32, steps=1000, record_every=25, eval_size=limits.EVAL_SIZE)  # the default study's


def test_unknown_and_bad_parameters_fall_back_with_a_warning():
    values, warnings = settings.parse_params("flow", {"T": "9999", "nope": "1", "opt": "adagrad"})
    assert values["T"] == 100 and values["opt"] == "adam"
    assert len(warnings) == 3 and "`nope`" in " ".join(warnings)


@pytest.mark.parametrize("page, name", [("flow", "T"), ("flow", "seed"), ("inside", "ex"), ("why", "T"),
                                        ("flow", "ws"), ("phase", "nw")])
def test_a_number_too_large_for_a_float_is_refused_with_a_warning(page, name):
    raw = "9" * 309
    values, warnings = settings.parse_params(page, {name: raw})
    assert values[name] == settings.defaults(page)[name]
    assert len(warnings) == 1 and f"`{name}`" in warnings[0] and "using the default" in warnings[0]
