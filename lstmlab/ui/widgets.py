"""Small widgets every page may use: the shared sidebar, the layer picker and how an error is shown."""

from __future__ import annotations

import os

import streamlit as st

from lstmlab.ui.run_store import shown_url
from lstmlab.views.text import escape_markdown


def sidebar_ui(show_store: bool = True) -> None:
    """Shared sidebar elements below the navigation; ``show_store``: name where the run store is (a hosted lab
    shows it only to its admins)."""
    with st.sidebar:
        st.caption(
            "lstmlab trains RNN, LSTM and GRU networks with hand-written backpropagation through time in numpy "
            "and records how the error signal flows back through the steps."
        )
        db = os.environ.get("LSTMLAB_DB")
        if db and show_store:
            st.caption(f"Run store: {escape_markdown(shown_url(db), code=True)}")
        st.caption("Larger experiments: `python -m lstmlab run --help`")


def layer_ui(layers: int, key: str) -> int:
    """Which layer's error flow to show (only drawn for multi-layer runs)."""
    if layers <= 1:
        return 0
    return int(st.selectbox("Layer", list(range(layers)), key=key,
                            format_func=lambda k: f"layer {k}" + (" (next to the input)" if k == 0 else
                                                                  " (next to the output)" if k == layers - 1
                                                                  else "")))


def show_error(e: Exception) -> None:
    """A library error shown to a person: its message, never a traceback."""
    st.error(str(e), icon=":material/error:")
