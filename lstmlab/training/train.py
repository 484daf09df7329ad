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
from typing import Callable

import numpy as np
import pandas as pd

from lstmlab.core import engines
from lstmlab.core.analysis import mean_l2, sigma_max
from lstmlab.core.config import RunConfig
from lstmlab.core.model import bptt
from lstmlab.core.optim import clip_by_global_norm, l2_norm, make_optimizer
from lstmlab.core.spec import ModelSpec
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import (
    EVAL_COLUMNS,
    OnRecord,
    Record,
    Run,
    flow_columns,
    initial_params,
    model_spec,
    steps_columns,
)

Progress = Callable[[int, int, dict], None]


def train(config: RunConfig, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
          on_record: OnRecord | None = None, engine: str | None = None) -> Run:
    """Train the config's model on its task; never raises on divergence.

    progress(done, total, metrics) is called after every step with metrics
    {"step", "loss", "metric", "grad_norm", "clipped", "eval_loss", "eval_metric"} (latest eval values);
    should_stop() is polled before every step and ends the run with status "stopped" (a final eval/flow
    snapshot is taken at the last completed step). A NaN/inf loss, gradient or parameter ends it with
    status "diverged", keeping every row recorded so far including the diverging step's; the run's
    ``params`` are then the last finite ones (the update that produced NaN/inf is discarded).
    ``engine``: a name from ``config.ENGINES``, by default the environment's choice (lstmlab.core.engines).
    on_record(Record) is called at every snapshot (step 0, every ``record_every`` steps, the last step, the
    step a run stopped at), so a caller can stream the run while it trains.
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig, got {type(config).__name__}")
    engine = engines.engine_name(engine)
    created_at, t0 = time.time(), time.perf_counter()
    task = get_task(config)
    spec = model_spec(config, task)
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
