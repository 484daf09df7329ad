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
from lstmlab.views.text import escape_markdown

RUN_PARAM = "run"  # ?run=ID on a study page: show that stored run
PAGE_FILES = {"flow": "error_flow.py", "training": "training.py"}


def study_page(page: str) -> tuple[dict, dict]:
    """The settings form of a study page ("flow" or "training") and its runs: reads the URL (or the session's
    last study), draws the form and the forecast upload, applies the form when submitted, writes the URL,
    remembers the study for the other study page, and finds or submits the runs.

    Returns (applied settings, {cell label: run id}); stops the page with a message on a bad or oversized request.
    An address with ``?run=ID`` (an id or unique id prefix) shows that stored run instead (:func:`stored_run`).
    """
    if RUN_PARAM in st.query_params:
        return stored_run(page, st.query_params[RUN_PARAM])
    values = state.read_params(page)
    submitted, edited = study_form_ui(page, values)
    series, series_name = upload_box.forecast_upload_ui(edited["T"])
    if submitted:
        values = edited
    state.write_params(page, values)
    state.remember_study(values)
    return values, study_results(values, series, series_name)


def stored_run(page: str, raw: str) -> tuple[dict, dict]:
    """(the study settings of the stored run ``raw`` names, with ``"run"``: its full id; {its cell's label: its id})
    for a page opened with ``?run=ID``: the run as stored, trained with its own settings (which the study form may not
    be able to express), no form. An unknown or ambiguous id stops the page with a message naming it."""
    try:
        run_id = store().resolve(str(raw))
        config = store().config(run_id)
        name = store().progress(run_id)["name"]
    except KeyError as e:
        st.error(f"URL parameter `{RUN_PARAM}`: {escape_markdown(hide_location(e.args[0] if e.args else str(e)))}. "
                 "Expected the id (or a unique id prefix) of a run in the run store; the Runs page lists them.",
                 icon=":material/link_off:")
        st.page_link(f"pages/{PAGE_FILES[page]}", label="Open the study form instead", icon=":material/tune:",
                     query_params=settings.format_params(page, settings.defaults(page)))
        st.stop()
    except Exception as e:  # noqa: BLE001 - an unreachable store: say which, never a traceback
        st.error(f"The run store cannot be used ({type(e).__name__}: {escape_markdown(error_line(e))}).",
                 icon=":material/error:")
        st.stop()
    values = {url: getattr(config, field) for url, field in settings.run_fields(page).items()}
    values.update(cells=[config.cell], run=run_id)
    named = f"{escape_markdown(name)} ({escape_markdown(run_id, code=True)})" if name else escape_markdown(
        run_id, code=True)
    st.info(f"A stored run, trained with its own settings: {named}, {CELL_LABELS[config.cell]} on "
            f"{escape_markdown(TASK_LABELS.get(config.task, config.task))}, T = {config.seq_len}, "
            f"{config.steps:,} steps. `python -m lstmlab show {run_id[:12]}` prints its settings.",
            icon=":material/inventory_2:")
    st.page_link(f"pages/{PAGE_FILES[page]}", label="Back to the study form", icon=":material/tune:",
                 query_params=settings.format_params(page, st.session_state.get("last_study")
                                                     or settings.defaults(page)))
    return values, {CELL_LABELS[config.cell]: run_id}


def link_params(page: str, values: dict) -> dict[str, str]:
    """The query of ``page`` showing what a study page shows now: the same stored run (``?run=ID``), else the same
    settings."""
    return {RUN_PARAM: values[RUN_PARAM]} if values.get(RUN_PARAM) else settings.format_params(page, values)


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
