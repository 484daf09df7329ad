"""Runs: the run store as a table; overlay, rename, tag, delete and export stored runs."""

import streamlit as st

from lstmlab.ui import nav, runs, state, views, widgets

nav.ensure_router()

st.title("Runs")
st.markdown("Every run trained in the dashboard (and by `python -m lstmlab run`) is kept in the run store. "
            "Select runs to overlay their error flow and loss, export them as CSV, or rename, tag and delete them.")

values = state.read_params("runs")
query = widgets.runs_filter_ui(values)
state.write_params("runs", {"q": query})

try:
    table = runs.list_runs(query)
except ValueError as e:
    widgets.show_error(e)
    st.stop()
if table.empty:
    st.info("No runs match." if query else "No runs yet: train some on the Error flow page.",
            icon=":material/inventory_2:")
    st.stop()
st.dataframe(table[runs.RUN_TABLE_COLUMNS], hide_index=True, width="stretch",
             column_config={"wall_time": st.column_config.NumberColumn("wall time (s)", format="%.1f"),
                            "weight_scale": st.column_config.NumberColumn("weight scale", format="%.3g"),
                            "lr": st.column_config.NumberColumn(format="%.2g"),
                            "created": st.column_config.DatetimeColumn("created (UTC)",
                                                                       format="YYYY-MM-DD HH:mm:ss")})
st.caption(f"{len(table)} run(s).")

labels = {r["id"]: runs.run_label(r) for r in table.to_dict("records")}
selected = widgets.run_select_ui(list(table["id"]), labels)
if not selected:
    st.caption("Select runs above to compare, export or edit them.")
    st.stop()

action, arg = widgets.run_actions_ui(selected, labels)
if action:
    message = runs.apply_action(action, arg, selected)
    if message.startswith("!"):
        st.error(message[1:], icon=":material/error:")
    else:
        st.toast(message)
        st.rerun()

chosen = runs.load_runs(table[table["id"].isin(selected)])
# The exports are built when a button is clicked (a callable as data), not on every rerun of the page.
d1, d2, d3, d4 = st.columns(4)
for col, tbl in zip((d1, d2, d3), ("steps", "flow", "eval")):
    col.download_button(f"{tbl}.csv", runs.csv_export(chosen, tbl), file_name=f"lstmlab-{tbl}.csv",
                        mime="text/csv", on_click="ignore", icon=":material/download:", key=f"runs.dl_{tbl}")
d4.download_button("All tables (zip)", runs.zip_export(chosen), file_name="lstmlab-runs.zip",
                   mime="application/zip", on_click="ignore", icon=":material/folder_zip:", key="runs.dl_zip")
views.runs_overlay_view(chosen)
