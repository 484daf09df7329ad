"""Runs: the run store as a table; overlay, rename, tag, delete and export stored runs."""

import streamlit as st

from lstmlab.store import may_change
from lstmlab.ui import auth, cached, charts, live, nav, run_picker, run_store, state, widgets
from lstmlab.views import settings, tables, text
from lstmlab.views.settings import RUN_OWNERS

nav.ensure_router()

RUN_TABLE_COLUMNS = ["name", "tags", "source", "cell", "task", "seq_len", "hidden_size", "layers", "weight_scale",
                     "init", "optimizer", "lr", "steps", "seed", "status", "created", "wall_time", "id"]


def runs_filter_ui(values: dict, signed_in: bool) -> tuple[str, str]:
    """Filters of the Runs page (seeded from the URL): returns (text query, whose runs: "everyone" or "mine").
    Without sign-in every run is listed and only the text filter is drawn."""
    state.seed_widgets("runs", values)
    c1, c2 = st.columns([3, 1]) if signed_in else (st.container(), None)
    query = c1.text_input("Filter runs", key=state.widget_key("runs", "q"),
                          placeholder="name, tag, cell, task, status or id",
                          help="Case-insensitive; matches any of these columns.")
    if c2 is None:
        return query, "everyone"
    who = c2.segmented_control("Show runs of", RUN_OWNERS, key=state.widget_key("runs", "who"),
                               required=True, help="Everyone's runs, or only the runs you saved.")
    return query, who


def overlay_lines(flows: dict):
    """(lines, log-axis domain) of the selected runs' error flow at layer 0: initialisation and each run's last
    recording, without the RNN reference line (the runs' weight scales differ)."""
    lines = tables.flow_lines(flows, layer=0, weight_scale=None)
    lines["phase"] = lines["phase"].where(lines["phase"] == "at initialisation", "after training")
    return lines, charts.lines_domain(lines)


def run_actions_ui(selected: list[str], labels: dict[str, str], read_only: list[str]) -> tuple[str, object]:
    """Rename, tag and delete controls for the selected runs, disabled when any of them is ``read_only`` (another
    user's): returns (action, argument) or ("", None)."""
    if not selected:
        return "", None
    if read_only:
        st.caption(f"{len(read_only)} of the selected runs belong to someone else: you may compare and export "
                   "them, not rename, tag or delete them.")
    locked = bool(read_only)
    c1, c2, c3 = st.columns(3)
    with c1.form("runs.rename_form", border=True):
        name = st.text_input("New name", key="runs.new_name", disabled=len(selected) != 1 or locked,
                             help="Select exactly one run to rename it.")
        if st.form_submit_button("Rename", disabled=len(selected) != 1 or locked):
            return "rename", name
    with c2.form("runs.tag_form", border=True):
        tags = st.text_input("Tags (comma-separated, replace the current ones)", key="runs.new_tags",
                             disabled=locked)
        if st.form_submit_button(f"Tag {len(selected)} run(s)", disabled=locked):
            return "tag", [t.strip() for t in tags.split(",") if t.strip()]
    with c3.form("runs.delete_form", border=True):
        sure = st.checkbox(f"Yes, delete {len(selected)} run(s) for good", key="runs.confirm_delete",
                           disabled=locked)
        if st.form_submit_button("Delete", type="primary", disabled=locked):
            return ("delete", None) if sure else ("unconfirmed", None)
    return "", None


st.title("Runs")
st.markdown("Every run trained in the dashboard (and by `python -m lstmlab run`) is kept in the run store. "
            "Select runs to overlay their error flow and loss, export them as CSV, or rename, tag and delete them.")

actor = auth.actor()
values = state.read_params("runs")
query, who = runs_filter_ui(values, signed_in=actor is not None)
state.write_params("runs", {"q": query, **({"who": who} if actor is not None else {})})

try:
    table = run_store.list_runs(query, owner=actor.email if actor is not None and who == "mine" else None)
except ValueError as e:
    widgets.show_error(e)
    st.stop()
if table.empty:
    st.info("No runs match." if query else "No runs yet: train some on the Error flow page.",
            icon=":material/inventory_2:")
    st.stop()
