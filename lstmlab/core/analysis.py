"""Error-flow analysis shared by train(), the CLI and the dashboard: norms, ratios and run summaries.

Pure numpy/pandas over the tables ``train()`` records (``Run.steps``, ``Run.flow``, ``Run.eval``); no plotting,
no streamlit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstmlab.core.config import RunConfig
from lstmlab.core.tasks import get_task

# Reading a run's error flow (:func:`recovery`, the Error flow reading, a sweep's verdicts).
# The first-step ratio ||dL/dh_1|| / ||dL/dh_T|| has collapsed once its minimum lies COLLAPSE_DECADES below its value
# at initialisation, and has recovered once it climbs back to RECOVERED_RATIO or more: at least 1 % of the error at
# the last step reaches the first (the LSTM that learned the adding problem at T = 100 sits at 0.04-0.2, the RNN's
# ratio wanders between 1e-60 and 1e-5; a threshold relative to the start would count the RNN's wandering when it
# starts low, as at weight scale 0.9). A held-out loss below LEFT_BASELINE x the task's baseline has left the
# baseline (on the adding problem at T = 100 this happens within a recording of the recovery:
# bench/default_study.py); below SOLVED_FRACTION x the baseline the task counts as solved.
COLLAPSE_DECADES = 2.0
RECOVERED_RATIO = 1e-2
LEFT_BASELINE = 0.5
SOLVED_FRACTION = 0.1



def sigma_max(W: np.ndarray, own_blas: bool = False) -> float:
    """Largest singular value over the gate blocks of W (H, G*H).

    Each (H, H) block is one gate's recurrent matrix, the factor that multiplies the error on its way back
    through that gate; with orthogonal or identity init every block's singular values equal the weight scale.
    Computed as sqrt(lambda_max(B B^T)) per block, cheaper than an SVD and exact to rounding for the top
    singular value. ``own_blas``: the products and eigenvalues by the compiled engine's private OpenBLAS at one
    thread (lstmlab.core.engines.blas), not numpy's, whose default threads crawl beside a busy caller (a PyTorch
    training loop: 30 times slower at H = 128 on 2 cores) and may not be limited by a library.
    """
    W = np.asarray(W, dtype=np.float64)
    if not np.isfinite(W).all():
        return math.nan
    H = W.shape[0]
    blocks = W.reshape(H, -1, H).transpose(1, 0, 2)  # (G, H, H)
    if own_blas:
        from lstmlab.core.engines import blas  # loads the private library: only when asked for

        blocks = np.ascontiguousarray(blocks)
        with np.errstate(over="ignore", invalid="ignore"):
            grams = np.stack([blas.matmul(b, b.T) for b in blocks])
        eigvalsh = lambda g: np.stack([blas.eigvalsh(x) for x in g])  # noqa: E731
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            grams = blocks @ blocks.transpose(0, 2, 1)
        eigvalsh = np.linalg.eigvalsh
    try:
        if np.isfinite(grams).all():
            top = np.sqrt(np.maximum(eigvalsh(grams)[:, -1], 0.0))
        else:  # huge but finite weights: squares overflow, the SVD does not
            top = np.linalg.norm(blocks, 2, axis=(1, 2))
    except np.linalg.LinAlgError:
        return math.nan
    return float(top.max())


# A row whose sum of squares is finite and at least SUMSQ_SAFE lost nothing that matters to overflow or underflow:
# no square overflowed, and a square rounded or flushed by underflow (below 2^-1022) is under 2^-222 of the sum.
SUMSQ_SAFE = 2.0**-800


def mean_l2(a: np.ndarray) -> np.ndarray:
    """(L, T, B, ..., H) -> (L, T, ...): L2 norm over the last axis (the hidden units), averaged over the batch
    (axis 2), e.g. (L, T, B, H) -> (L, T), or (L, T, B, G, H) -> (L, T, G) for G gate blocks at once.

    Rows are summed as they are; a row whose sum of squares overflowed, underflowed or came out tiny is
    summed again scaled by its largest magnitude, so neither huge values nor tiny ones (below about 1e-154
    their squares underflow to 0) lose their norm; 0 stays 0, inf and NaN propagate.
    """
    a = np.asarray(a)
    if a.dtype != np.float32:
        a = a.astype(np.float64, copy=False)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        # float32 rows are squared and summed in float64 as they are read: the sums of a float64 copy, without it
        sumsq = np.einsum("...h,...h->...", a, a, dtype=np.float64)
        norms = np.sqrt(sumsq)
        redo = ~(sumsq >= SUMSQ_SAFE) | ~np.isfinite(sumsq)
        if redo.any():
            rows = a[redo].astype(np.float64)
            m = np.max(np.abs(rows), axis=-1, keepdims=True)
            scale = np.where((m > 0) & np.isfinite(m), m, 1.0)
            r = rows / scale
            norms[redo] = scale[:, 0] * np.sqrt(np.einsum("nh,nh->n", r, r))
    return norms.mean(axis=2)


def flow_ratio(flow: pd.DataFrame, step: int, layer: int, column: str = "dh_norm") -> float:
    """||dL/dh_1|| / ||dL/dh_T|| (or another flow column) at one recording step and layer.

    The first over the last time step: how much of the error at the loss reaches the start of the sequence.
    0 when the first is 0 (vanished), inf when the first overflowed; NaN when the step or layer was not
    recorded, the first is NaN, or the last is 0 or not finite (no ratio is defined).
    """
    rows = flow[(flow["step"] == step) & (flow["layer"] == layer)]
    if rows.empty:
        return math.nan
    return norm_ratio(float(rows.loc[rows["t"].idxmin(), column]), float(rows.loc[rows["t"].idxmax(), column]))


def flow_ratios(flow: pd.DataFrame, layer: int, column: str = "dh_norm") -> pd.Series:
    """:func:`flow_ratio` at every recorded step of ``layer`` in one pass: a Series indexed by step, ascending."""
    f = flow[flow["layer"] == layer].sort_values(["step", "t"], kind="stable")
    first = f.drop_duplicates("step", keep="first").set_index("step")[column].astype(float)
    last = f.drop_duplicates("step", keep="last").set_index("step")[column].astype(float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = first / last
    undefined = (last == 0.0) | ~np.isfinite(last) | first.isna()
    return ratio.mask(undefined, math.nan).rename(column)


def norm_ratio(first: float, last: float) -> float:
    """first / last of two error norms: 0 when the first vanished, inf when it overflowed; NaN when no ratio is
    defined (the last is 0 or not finite, or the first is NaN)."""
    if last == 0.0 or not math.isfinite(last) or math.isnan(first):
        return math.nan
    return first / last


def task_info(config: RunConfig) -> dict[str, Any]:
    """What a run's losses are read against: the task's baseline loss and the name of its baseline predictor,
    the metric's name and its chance level, and the loss ("mse" or "xent"). A run recorded elsewhere
    (``config.source``) has no task: no baseline, no chance level (NaN), its loss and metric are its caller's."""
    if config.source:
        return {"baseline": math.nan, "baseline_name": "no baseline (recorded outside the lab)",
                "metric_name": "metric", "chance_metric": math.nan, "loss": "as recorded"}
    task = get_task(config)
    return {"baseline": float(task.baseline), "baseline_name": str(task.baseline_name),
            "metric_name": task.metric_name, "chance_metric": float(task.chance_metric), "loss": task.loss}


