"""The study shared by Error flow and Training: its form, its forecast upload, and its runs (found in the run
store or submitted as jobs), or the reason the page stops."""

from __future__ import annotations

import streamlit as st

from lstmlab.core.config import CELLS, CHOICES, INITS, OPTIMIZERS
from lstmlab.ui import live, state, upload_box
from lstmlab.views import commands, settings
from lstmlab.views import limits as L
from lstmlab.views.settings import CELL_LABELS, TASK_LABELS
from lstmlab.views.text import escape_markdown


def study_page(page: str) -> tuple[dict, dict]:
    """The settings form of a study page ("flow" or "training") and its runs: reads the URL (or the session's
    last study), draws the form and the forecast upload, applies the form when submitted, writes the URL,
    remembers the study for the other study page, and finds or submits the runs.

    Returns (applied settings, {cell label: run id}); stops the page with a message on a bad or oversized request.
    """
    values = state.read_params(page)
    submitted, edited = study_form_ui(page, values)
    series, series_name = upload_box.forecast_upload_ui(edited["T"])
    if submitted:
        values = edited
    state.write_params(page, values)
    state.remember_study(values)
    return values, study_results(values, series, series_name)


def study_results(values: dict, series, series_name: str) -> dict:
    """{cell label: run id} of the study of ``values``: its stored runs, or jobs submitted for them (lstmlab.ui.live);
    on a bad or oversized request show why and stop the page."""
    try:
        study = settings.study(values, series, series_name)
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    if study.work > L.MAX_WORK:
        after = ""
        if len(study.configs) > 1:
            after = (f" once per cell (--cell {', '.join(c.cell for c in study.configs)}), then compare the runs on "
                     "the Runs page.")
        after += commands.series_note(study.configs[0], quote=escape_markdown)
        command = escape_markdown(commands.command_line(study.configs[0]), code=True)
        st.error(L.too_big_message(study.work, L.MAX_WORK, "study", command, after), icon=":material/block:")
        st.stop()
    return live.study_runs(study)


def study_form_ui(page: str, values: dict, submit_label: str = "Train and compare") -> tuple[bool, dict]:
    """The run controls of a study inside one st.form: returns (submitted, settings).

    Main controls up front (cells, task, sequence length, weight scale); the rest under "Advanced". Nothing reruns
    until the form is submitted, so moving a slider never aborts a run in progress.
    """
    state.seed_widgets(page, values)
    k = lambda name: state.widget_key(page, name)  # noqa: E731
    with st.form(f"{page}.form", border=True):
        c1, c2, c3, c4 = st.columns([1.3, 1.1, 1, 1])
        cells = c1.multiselect(
            "Cells to compare", CELLS, key=k("cells"), format_func=CELL_LABELS.get,
            help="Each cell is trained on the same task, data and seed.",
        )
        task = c2.selectbox(
            "Task", CHOICES["task"], key=k("task"), format_func=TASK_LABELS.get,
            help="Adding: sum the two marked numbers of a long sequence (Hochreiter & Schmidhuber 1997). "
                 "Recall: name the symbol seen at the first step. Copy: repeat 10 symbols after a delay. "
                 "Forecast: predict the next value of a series (synthetic, or a CSV you upload below). "
                 "The papers' tasks follow, each generated as its paper does; T sets its length parameter.",
        )
        T = c3.slider("Sequence length T", L.SEQ_LEN_MIN, L.SEQ_LEN_MAX, key=k("T"),
                      help="Time steps per sequence: the longest distance the error has to travel back.")
        ws = c4.slider("Weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("ws"),
                       help="Multiplies the recurrent weights at init; with orthogonal or identity init it is "
                            "σ_max of every gate block of W_h (gaussian: about the spectral radius).")
        with st.expander("Advanced"):
            a1, a2, a3, a4, a5 = st.columns(5)
            H = a1.slider("Hidden size", L.HIDDEN_MIN, L.HIDDEN_MAX, key=k("H"), help="Units per layer.")
            layers = a2.slider("Layers", L.LAYERS_MIN, L.LAYERS_MAX, key=k("layers"))
            init = a3.selectbox("Init of W_h", INITS, key=k("init"),
                                help="orthogonal: every singular value = weight scale; gaussian: N(0, w²/H); "
                                     "identity: w·I (IRNN); uniform: every weight and bias in [-w, w] (the "
                                     "papers' ranges).")
            fb = a4.number_input("Forget bias (LSTM)", L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5,
                                 key=k("fb"), help="Initial bias of the forget gate; 1 keeps the carousel open.")
            opt = a5.selectbox("Optimiser", OPTIMIZERS, key=k("opt"))
            b1, b2, b3, b4, b5 = st.columns(5)
            lr = b1.number_input("Learning rate", L.LR_MIN, L.LR_MAX, step=1e-3, format="%.5f", key=k("lr"))
            clip = b2.number_input("Clip norm (0 = off)", L.CLIP_MIN, L.CLIP_MAX, step=0.5, key=k("clip"),
                                   help="Global gradient-norm clipping threshold (Pascanu et al. 2013).")
            steps = b3.number_input("Training steps", L.STEPS_MIN, L.STEPS_MAX, step=50, key=k("steps"),
                                    help="Parameter updates; 0 shows the network at initialisation only.")
            batch = b4.number_input("Batch size", L.BATCH_MIN, L.BATCH_MAX, step=8, key=k("batch"))
            seed = b5.number_input("Seed", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"))
        submitted = st.form_submit_button(submit_label, type="primary", icon=":material/play_arrow:")
    out = {"cells": list(cells), "task": task, "T": int(T), "ws": float(ws), "H": int(H), "layers": int(layers),
           "init": init, "fb": float(fb), "opt": opt, "lr": float(lr), "clip": float(clip), "steps": int(steps),
           "batch": int(batch), "seed": int(seed)}
    return submitted, out
