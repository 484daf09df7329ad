"""The study shared by Error flow and Training: its form, its forecast upload, and its runs (found in the run
store or submitted as jobs), or the reason the page stops."""

from __future__ import annotations

import streamlit as st

from lstmlab.core.config import CELLS, CHOICES, GRADIENTS, INITS, OPTIMIZERS
from lstmlab.ui import live, state, upload_box
from lstmlab.ui.run_store import error_line, hide_location, store
from lstmlab.views import commands, settings
from lstmlab.views import limits as L
from lstmlab.views.settings import CELL_LABELS, GRADIENT_LABELS, TASK_LABELS
from lstmlab.views.text import escape_markdown, run_label, source_kind


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


def opened_runs() -> dict | None:
    """{label: run id} of the stored runs the URL opens (``?run=ID[,ID...]``, lstmlab.views.settings.OPENED_RUNS) with
    a line naming them and where they were recorded, or None when it opens none (the page shows its study). Stops
    the page with the reason for an address it cannot open."""
    query = {k: st.query_params[k] for k in st.query_params}
    try:
        ids = settings.opened_run_ids(query)
        if not ids:
            return None
        opened = {}
        for run_id in ids:
            full = store().resolve(run_id)
            row = {"id": full, "name": store().progress(full)["name"], "config": store().config(full)}
            opened[run_label(row)] = (full, row["config"])
    except (KeyError, ValueError) as e:
        why = hide_location(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))
        st.error(f"URL parameter `{settings.OPENED_RUNS}`: {escape_markdown(why)}. Expected the ids (or unique id "
                 f"prefixes) of at most {settings.MAX_OPENED_RUNS} runs in the run store, separated by commas; the "
                 "Runs page lists them.", icon=":material/link_off:")
        st.stop()
    except Exception as e:  # an unreachable store: say which, never a traceback
        st.error(f"The run store cannot be used ({type(e).__name__}: {escape_markdown(error_line(e))}).",
                 icon=":material/error:")
        st.stop()
    st.markdown("Stored run(s) " + "; ".join(
        f"**{escape_markdown(label)}** ({escape_markdown(config.source) if config.source else 'trained by the lab'})"
        for label, (_, config) in opened.items()) + ".")
    if any(source_kind(config.source) != source_kind("") for _, config in opened.values()):
        st.caption("A run recorded outside the lab has no lab task: no baseline, and its steps and held-out rows "
                   "are the recorded training batches.")
    return {label: run_id for label, (run_id, _) in opened.items()}


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
    f = {field.name: field for field in settings.FIELDS[page]}  # labels and help as the config declares them
    with st.form(f"{page}.form", border=True):
        c1, c2, c3, c4 = st.columns([1.3, 1.1, 1, 1])
        cells = c1.multiselect(
            "Cells to compare", CELLS, key=k("cells"), format_func=CELL_LABELS.get,
            help="Each cell is trained on the same task, data and seed. ReLU RNN with identity init is the IRNN "
                 "(Le et al. 2015); LSTM 1997 is Hochreiter & Schmidhuber's: input and output gates, no forget "
                 "gate, its cell state a constant error carousel.",
        )
        task = c2.selectbox(f["task"].label, CHOICES["task"], key=k("task"), format_func=TASK_LABELS.get, help=f["task"].help)
        T = c3.slider(f["T"].label, L.SEQ_LEN_MIN, L.SEQ_LEN_MAX, key=k("T"), help=f["T"].help)
        ws = c4.slider(f["ws"].label, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("ws"),
                       help=f["ws"].help)
        with st.expander("Advanced"):
            a1, a2, a3, a4, a5, a6 = st.columns(6)
            H = a1.slider(f["H"].label, L.HIDDEN_MIN, L.HIDDEN_MAX, key=k("H"), help=f["H"].help)
            layers = a2.slider(f["layers"].label, L.LAYERS_MIN, L.LAYERS_MAX, key=k("layers"),
                               help=f["layers"].help)
            init = a3.selectbox(f["init"].label, INITS, key=k("init"), help=f["init"].help)
            fb = a4.number_input(f["fb"].label, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5, key=k("fb"),
                                 help=f["fb"].help)
            opt = a5.selectbox(f["opt"].label, OPTIMIZERS, key=k("opt"), help=f["opt"].help)
            gradient = a6.selectbox(f["gradient"].label, GRADIENTS, key=k("gradient"), format_func=GRADIENT_LABELS.get,
                                    help=f["gradient"].help)
            b1, b2, b3, b4, b5 = st.columns(5)
            lr = b1.number_input(f["lr"].label, L.LR_MIN, L.LR_MAX, step=1e-3, format="%.5f", key=k("lr"),
                                 help=f["lr"].help)
            clip = b2.number_input(f["clip"].label, L.CLIP_MIN, L.CLIP_MAX, step=0.5, key=k("clip"),
                                   help=f["clip"].help)
            steps = b3.number_input(f["steps"].label, L.STEPS_MIN, L.STEPS_MAX, step=50, key=k("steps"),
                                    help=f["steps"].help)
            batch = b4.number_input(f["batch"].label, L.BATCH_MIN, L.BATCH_MAX, step=8, key=k("batch"),
                                    help=f["batch"].help)
            seed = b5.number_input(f["seed"].label, L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"),
                                   help=f["seed"].help)
        submitted = st.form_submit_button(submit_label, type="primary", icon=":material/play_arrow:")
    out = {"cells": list(cells), "task": task, "T": int(T), "ws": float(ws), "H": int(H), "layers": int(layers),
           "init": init, "fb": float(fb), "opt": opt, "lr": float(lr), "clip": float(clip), "gradient": gradient,
           "steps": int(steps), "batch": int(batch), "seed": int(seed)}
    return submitted, out
