"""train(config) -> Run: the orchestration layer over tasks, the BPTT core and the optimisers.

One step s = 1..steps:  (x, y) ~ task;  res = bptt(params_{s-1});  g = clip(res.grads);
params_s = optimiser(params_{s-1}, g), the parameters a config holds at zero (``held_at_zero``) given g = 0.
The steps row of step s describes that update: the batch loss and metric, the gradient norms before clipping and
sigma_max of the Wh it was computed at (with ``log_every`` N, one row per N updates: ``Block``). Clipping is
element-wise at ``clip_value``, then by the global norm at ``clip``.
At step 0, every ``record_every`` steps and at the last step, the fixed held-out eval batch goes through
bptt once more, giving an eval row and the flow rows (error-signal norms per layer and time step).
``Run.params`` holds the parameters after the last completed update (params_done); a diverged run keeps the
last finite ones, i.e. those before the update that diverged.

RNG streams, all children of ``np.random.SeedSequence(config.seed)``: 0 init, 1 training data, 2 eval
batch (3: the synthetic forecast series, see tasks.py; 4: a paper task's test set). Same config -> identical
tables, wall_time aside.
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
from lstmlab.core.config import PAPER_TASKS, RunConfig
from lstmlab.core.model import bptt
from lstmlab.core.optim import clip_by_global_norm, clip_by_value, l2_norm, make_optimizer
from lstmlab.core.spec import ModelSpec
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import (
    OnRecord,
    Record,
    Run,
    eval_columns,
    flow_columns,
    held_at_zero,
    initial_params,
    model_spec,
    steps_columns,
)
from lstmlab.training.criteria import NO_TEST, Window, ending_text, test_set

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

    A paper task's run (``config.PAPER_TASKS``) also ends, status "finished", at the update or recording where its
    stopping criterion (``config.stop``) holds; a run that ends so or by its budget then scores ``test_size``
    fresh sequences. Its eval rows carry ``PAPER_EVAL_COLUMNS`` and its message says how it ended: the
    criterion met after how many updates and sequences, or the budget spent without it, and the test set's count.
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"config: expected a RunConfig, got {type(config).__name__}")
    if config.source:
        raise ValueError(f"source={config.source[:80]!r}: the run was recorded elsewhere and has no lab task to train "
                         "on; expected a config of the lab's own (source '')")
    engine = engines.engine_name(engine)
    created_at, t0 = time.time(), time.perf_counter()
    task = get_task(config)
    spec = model_spec(config, task)
    _, data_ss, eval_ss = np.random.SeedSequence(config.seed).spawn(3)
    params = initial_params(config, spec)
    no_grads = {name: np.zeros_like(params[name]) for name in held_at_zero(config, spec)}  # biases, W_h "none"
    joining = params["head.W"]  # the layer's weights into the head, held at zero until the layer joins
    not_joined = {"head.W": np.zeros_like(joining)}  # its gradient until then
    if config.join_after:
        params = {**params, "head.W": np.zeros_like(joining)}
    data_rng = np.random.default_rng(data_ss)
    held = task.draw(np.random.default_rng(eval_ss), config.eval_size)
    opt = make_optimizer(config.optimizer, config.lr, config.momentum)
    opt_state = opt.init(params)
    paper = config.task in PAPER_TASKS
    window = Window(config.stop_window) if paper else None

    n, every = config.steps, config.log_every
    names = sorted(params)
    rows = -(-n // every)
    cols = {c: np.full(rows, np.nan) for c in steps_columns(config, spec)}
    cols["step"] = np.zeros(rows, dtype=np.int64)
    cols["clipped"] = np.zeros(rows, dtype=bool)
    block = Block(spec, names)
    evals: list[dict] = []
    flows: list[dict[str, np.ndarray]] = []
    filled = recorded = 0  # steps rows written; of those, handed to on_record

    def flush(step: int) -> None:
        nonlocal filled
        if block.count:
            block.write(cols, filled, step)
            filled += 1

    def meets(correct: np.ndarray, error: np.ndarray) -> bool:
        """Whether the held-out batch's sequences meet the stopping criterion."""
        return (int(np.count_nonzero(~correct)) <= config.stop_wrong
                and (config.stop_error == 0 or float(np.mean(error)) < config.stop_error))

    def snapshot(step: int, end: str = "") -> bool:
        """Eval and flow rows at ``step``. ``end`` "met" or "budget": the run ends here and scores its test set;
        "stopped": it was stopped. Returns whether the run ends here by its criterion (an "eval" criterion is read
        off this held-out batch at a recording of the run's own)."""
        nonlocal recorded
        res = bptt(spec, params, held.x, held.y, loss=task.loss, engine=engine, weight_grads=False, mask=held.mask)
        score = task.score(res.y_hat, held)
        row = {"step": step, "loss": float(res.loss), "metric": score.metric}
        if step > 0 and end != "stopped" and config.stop == "eval" and meets(score.correct, score.error):
            end = "met"
        if paper:
            scored = end in ("met", "budget") and config.test_size
            tested = test_set(config, task, spec, params, engine) if scored else NO_TEST
            row.update(sequences=float(step * config.batch_size), **window.stats(), stop_met=float(end == "met"),
                       **tested)
        evals.append(row)
        flows.append(flow_block(step, res, spec))
        if on_record is not None:
            on_record(Record(
                step=step, steps=pd.DataFrame({c: v[recorded:filled] for c, v in cols.items()}),
                flow=pd.DataFrame(flows[-1], columns=flow_columns(config)),
                eval=_eval_frame(evals[-1:], config),
            ))
            recorded = filled
        return end == "met"

    status, message, done, met = "finished", "", 0, False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        snapshot(0, "budget" if n == 0 else "")
        for step in range(1, n + 1):
            if should_stop is not None and should_stop():
                status, message = "stopped", f"stopped after {done} of {n} steps"
                break
            if step == config.join_after + 1 and config.join_after:
                params = {**params, "head.W": joining}
            batch = task.draw(data_rng, config.batch_size)
            res = bptt(spec, params, batch.x, batch.y, loss=task.loss, engine=engine, mask=batch.mask,
                       check=step == 1)  # later batches come out of the same task and optimiser alike
            res.grads.update(no_grads)
            if step <= config.join_after:
                res.grads.update(not_joined)
            score = task.score(res.y_hat, batch)
            if window is not None:
                window.add(score.correct, score.error)
            met = config.stop == "train" and window.meets(config.stop_wrong, config.stop_error)
            norms = _norms(res.grads, names)
            gnorm = math.hypot(*norms)
            computed_at = params

            problem = _non_finite(res.loss, gnorm)
            clipped = False
            if problem is None:
                grads, clipped = clip_by_value(res.grads, config.clip_value)
                grads, _, by_norm = clip_by_global_norm(grads, config.clip, norm=None if clipped else gnorm)
                clipped = clipped or by_norm
                new_params, new_state = opt.update(params, grads, opt_state)
                if all(np.isfinite(p).all() for p in new_params.values()):
                    params, opt_state = new_params, new_state
                else:  # keep the last finite parameters for Run.params
                    problem = "non-finite parameters after the update"
            block.add(res, score.metric, gnorm, clipped, norms, computed_at, time.perf_counter() - t0)
            done = step
            if problem is not None:
                flush(step)
                status, message, met = "diverged", f"diverged at step {step}: {problem}", False
            else:
                if met or step % every == 0 or step == n:
                    flush(step)
                if met or step == n:
                    met = snapshot(step, "met" if met else "budget")
                elif step % config.record_every == 0:
                    met = snapshot(step)
            if progress is not None:
                last = evals[-1]
                progress(step, n, {"step": step, "loss": float(res.loss), "metric": float(score.metric),
                                   "grad_norm": gnorm, "clipped": bool(clipped),
                                   "eval_loss": last["loss"], "eval_metric": last["metric"]})
            if status == "diverged" or met:
                break
        if status == "stopped":
            flush(done)
            if evals[-1]["step"] != done:
                snapshot(done, "stopped")
    if status == "finished":
        message = ending_text(config, done, met, evals[-1]) if paper else f"finished {n} steps"

    steps = pd.DataFrame({c: v[:filled] for c, v in cols.items()})
    eval_df = _eval_frame(evals, config)
    flow = pd.DataFrame({c: np.concatenate([f[c] for f in flows]) for c in flow_columns(config)})
    return Run(run_id=uuid.uuid4().hex, config=config, status=status, message=message, created_at=created_at,
               wall_time=time.perf_counter() - t0, steps=steps, flow=flow, eval=eval_df,
               params={k: params[k] for k in sorted(params)}, engine=engine,
               engine_version=engines.version(engine))


