"""Results kept for every session of the server process (st.cache_data, bounded): probes (returning to a setting
of Phase map or Inside the LSTM is instant), and what a page draws from them or from stored runs.

A drawn chart is built once per key (:func:`chart`): its table, the Altair chart and the Vega-Lite spec Streamlit
draws are made on the first view and reused by every later one, in any session. The spec is Streamlit's conversion
without Altair's validation against Vega-Lite's JSON schema, which took a third of a live redraw's CPU under a
process-wide lock; the tests validate every chart the pages draw instead (tests/conftest.py). Keys name everything
the chart is built from: a stored run by its id and how much of it is recorded (lstmlab.ui.live.runs_key), so a run
in flight is rebuilt only when it recorded something new; settings by value.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Hashable

import altair as alt
import streamlit as st

# What st.altair_chart's conversion uses (Altair's to_dict with Streamlit's theme handling and its data as Arrow
# datasets, under Streamlit's lock for Altair's global settings): run once per key here, so the cached spec draws
# exactly the same chart (tested against Streamlit's own conversion).
from streamlit.elements.vega_charts import _altair_globals_lock, _to_arrow_dataset

from lstmlab.core import analysis
from lstmlab.views import limits as L
from lstmlab.views import probes

alt.data_transformers.register("to_arrow_dataset", _to_arrow_dataset)  # the name and function Streamlit registers


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


def vega_lite_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec ``st.altair_chart(chart)`` draws (its data as Arrow IPC bytes under ``datasets``), for
    ``st.vega_lite_chart``: Streamlit's conversion, with Altair's schema validation left to the tests."""
    datasets: dict = {}
    with _altair_globals_lock:
        theme = alt.theme.enable("none") if alt.theme.active == "default" else contextlib.nullcontext()
        with theme, alt.data_transformers.enable("to_arrow_dataset", datasets=datasets):
            spec = chart.to_dict(validate=False)
    spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return spec


@st.cache_data(max_entries=L.VIEW_CACHE_ENTRIES, show_spinner=False)
def memo(name: str, key: Hashable, _build: Callable[[], Any]) -> Any:
    """``_build()``, computed once per (``name``, ``key``) for every session: ``key`` must name everything
    ``_build`` reads (each call returns a copy)."""
    return _build()


@st.cache_data(max_entries=L.VIEW_CACHE_ENTRIES, show_spinner=False)
def _spec(name: str, key: Hashable, _build: Callable[[], alt.TopLevelMixin]) -> dict:
    return vega_lite_spec(_build())


def chart(where, name: str, key: Hashable, build: Callable[[], alt.TopLevelMixin], width="stretch") -> None:
    """Draw the chart ``build()`` returns in ``where`` (``st`` or a container), building it and its Vega-Lite spec
    once per (``name``, ``key``) for every session; ``key`` must name everything ``build`` reads. Drawn as
    ``st.altair_chart(build(), width=width)`` would draw it, theme included."""
    where.vega_lite_chart(_spec(name, key, build), width=width)
