"""Pickers of stored runs: one run (Inside the LSTM) or several (Runs)."""

from __future__ import annotations

import streamlit as st

from lstmlab.ui import state
from lstmlab.views.text import escape_markdown


def stored_run_ui(ids: list[str], labels: dict[str, str]) -> str:
    """Pick one stored run (newest first). The URL may name it by id or unique id prefix; an empty or unknown
    value falls back to the newest (with a warning if it named a run)."""
    key = state.widget_key("inside", "run")
    current = str(st.session_state.get(key) or "")
    if current not in ids:
        found = [i for i in ids if current and i.startswith(current)]
        if len(found) != 1 and current:
            st.warning(f"No single stored LSTM run with parameters has the id "
                       f"{escape_markdown(current, code=True, limit=40)}; showing the newest.",
                       icon=":material/link_off:")
        st.session_state[key] = found[0] if len(found) == 1 else ids[0]
    return st.selectbox("Stored LSTM run", ids, key=key, format_func=lambda rid: labels.get(rid, rid),
                        help="LSTM runs of the run store saved with their parameters, newest first.")


def run_select_ui(options: list[str], labels: dict[str, str]) -> list[str]:
    """Runs to compare (ids): returns the ticked ids, newest first."""
    keep = [r for r in st.session_state.get("runs_selected", []) if r in options]
    st.session_state["runs_selected"] = keep
    return st.multiselect("Runs to compare, export or edit", options, key="runs_selected",
                          format_func=lambda rid: labels.get(rid, rid))
