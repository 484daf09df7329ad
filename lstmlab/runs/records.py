"""What a run is made of: its config, status and three tables (steps, flow, eval), its parameters, and the records
it streams while it trains; and the layout of those tables for a config (what the store records and the CSV export
writes; docs/csv-schema.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from lstmlab.core.config import GATES, PAPER_TASKS, RunConfig, parse_gate_bias
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec
from lstmlab.core.tasks import get_task


@dataclass(frozen=True)
class Record:
    """One snapshot of a run as it trains, handed to ``train(..., on_record=)``: the ``steps`` rows since the
    previous record (none for step 0), the ``flow`` rows and the ``eval`` row of the snapshot at ``step``.
    Concatenated in order, the records of a run give its tables (a diverged run's steps rows after its last
    snapshot come only with the returned ``Run``)."""

    step: int
    steps: pd.DataFrame
    flow: pd.DataFrame
    eval: pd.DataFrame


OnRecord = Callable[[Record], None]


@dataclass
class Run:
    """A finished, diverged or stopped training run, its three tables (schemas: ``steps_columns``,
    ``flow_columns``, ``EVAL_COLUMNS``) and its final parameters.

    ``params`` ({name: array}, the names and shapes of ``init_params``) are the parameters after the last
    completed update: for a finished or stopped run those the last eval/flow snapshot was taken at, for a
    diverged run the last finite ones (before the update that diverged; the diverging step's steps row was
    computed at exactly these). ``None`` for a run stored without parameters.
    ``engine`` and ``engine_version`` name the code that computed it (lstmlab.core.engines; "" if unknown): the same
    config gives bit-identical tables on the same engine and version, and tables that differ by rounding on another.
    """

    run_id: str
    config: RunConfig
    status: str
    message: str
    created_at: float
    wall_time: float
    name: str = ""
    tags: tuple[str, ...] = ()
    steps: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    flow: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    eval: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    params: dict[str, np.ndarray] | None = field(default=None, repr=False)
    engine: str = ""
    engine_version: str = ""


EVAL_COLUMNS = ("step", "loss", "metric")
# A paper task's runs add these to eval (float64; NaN where a value does not apply, see docs/csv-schema.md):
# training sequences seen; wrong sequences and mean error among the ``stop_window`` most recent training sequences;
# 1 at the recording where the stopping criterion was met; the test set's wrong sequences, loss and mean error.
PAPER_EVAL_COLUMNS = ("sequences", "window_wrong", "window_error", "stop_met", "test_wrong", "test_loss",
                      "test_error")


STEPS_FIXED_COLUMNS = ("step", "loss", "metric", "grad_norm", "clipped", "forget_mean", "wall_time")


def param_names(config: RunConfig, spec: ModelSpec | None = None) -> list[str]:
    """Sorted parameter names of the model a config trains (as in the ``gnorm:<param>`` columns)."""
    return sorted((spec or model_spec(config)).param_shapes())


def model_spec(config: RunConfig, task=None) -> ModelSpec:
    """The ModelSpec of the network a config trains (input and output sizes and head from its task; ``task``:
    ``get_task(config)`` when the caller has it already)."""
    task = task or get_task(config)
    return ModelSpec(cell=config.cell, input_size=task.input_size, hidden_size=config.hidden_size,
                     output_size=task.output_size, layers=config.layers, head=task.head, dtype=config.dtype,
                     gradient=config.gradient, direct=config.direct)


def initial_params(config: RunConfig, spec: ModelSpec | None = None) -> dict[str, np.ndarray]:
    """The parameters ``train(config)`` starts from (its step-0 network), drawn from the same RNG stream.
    ``spec``: ``model_spec(config)``, when the caller has it already."""
    init_ss = np.random.SeedSequence(config.seed).spawn(3)[0]
    params = init_params(spec or model_spec(config), config.weight_scale, config.init, config.forget_bias,
                         seed=np.random.default_rng(init_ss), gate_bias=parse_gate_bias(config.gate_bias))
    for name in held_at_zero(config, spec):
        params[name] = np.zeros_like(params[name])
    return params


def held_at_zero(config: RunConfig, spec: ModelSpec | None = None) -> tuple[str, ...]:
    """The parameters ``config`` holds at zero, never trained: every bias (``l{k}.b``, the GRU's ``l{k}.bhn``,
    ``head.b``) with ``biases="none"``, every layer's recurrent weights ``l{k}.Wh`` with ``recurrent="none"``.
    ``initial_params`` draws them as zeros and ``train`` gives them no gradient."""
    held = {"b", "bhn"} if config.biases == "none" else set()
    if config.recurrent == "none":
        held.add("Wh")
    return tuple(n for n in param_names(config, spec) if n.rsplit(".", 1)[1] in held) if held else ()


def steps_columns(config: RunConfig, spec: ModelSpec | None = None) -> list[str]:
    """Column order of ``Run.steps`` for this config (``spec``: ``model_spec(config)`` if known)."""
    return (list(STEPS_FIXED_COLUMNS) + [f"gnorm:{n}" for n in param_names(config, spec)]
            + [f"sigma_max:l{k}" for k in range(config.layers)])


def table_layout(config: RunConfig) -> dict[str, list[list[str]]]:
    """Column names and dtypes of the three tables ``train(config)`` returns, as the run store records them:
    {"steps" | "flow" | "eval": [[column, dtype], ...]}."""
    ints = {"step", "layer", "t", "lag"}
    dtype = {"clipped": "bool", **{c: "int64" for c in ints}}
    return {name: [[c, dtype.get(c, "float64")] for c in cols] for name, cols in (
        ("steps", steps_columns(config)), ("flow", flow_columns(config)), ("eval", eval_columns(config)))}


def eval_columns(config: RunConfig) -> list[str]:
    """Column order of ``Run.eval`` for this config (``PAPER_EVAL_COLUMNS`` after the others for a paper task)."""
    return list(EVAL_COLUMNS) + (list(PAPER_EVAL_COLUMNS) if config.task in PAPER_TASKS else [])


def flow_columns(config: RunConfig) -> list[str]:
    """Column order of ``Run.flow`` for this config (one ``dg_<gate>`` per gate, GATES order)."""
    return ["step", "layer", "t", "lag", "dh_norm", "dc_norm"] + [f"dg_{g}" for g in GATES[config.cell]]
