"""Widget helpers: each ``*_ui()`` draws widgets and returns plain values. Widgets are keyed through
lstmlab.ui.state so the URL can seed them."""

from __future__ import annotations

import os

import streamlit as st

from lstmlab.ui import limits as L
from lstmlab.ui import state as S


def sidebar_ui() -> None:
    """Shared sidebar elements below the navigation."""
    with st.sidebar:
        st.caption(
            "lstmlab trains RNN, LSTM and GRU networks with hand-written backpropagation through time in numpy "
            "and records how the error signal flows back through the steps."
        )
        db = os.environ.get("LSTMLAB_DB")
        if db:
            st.caption(f"Run store: `{db}`")
        st.caption("Larger experiments: `python -m lstmlab run --help`")


def why_controls_ui(values: dict) -> tuple[float, int]:
    """Sliders for the scalar recurrence on the landing page: returns (w, T)."""
    S.seed_widgets("why", values)
    c1, c2 = st.columns(2)
    w = c1.slider(
        "Recurrent weight w", L.W_MIN, L.W_MAX, step=0.01, key=S.widget_key("why", "w"),
        help="The factor the error is multiplied by at every step it travels back (σ_max(W_h)·γ in a network).",
    )
    T = c2.slider(
        "Steps back T", L.POWER_T_MIN, L.POWER_T_MAX, step=1, key=S.widget_key("why", "T"),
        help="How many time steps separate the input that mattered from the loss.",
    )
    return float(w), int(T)
