"""Cached probes (st.cache_data, bounded): returning to a setting of Phase map or Inside the LSTM is instant."""

from __future__ import annotations

import streamlit as st

from lstmlab import analysis, probes
from lstmlab import limits as L


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner="Initialising networks and backpropagating…")
def phase_map(cells: tuple, scales: tuple, lengths: tuple, hidden: int, init: str, forget_bias: float, seed: int):
    return probes.phase_map(list(cells), list(scales), list(lengths), hidden, init, forget_bias, seed)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def spectrum(cell: str, weight_scale: float, seq_len: int, hidden: int, init: str, forget_bias: float, seed: int):
    return probes.spectrum(cell, weight_scale, seq_len, hidden, init, forget_bias, seed)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def lstm_inside(network: str, seed: int, layer: int, _config, _params=None) -> dict:
    """One pass of an LSTM on a fresh batch of its task (probes.lstm_inside).

    ``network`` names the parameters and is the cache key with seed and layer: "init:<config key>" for the
    initialisation of ``_config`` (``_params`` None), "trained:<config key>" or "run:<run id>" for trained ones.
    """
    return probes.lstm_inside(_config, _params, seed, layer=layer, batch=L.INSIDE_BATCH_MAX)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def task_info(key: str, _config) -> dict:
    """analysis.task_info of a config, cached by its key (a forecast task builds its series)."""
    return analysis.task_info(_config)