def summary(run: Any) -> dict[str, Any]:
    """Headline numbers of a run: status, losses against the task baseline, metric, error-flow ratios.

    ``flow_ratio`` maps each layer to (first recorded step, its ratio, last recorded step, its ratio). A paper
    task's run adds, from its last eval row: ``sequences`` (training sequences seen), ``criterion_met`` (it ended by
    its stopping criterion, not its budget), ``test_size`` and the test set's ``test_wrong``, ``test_loss`` and
    ``test_error`` (NaN without a test set, or while the run has not ended).
    """
    info = task_info(run.config)
    steps, ev, flow = run.steps, run.eval, run.flow
    out: dict[str, Any] = {
        "status": run.status, "message": run.message, "wall_time": float(run.wall_time),
        "steps_done": int(steps["step"].iloc[-1]) if len(steps) else 0,
        "train_loss": float(steps["loss"].iloc[-1]) if len(steps) else math.nan,
        "eval_loss": float(ev["loss"].iloc[-1]) if len(ev) else math.nan,
        "baseline": info["baseline"], "metric_name": info["metric_name"],
        "metric": float(ev["metric"].iloc[-1]) if len(ev) else math.nan,
        "chance_metric": info["chance_metric"],
        "flow_ratio": {},
    }
    if "sequences" in ev.columns and len(ev):
        end = ev.iloc[-1]
        out.update(sequences=int(end["sequences"]), criterion_met=bool(end["stop_met"] == 1.0),
                   test_size=int(run.config.test_size),
                   **{c: float(end[c]) for c in ("test_wrong", "test_loss", "test_error")})
    if len(flow):
        first, last = int(flow["step"].min()), int(flow["step"].max())
        for layer in sorted(flow["layer"].unique()):
            out["flow_ratio"][int(layer)] = (
                first, flow_ratio(flow, first, layer), last, flow_ratio(flow, last, layer))
    return out


