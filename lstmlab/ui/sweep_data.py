"""A sweep as the Sweeps page reads it from the run store: the sweeps recorded, the progress of the runs submitted
under a sweep's name and each run's outcome (lstmlab.views.sweep_summary), cached per run and progress so a live page
reloads only the runs that moved."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lstmlab.runs.status import ACTIVE_STATUSES, STATUSES
from lstmlab.ui.run_store import store
from lstmlab.views import limits as L
from lstmlab.views import sweep_summary
from lstmlab.views.sweep_summary import OUTCOME_COLUMNS, run_outcomes


def sweep_names() -> list[str]:
    """Names of the sweeps in the run store (lstmlab.views.sweep_summary.sweep_names)."""
    return sweep_summary.sweep_names(store())


@st.cache_data(max_entries=L.SWEEP_CACHE_ENTRIES, show_spinner=False)
def _outcome(run_id: str, status: str, step: int) -> pd.DataFrame:
    """The outcome row of one run; ``status`` and ``step`` are the cache key's record of its progress."""
    return run_outcomes([store().load(run_id)])


def sweep_state(name: str) -> tuple[dict, pd.DataFrame]:
    """(progress of sweep ``name``: its runs in each status, "runs", "steps_done" and "steps_total"; the outcomes
    of its runs so far)."""
    rows = store().list(sweep=name)
    progress = {s: int((rows["status"] == s).sum()) for s in STATUSES}
    progress.update(runs=len(rows), steps_done=int(rows["step"].sum()), steps_total=int(rows["steps"].sum()))
    frames = [_outcome(str(r["id"]), str(r["status"]), int(r["step"])) for _, r in rows.iterrows()]
    outcomes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTCOME_COLUMNS)
    return progress, outcomes


def in_flight(name: str) -> bool:
    """Whether any run of sweep ``name`` is queued or running."""
    return bool(store().list(sweep=name)["status"].isin(ACTIVE_STATUSES).any())