columns = RUN_TABLE_COLUMNS if actor is None else ["owner", *RUN_TABLE_COLUMNS]
st.dataframe(tables.runs_table(table)[columns], hide_index=True, width="stretch",
             column_config={"wall_time": st.column_config.NumberColumn("wall time (s)", format="%.1f"),
                            "weight_scale": st.column_config.NumberColumn("weight scale", format="%.3g"),
                            "lr": st.column_config.NumberColumn(format="%.2g"),
                            "created": st.column_config.DatetimeColumn("created (UTC)",
                                                                       format="YYYY-MM-DD HH:mm:ss"),
                            "source": st.column_config.TextColumn(
                                help="Where the run was recorded: lstmlab for the lab's own runs; a run recorded "
                                     "from PyTorch (lstmlab.torch.watch) names its module, dtype and device")})
st.caption(f"{len(table)} run(s).")

labels = {r["id"]: text.run_label(r) for r in table.to_dict("records")}
selected = run_picker.run_select_ui(list(table["id"]), labels)
if not selected:
    st.caption("Select runs above to compare, export or edit them.")
    st.stop()

owners = dict(zip(table["id"], table["owner"]))
action, arg = run_actions_ui(selected, labels, [r for r in selected if not may_change(actor, owners[r])])
if action:
    message = run_store.apply_action(action, arg, selected, actor=actor)
    if message.startswith("!"):
        st.error(message[1:], icon=":material/error:")
    else:
        st.toast(message)
        st.rerun()

if len(selected) <= settings.MAX_OPENED_RUNS:
    o1, o2 = st.columns(2)
    o1.page_link("pages/error_flow.py", label=f"Open the {len(selected)} selected run(s) in Error flow",
                 icon=":material/stacked_line_chart:", query_params=settings.opened_runs_params(selected))
    o2.page_link("pages/training.py", label=f"Open the {len(selected)} selected run(s) in Training",
                 icon=":material/show_chart:", query_params=settings.opened_runs_params(selected))
else:
    st.caption(f"Select at most {settings.MAX_OPENED_RUNS} runs to open them in Error flow and Training.")
chosen = run_store.load_runs(table[table["id"].isin(selected)])
# The exports are built when a button is clicked (a callable as data), not on every rerun of the page.
d1, d2, d3, d4 = st.columns(4)
for col, tbl in zip((d1, d2, d3), ("steps", "flow", "eval")):
    col.download_button(f"{tbl}.csv", run_store.csv_export(chosen, tbl), file_name=f"lstmlab-{tbl}.csv",
                        mime="text/csv", on_click="ignore", icon=":material/download:", key=f"runs.dl_{tbl}")
d4.download_button("All tables (zip)", run_store.zip_export(chosen), file_name="lstmlab-runs.zip",
                   mime="application/zip", on_click="ignore", icon=":material/folder_zip:", key="runs.dl_zip")
flows = {label: run.flow for label, run in chosen.items() if run.flow is not None and not run.flow.empty}
key = live.runs_key(chosen)  # the overlay's tables and charts are built once per selection and state of its runs
if flows:
    st.info(cached.memo("runs.reading", key, lambda: text.reading(
        flows, {label: run.status for label, run in chosen.items()})), icon=":material/insights:")
    lines, domain = cached.memo("runs.lines", key, lambda: overlay_lines(flows))
    cols = st.columns(2)
    for col, phase in zip(cols, ["at initialisation", "after training"]):
        if (lines["phase"] == phase).any():
            col.markdown(f"**Error reaching each time step, {phase}** (layer 0)")
            cached.chart(col, "runs.lag", (key, phase), lambda phase=phase: charts.flow_lag_chart(
                lines, phase, domain, phase))
steps = {label: run.steps for label, run in chosen.items()}
evals = {label: run.eval for label, run in chosen.items()}
st.markdown("**Loss** (thin: training batch, points: held-out batch)")
cached.chart(st, "runs.loss", key, lambda: charts.training_chart(tables.training_long(steps, evals, "loss"), "",
                                                                 "loss (log scale)", None, log=True))
