"""Cached probes (st.cache_data, bounded): returning to a setting of Phase map or Inside the LSTM is instant."""

from __future__ import annotations

import streamlit as st

from lstmlab.ui import limits as L
from lstmlab.ui import probes
from lstmlab.ui.runs import single_threaded


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner="Initialising networks and backpropagating…")
def phase_map(cells: tuple, scales: tuple, lengths: tuple, hidden: int, init: str, forget_bias: float, seed: int):
    with single_threaded():
        return probes.phase_map(list(cells), list(scales), list(lengths), hidden, init, forget_bias, seed)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def spectrum(cell: str, weight_scale: float, seq_len: int, hidden: int, init: str, forget_bias: float, seed: int):
    with single_threaded():
        return probes.spectrum(cell, weight_scale, seq_len, hidden, init, forget_bias, seed)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def lstm_inside(seq_len: int, hidden: int, weight_scale: float, init: str, forget_bias: float, task: str, seed: int):
    with single_threaded():
        return probes.lstm_inside(seq_len, hidden, weight_scale, init, forget_bias, task, seed,
                                  batch=L.INSIDE_BATCH_MAX)
