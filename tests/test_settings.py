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
                expected = settings.INSIDE_TASKS if (page, field) == ("inside", "task") else CHOICES[field]
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