class Block:
    """The updates since the last steps row. A row holds the mean training loss and metric over its updates, the
    largest gradient norm among them and whether any was clipped; its other columns (the gradient norm per
    parameter, the forget gate, sigma_max of the Wh the update was computed at, the wall time) are its last
    update's. With ``log_every`` 1 a row is one update, as it always was."""

    def __init__(self, spec: ModelSpec, names: list[str]) -> None:
        self.spec, self.names = spec, names
        self.count = 0

    def add(self, res, metric: float, gnorm: float, clipped: bool, norms: list[float], params: dict,
            wall: float) -> None:
        if self.count == 0:
            self.loss = self.metric = 0.0
            self.gmax, self.clipped = -math.inf, False
        self.count += 1
        self.loss += float(res.loss)
        self.metric += metric
        if not gnorm <= self.gmax:  # NaN included
            self.gmax = gnorm
        self.clipped = self.clipped or clipped
        self.forget = res.gates["f"] if self.spec.cell == "lstm" else None
        self.norms, self.params, self.wall = norms, params, wall

    def write(self, cols: dict[str, np.ndarray], i: int, step: int) -> None:
        """Row ``i`` of ``cols`` (the steps table's columns) at update ``step``; the block starts over."""
        cols["step"][i] = step
        cols["loss"][i], cols["metric"][i] = self.loss / self.count, self.metric / self.count
        cols["grad_norm"][i], cols["clipped"][i] = self.gmax, self.clipped
        cols["wall_time"][i] = self.wall
        if self.forget is not None:
            cols["forget_mean"][i] = float(np.mean(self.forget))
        for k, v in zip(self.names, self.norms):
            cols[f"gnorm:{k}"][i] = v
        for k in range(self.spec.layers):
            cols[f"sigma_max:l{k}"][i] = sigma_max(self.params[f"l{k}.Wh"])
        self.count = 0