@dataclass(frozen=True)
class Recovery:
    """How the first-step ratio r(s) = ||dL/dh_1|| / ||dL/dh_T|| of one layer moved over training steps s.

    ``collapse_ratio`` is the smallest r of the run and ``collapse_step`` the first recording within a decade of
    it; ``recovery_step`` is the first later recording where r is back at RECOVERED_RATIO or above (None: never),
    ``recovery_ratio`` r there. ``left_baseline_step`` is the first recording whose
    held-out loss is below LEFT_BASELINE x ``baseline`` (None: never) and ``left_baseline_loss`` that loss.
    """

    initial_ratio: float
    collapse_step: int
    collapse_ratio: float
    recovery_step: int | None
    recovery_ratio: float
    left_baseline_step: int | None
    left_baseline_loss: float
    baseline: float


def recovery(flow: pd.DataFrame, evals: pd.DataFrame, baseline: float, layer: int = 0) -> Recovery | None:
    """The collapse and recovery of a run's error flow at t = 1, read from its flow and eval tables.

    With r(s) the ratio at recording s and r_min its minimum: the ratio collapsed when
    r_min <= r(0) / 10^COLLAPSE_DECADES, and recovered at the first recording after the minimum with
    r >= RECOVERED_RATIO. Returns None when the ratio never collapsed (or
    r(0) is not a finite positive number: nothing to fall from). Recordings whose ratio is undefined (NaN) are
    skipped.
    """
    known = [(int(s), float(r)) for s, r in flow_ratios(flow, layer).items() if not math.isnan(r)]
    if len(known) < 2 or not (math.isfinite(known[0][1]) and known[0][1] > 0):
        return None
    r0 = known[0][1]
    ratios = np.array([r for _, r in known])
    lowest = int(np.argmin(ratios))
    r_min = float(ratios[lowest])
    if r_min > r0 / 10.0**COLLAPSE_DECADES:
        return None
    collapse_step = next(s for s, r in known if r <= r_min * 10.0)
    back = np.flatnonzero(ratios[lowest + 1:] >= RECOVERED_RATIO)
    recovered_at = lowest + 1 + int(back[0]) if back.size else None
    left = evals[evals["loss"] < LEFT_BASELINE * baseline].sort_values("step")
    return Recovery(
        initial_ratio=r0, collapse_step=collapse_step, collapse_ratio=r_min,
        recovery_step=known[recovered_at][0] if recovered_at is not None else None,
        recovery_ratio=known[recovered_at][1] if recovered_at is not None else math.nan,
        left_baseline_step=int(left["step"].iloc[0]) if len(left) else None,
        left_baseline_loss=float(left["loss"].iloc[0]) if len(left) else math.nan,
        baseline=float(baseline))
