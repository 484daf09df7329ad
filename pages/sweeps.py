"""Sweeps: a named grid of configs × seeds trained as jobs; its progress, the trained phase map with verdicts and the
longest sequence length each cell solved."""

import pandas as pd
import streamlit as st

from lstmlab.core.analysis import SOLVED_FRACTION
from lstmlab.core.config import CELLS
from lstmlab.runs.status import ENDED_STATUSES
from lstmlab.ui import cached, charts, live, nav, state, sweep_data
from lstmlab.views import export, sweep_summary, tables, text
from lstmlab.views.settings import CELL_LABELS

nav.ensure_router()

st.title("Sweeps")
st.markdown(
    "A sweep trains every combination of some settings for several seeds, as jobs. Here: how far it has come, and "
    "what it found — for each cell, whether it learned the task over sequence length × initial weight scale (the "
    f"median held-out loss over seeds against the task's baseline; below {SOLVED_FRACTION:g} × the baseline counts "
    "as solved), and the longest sequence each cell solved, the lab's version of Hochreiter & Schmidhuber's (1997) "
    "comparison. A sweep is the runs submitted under its name, for example:"
)
st.code("""import itertools
from lstmlab import jobs
from lstmlab.core.config import RunConfig

grid = itertools.product(("rnn", "lstm", "gru"), (10, 20, 50, 100), (0.5, 1.0, 1.5), range(3))
for cell, T, w, seed in grid:
    jobs.submit(RunConfig(cell=cell, seq_len=T, weight_scale=w, seed=seed, steps=1500),
                store_url="lstmlab-data/runs.db", sweep="lag-limit")""", language="python")

values = state.read_params("sweeps")
names = sweep_data.sweep_names()
if not names:
    st.info("No sweep in the run store yet.", icon=":material/info:")
    st.stop()
name = st.selectbox("Sweep", names, index=names.index(values["name"]) if values["name"] in names else 0,
                    key="sweeps.name")
state.write_params("sweeps", {"name": name})


def draw() -> bool:
    """The sweep's progress, phase map, longest-solved table and CSV download, as the store holds them now;
    True while any of its runs is queued or running."""
    progress, outcomes = sweep_data.sweep_state(name)
    in_flight = progress["running"] + progress["queued"] > 0
    done = sum(progress[s] for s in ENDED_STATUSES)
    st.progress(progress["steps_done"] / max(progress["steps_total"], 1),
                text=f"{done} of {progress['runs']} runs ended · {progress['running']} running · "
                     f"{progress['queued']} queued · {progress['lost']} lost · "
                     f"{progress['steps_done']:,} of {progress['steps_total']:,} training steps")
    if progress["lost"]:
        st.caption("Lost runs are submitted again by re-running the sweep's command.")
    if outcomes.empty:
        st.info("None of its runs has started yet.")
        return in_flight
    summary = sweep_summary.summarise(outcomes)
    st.subheader("Trained phase map")
    st.caption("Colour: log10 of the median held-out loss over the baseline (blue: below the solved threshold; "
               "orange: at the baseline). ✓ solved, ✗ unsolved, … runs still in flight. Hover a square for the "
               "spread over seeds. Other swept settings are pooled with the seeds.")
    key = tuple(pd.util.hash_pandas_object(summary, index=False))
    table = cached.memo("sweeps.table", key, lambda: tables.sweep_map_table(summary))
    for i, (col, cell) in enumerate(zip(st.columns(len(CELLS)), charts.panel_cells(table))):
        cached.chart(col, "sweeps.map", (key, cell), lambda cell=cell, first=i == 0: charts.sweep_map_chart(
            table, cell, legend=first))
    st.subheader("Longest sequence length solved")
    longest = sweep_summary.longest_solved(summary)
    st.dataframe(longest.assign(cell=longest["cell"].map(CELL_LABELS)), hide_index=True, column_config={
        "longest_solved": st.column_config.NumberColumn("longest T solved", help="0: none of its lengths"),
        "weight_scale": st.column_config.NumberColumn("at weight scale", format="%g"),
        "eval_loss_median": st.column_config.NumberColumn("median held-out loss there", format="%.3g"),
        "longest_tried": st.column_config.NumberColumn("longest T tried")})
    with st.expander("Every grid point"):
        st.dataframe(summary.assign(cell=summary["cell"].map(CELL_LABELS)), hide_index=True)
    st.download_button("Sweep summary (CSV)", export.frame_csv(summary), file_name=f"lstmlab-sweep-{name}.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:", key="sweeps.csv")
    st.caption(text.escape_markdown(f"Sweep {name}: {len(outcomes)} runs in the store."))
    return in_flight


live.refreshing(draw, lambda: sweep_data.in_flight(name))
