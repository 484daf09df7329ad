"""The upload box of the forecast task: a CSV file, one of its columns, or the synthetic series."""

from __future__ import annotations

import streamlit as st

from lstmlab.views import limits as L
from lstmlab.views import series_csv
from lstmlab.views.text import escape_markdown


def forecast_upload_ui(seq_len: int) -> tuple[tuple | None, str]:
    """Upload a CSV for the forecast task and pick a column: returns (series or None, name).

    A bad file or column shows an error and leaves the previously accepted series (session state) unchanged.
    """
    ss = st.session_state
    with st.expander("Forecast data: upload a CSV (used when the task is *Forecast a series*)"):
        f = st.file_uploader("CSV file", type=["csv", "txt"], key="forecast.file",
                             help=f"One value per row; up to {L.UPLOAD_MAX_ROWS:,} rows and "
                                  f"{L.UPLOAD_MAX_BYTES / 1e6:.0f} MB.")
        if f is not None:
            try:
                df = series_csv.read_csv(f.getvalue(), f.name)
                col = st.selectbox("Column", list(df.columns), key="forecast.column")
                sig = (f.file_id, col, seq_len)
                if ss.get("_forecast_sig") != sig:  # accept a file/column once, so "synthetic" can override it
                    series = series_csv.series_from(df, col, seq_len)
                    ss["forecast_series"] = (f"{f.name}:{col}"[:200], series)  # RunConfig.series_name's limit
                    ss["_forecast_sig"] = sig
            except ValueError as e:
                st.error(escape_markdown(e), icon=":material/error:")
        current = ss.get("forecast_series")
        if current:
            c1, c2 = st.columns([3, 1])
            c1.caption(f"Using **{escape_markdown(current[0])}** ({len(current[1]):,} values, z-scored by the task).")
            if c2.button("Use the synthetic series", key="forecast.clear"):
                ss["forecast_series"] = None
                current = None
        else:
            st.caption("No file: the forecast task uses a synthetic sum of sines with noise.")
    if current:
        return current[1], current[0]
    return None, ""
