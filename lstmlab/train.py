"""train(config) -> Run: the orchestration layer over tasks, the BPTT core and the optimisers.

One step s = 1..steps:  (x, y) ~ task;  res = bptt(params_{s-1});  g = clip(res.grads);
params_s = optimiser(params_{s-1}, g).  The steps row of step s describes that update: the batch loss and
metric, the gradient norms before clipping and sigma_max of the Wh it was computed at.
At step 0, every ``record_every`` steps and at the last step, the fixed held-out eval batch goes through
bptt once more, giving an eval row and the flow rows (error-signal norms per layer and time step).
``Run.params`` holds the parameters after the last completed update (params_done); a diverged run keeps the
last finite ones, i.e. those before the update that diverged.

RNG streams, all children of ``np.random.SeedSequence(config.seed)``: 0 init, 1 training data, 2 eval
batch (3: the synthetic forecast series, see tasks.py). Same config -> identical tables, wall_time aside.
"""
from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from . import GATES, ModelSpec, bptt, engines, init_params
from .analysis import mean_l2, sigma_max
from .config import RunConfig
from .optim import clip_by_global_norm, l2_norm, make_optimizer
from .tasks import get_task

STATUSES = ("finished", "diverged", "stopped")
Progress = Callable[[int, int, dict], None]


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
    ``engine`` and ``engine_version`` name the code that computed it (lstmlab.engines; "" if unknown): the same
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


STEPS_FIXED_COLUMNS = ("step", "loss", "metric", "grad_norm", "clipped", "forget_mean", "wall_time")


def param_names(config: RunConfig, spec: ModelSpec | None = None) -> list[str]:
    """Sorted parameter names of the model a config trains (as in the ``gnorm:<param>`` columns)."""
    return sorted((spec or model_spec(config)).param_shapes())


def model_spec(config: RunConfig) -> ModelSpec:
    """The ModelSpec of the network a config trains (input and output sizes, head from its task)."""
    return _spec(config, get_task(config))


def initial_params(config: RunConfig, spec: ModelSpec | None = None) -> dict[str, np.ndarray]:
    """The parameters ``train(config)`` starts from (its step-0 network), drawn from the same RNG stream.
    ``spec``: ``model_spec(config)``, when the caller has it already."""
    init_ss = np.random.SeedSequence(config.seed).spawn(3)[0]
    return init_params(spec or model_spec(config), config.weight_scale, config.init, config.forget_bias,
                       seed=np.random.default_rng(init_ss))


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
        ("steps", steps_columns(config)), ("flow", flow_columns(config)), ("eval", list(EVAL_COLUMNS)))}


def flow_columns(config: RunConfig) -> list[str]:
    """Column order of ``Run.flow`` for this config (one ``dg_<gate>`` per gate, GATES order)."""
    return ["step", "layer", "t", "lag", "dh_norm", "dc_norm"] + [f"dg_{g}" for g in GATES[config.cell]]