def _in_turn(fn, items: list) -> list:
    return [fn(item) for item in items]


def _norms(grads: dict[str, np.ndarray], names: list[str]) -> list[float]:
    """``l2_norm`` of each gradient, in the same float64 operations, without its guard against overflow unless a
    sum of squares needs it (the caller ignores floating-point errors already)."""
    out = []
    for k in names:
        a = np.asarray(grads[k], dtype=np.float64).ravel()
        sq = float(np.dot(a, a))
        out.append(math.sqrt(sq) if math.isfinite(sq) else l2_norm(a))
    return out


def _eval_frame(evals: list[dict], config: RunConfig) -> pd.DataFrame:
    return pd.DataFrame(evals, columns=eval_columns(config)).astype({"step": np.int64})


def _non_finite(loss: float, gnorm: float) -> str | None:
    if not math.isfinite(loss):
        return f"non-finite loss ({loss})"
    if not math.isfinite(gnorm):
        return f"non-finite gradient norm ({gnorm})"
    return None


def flow_block(step: int, res, spec: ModelSpec, each: Callable | None = None) -> dict[str, np.ndarray]:
    """Flow rows of one snapshot, (L * T) rows ordered by layer then t, without a loop over t: the columns of
    ``flow_columns`` from the layers' dh, dc (None but for a cell with a cell state) and dacts ((T, B, H),
    (T, B, G*H) each) of a BPTTResult (its (L, ...) arrays) or of anything with ``per_layer(name)`` giving them (a
    StackFlow, whose layers are then never stacked). ``each(fn, arrays)``: how the arrays' norms are computed (an
    engine's ``each``, side by side; default: in turn)."""
    per_layer = getattr(res, "per_layer", None) or (lambda name: None if getattr(res, name) is None
                                                    else list(getattr(res, name)))
    dh, dc, dacts = per_layer("dh"), per_layer("dc") or [], per_layer("dacts")
    L, T = len(dh), dh[0].shape[0]
    G, H = len(spec.gates), spec.hidden_size
    t = np.tile(np.arange(1, T + 1, dtype=np.int64), L)
    # (T,) per dh and dc array, (T, G) per layer's gates
    arrays = dh + dc + [a.reshape(T, a.shape[1], G, H) for a in dacts]
    norms = (each or _in_turn)(lambda a: mean_l2(a[None])[0], arrays)
    block = {
        "step": np.full(L * T, step, dtype=np.int64),
        "layer": np.repeat(np.arange(L, dtype=np.int64), T),
        "t": t,
        "lag": T - t,
        "dh_norm": np.concatenate(norms[:L]),
        "dc_norm": np.concatenate(norms[L : 2 * L]) if dc else np.full(L * T, np.nan),
    }
    dg = np.concatenate(norms[len(norms) - L :])  # (L * T, G): each layer's rows contiguous
    for j, g in enumerate(spec.gates):
        block[f"dg_{g}"] = dg[:, j]
    return block
