"""What a sweep found: per cell, held-out loss and a solved/unsolved verdict over sequence length x weight scale,
the median over seeds with its spread, and the longest sequence length each cell solved (the lab's version of
Hochreiter & Schmidhuber's 1997 comparison). Pure pandas over runs (sweep_names reads a store it is handed); no
streamlit.

A run's outcome is its last held-out loss against its task's baseline (the loss of the best input-blind
predictor): a loss below SOLVED_FRACTION x baseline solves the task. A diverged or failed run solved nothing
(its loss counts as inf); a run still queued or running has no outcome yet and leaves its cell pending.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from lstmlab.core.analysis import SOLVED_FRACTION, flow_ratio, task_info
from lstmlab.core.config import CELLS
from lstmlab.runs.status import ENDED_STATUSES

GRID = ("cell", "seq_len", "weight_scale")  # the axes of the phase map: one summary row per combination
OUTCOME_COLUMNS = ["run_id", *GRID, "seed", "status", "steps_done", "steps", "eval_loss", "baseline",
                   "first_step_ratio", "solved"]
SUMMARY_COLUMNS = [*GRID, "runs", "done", "solved_runs", "eval_loss_median", "eval_loss_min", "eval_loss_max",
                   "baseline", "loss_over_baseline", "first_step_ratio_median", "verdict"]
LONGEST_COLUMNS = ["cell", "longest_solved", "weight_scale", "eval_loss_median", "longest_tried"]
FAILED = ("diverged", "failed")  # ended without a usable network: solved nothing
VERDICTS = ("solved", "unsolved", "pending")


def sweep_names(store: Any) -> list[str]:
    """Names of the sweeps in a run store (lstmlab.store.RunStore): those recorded with their spec, newest first,
    then those only named by the runs submitted under them."""
    recorded = [str(n) for n in store.sweeps()["name"]]
    named = sorted(str(n) for n in store.list()["sweep"].dropna().unique() if n)
    return recorded + [n for n in named if n not in recorded]


def run_outcomes(runs: Iterable[Any]) -> pd.DataFrame:
    """One row per run (columns OUTCOME_COLUMNS): its grid cell, seed, status, progress, last held-out loss
    (inf for a diverged or failed run, NaN while it is in flight), the task's baseline, the first-step ratio
    ||dL/dh_1|| / ||dL/dh_T|| of layer 0 at its last recording and whether it solved the task (None in flight)."""
    rows = []
    for run in runs:
        c = run.config
        ev, flow = run.eval, run.flow
        ended = run.status in ENDED_STATUSES
        loss = float(ev["loss"].iloc[-1]) if ev is not None and len(ev) else math.nan
        if run.status in FAILED or (ended and not math.isfinite(loss)):
            loss = math.inf
        baseline = task_info(c)["baseline"]
        last = int(flow["step"].max()) if flow is not None and len(flow) else None
        rows.append({
            "run_id": run.run_id, "cell": c.cell, "seq_len": c.seq_len, "weight_scale": c.weight_scale,
            "seed": c.seed, "status": run.status, "steps_done": int(len(run.steps)) if run.steps is not None else 0,
            "steps": c.steps, "eval_loss": loss if ended else math.nan, "baseline": baseline,
            "first_step_ratio": flow_ratio(flow, last, 0) if last is not None else math.nan,
            "solved": bool(loss < SOLVED_FRACTION * baseline) if ended else None,
        })
    return pd.DataFrame.from_records(rows, columns=OUTCOME_COLUMNS)


def summarise(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, seq_len, weight_scale) (columns SUMMARY_COLUMNS), ordered by them (cells in CELLS order).

    Over the seeds that ended: the median held-out loss with its min and max, the median over the baseline, how
    many seeds solved the task, the median first-step ratio. The verdict is "pending" while any of the cell's runs
    is in flight, else "solved" when the median loss is below SOLVED_FRACTION x baseline, else "unsolved".
    """
    rows = []
    for key, g in outcomes.groupby(list(GRID), sort=True):
        done = g[g["status"].isin(ENDED_STATUSES)]
        losses = done["eval_loss"].to_numpy(dtype=float)
        baseline = float(g["baseline"].iloc[0])
        median = float(np.median(losses)) if len(losses) else math.nan
        ratios = done["first_step_ratio"].to_numpy(dtype=float)
        ratios = ratios[~np.isnan(ratios)]
        if len(done) < len(g):
            verdict = "pending"
        else:
            verdict = "solved" if median < SOLVED_FRACTION * baseline else "unsolved"
        rows.append({
            **dict(zip(GRID, key)), "runs": len(g), "done": len(done), "solved_runs": int(done["solved"].sum()),
            "eval_loss_median": median, "eval_loss_min": float(losses.min()) if len(losses) else math.nan,
            "eval_loss_max": float(losses.max()) if len(losses) else math.nan, "baseline": baseline,
            "loss_over_baseline": median / baseline if baseline > 0 else math.nan,
            "first_step_ratio_median": float(np.median(ratios)) if len(ratios) else math.nan, "verdict": verdict,
        })
    out = pd.DataFrame.from_records(rows, columns=SUMMARY_COLUMNS)
    order = out["cell"].map({c: i for i, c in enumerate(CELLS)})
    return out.iloc[np.lexsort((out["weight_scale"], out["seq_len"], order))].reset_index(drop=True)


def longest_solved(summary: pd.DataFrame) -> pd.DataFrame:
    """Per cell (columns LONGEST_COLUMNS): the longest sequence length it solved at any weight scale (0: none),
    the weight scale that solved it with the lowest median loss, that loss, and the longest length tried."""
    rows = []
    for cell, g in summary.groupby("cell", sort=False):
        solved = g[g["verdict"] == "solved"]
        row = {"cell": cell, "longest_solved": 0, "weight_scale": math.nan, "eval_loss_median": math.nan,
               "longest_tried": int(g["seq_len"].max())}
        if len(solved):
            at = solved[solved["seq_len"] == solved["seq_len"].max()]
            best = at.loc[at["eval_loss_median"].idxmin()]
            row.update(longest_solved=int(best["seq_len"]), weight_scale=float(best["weight_scale"]),
                       eval_loss_median=float(best["eval_loss_median"]))
        rows.append(row)
    return pd.DataFrame.from_records(rows, columns=LONGEST_COLUMNS)