def train(config: RunConfig, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
          on_record: OnRecord | None = None, engine: str | None = None) -> Run:
    """Train the config's model on its task; never raises on divergence.

    progress(done, total, metrics) is called after every step with metrics
    {"step", "loss", "metric", "grad_norm", "clipped", "eval_loss", "eval_metric"} (latest eval values);
    should_stop() is polled before every step and ends the run with status "stopped" (a final eval/flow
    snapshot is taken at the last completed step). A NaN/inf loss, gradient or parameter ends it with
    status "diverged", keeping every row recorded so far including the diverging step's; the run's
    ``params`` are then the last finite ones (the update that produced NaN/inf is discarded).
    ``engine``: a name from ``config.ENGINES``, by default the environment's choice (lstmlab.engines).
    on_record(Record) is called at every snapshot (step 0, every ``record_every`` steps, the last step, the
    step a run stopped at), so a caller can stream the run while it trains.
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig, got {type(config).__name__}")
    engine = engines.engine_name(engine)
    created_at, t0 = time.time(), time.perf_counter()
    task = get_task(config)
    spec = _spec(config, task)
    _, data_ss, eval_ss = np.random.SeedSequence(config.seed).spawn(3)
    params = initial_params(config, spec)
    data_rng = np.random.default_rng(data_ss)
    x_eval, y_eval = task.sample(np.random.default_rng(eval_ss), config.eval_size)
    opt = make_optimizer(config.optimizer, config.lr, config.momentum)
    opt_state = opt.init(params)

    n, L = config.steps, config.layers
    names = sorted(params)
    cols = {c: np.full(n, np.nan) for c in steps_columns(config, spec)}
    cols["step"] = np.arange(1, n + 1, dtype=np.int64)
    cols["clipped"] = np.zeros(n, dtype=bool)
    evals: list[tuple[int, float, float]] = []
    flows: list[dict[str, np.ndarray]] = []

    recorded = 0  # steps rows handed to on_record so far

    def snapshot(step: int) -> None:
        nonlocal recorded
        res = bptt(spec, params, x_eval, y_eval, loss=task.loss, engine=engine, weight_grads=False)
        evals.append((step, float(res.loss), task.metric(res.y_hat, y_eval)))
        flows.append(_flow_block(step, res, spec))
        if on_record is not None:
            on_record(Record(
                step=step, steps=pd.DataFrame({c: v[recorded:step] for c, v in cols.items()}),
                flow=pd.DataFrame(flows[-1], columns=flow_columns(config)),
                eval=_eval_frame(evals[-1:]),
            ))
            recorded = step

    status, message, done = "finished", "", 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        snapshot(0)
        for step in range(1, n + 1):
            if should_stop is not None and should_stop():
                status, message = "stopped", f"stopped after {done} of {n} steps"
                break
            i = step - 1
            x, y = task.sample(data_rng, config.batch_size)
            res = bptt(spec, params, x, y, loss=task.loss, engine=engine)
            norms = [l2_norm(res.grads[k]) for k in names]
            gnorm = math.hypot(*norms)
            cols["loss"][i], cols["metric"][i], cols["grad_norm"][i] = res.loss, task.metric(res.y_hat, y), gnorm
            if spec.cell == "lstm":
                cols["forget_mean"][i] = float(np.mean(res.gates["f"]))
            for k, v in zip(names, norms):
                cols[f"gnorm:{k}"][i] = v
            for k in range(L):
                cols[f"sigma_max:l{k}"][i] = sigma_max(params[f"l{k}.Wh"])

            problem = _non_finite(res.loss, gnorm)
            if problem is None:
                grads, _, cols["clipped"][i] = clip_by_global_norm(res.grads, config.clip, norm=gnorm)
                new_params, new_state = opt.update(params, grads, opt_state)
                if all(np.isfinite(p).all() for p in new_params.values()):
                    params, opt_state = new_params, new_state
                else:  # keep the last finite parameters for Run.params
                    problem = "non-finite parameters after the update"
            cols["wall_time"][i] = time.perf_counter() - t0
            done = step
            if problem is not None:
                status, message = "diverged", f"diverged at step {step}: {problem}"
            elif step % config.record_every == 0 or step == n:
                snapshot(step)
            if progress is not None:
                last = evals[-1]
                progress(step, n, {"step": step, "loss": float(res.loss), "metric": float(cols["metric"][i]),
                                   "grad_norm": gnorm, "clipped": bool(cols["clipped"][i]),
                                   "eval_loss": last[1], "eval_metric": last[2]})
            if status == "diverged":
                break
        if status == "stopped" and evals[-1][0] != done:
            snapshot(done)
    if status == "finished":
        message = f"finished {n} steps"

    steps = pd.DataFrame({c: v[:done] for c, v in cols.items()})
    eval_df = _eval_frame(evals)
    flow = pd.DataFrame({c: np.concatenate([f[c] for f in flows]) for c in flow_columns(config)})
    return Run(run_id=uuid.uuid4().hex, config=config, status=status, message=message, created_at=created_at,
               wall_time=time.perf_counter() - t0, steps=steps, flow=flow, eval=eval_df,
               params={k: params[k] for k in sorted(params)}, engine=engine,
               engine_version=engines.version(engine))


def _eval_frame(evals: list[tuple[int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(evals, columns=list(EVAL_COLUMNS)).astype({"step": np.int64})


def _spec(config: RunConfig, task) -> ModelSpec:
    return ModelSpec(cell=config.cell, input_size=task.input_size, hidden_size=config.hidden_size,
                     output_size=task.output_size, layers=config.layers, head=task.head, dtype=config.dtype,
                     gradient=config.gradient)


def _non_finite(loss: float, gnorm: float) -> str | None:
    if not math.isfinite(loss):
        return f"non-finite loss ({loss})"
    if not math.isfinite(gnorm):
        return f"non-finite gradient norm ({gnorm})"
    return None


def _flow_block(step: int, res, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Flow rows of one snapshot, (L * T) rows ordered by layer then t, without a loop over t."""
    L, T = res.dh.shape[:2]
    t = np.tile(np.arange(1, T + 1, dtype=np.int64), L)
    block = {
        "step": np.full(L * T, step, dtype=np.int64),
        "layer": np.repeat(np.arange(L, dtype=np.int64), T),
        "t": t,
        "lag": T - t,
        "dh_norm": mean_l2(res.dh).ravel(),
        "dc_norm": mean_l2(res.dc).ravel() if res.dc is not None else np.full(L * T, np.nan),
    }
    G, H = len(spec.gates), spec.hidden_size
    dg = mean_l2(res.dacts.reshape(L, T, res.dacts.shape[2], G, H))  # (L, T, G): contiguous rows, one pass
    for j, g in enumerate(spec.gates):
        block[f"dg_{g}"] = dg[..., j].ravel()
    return block
