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


def study_form_ui(page: str, values: dict, submit_label: str = "Train and compare") -> tuple[bool, dict]:
    """The run controls of a study inside one st.form: returns (submitted, settings).

    Main controls up front (cells, task, sequence length, weight scale); the rest under "Advanced". Nothing reruns
    until the form is submitted, so moving a slider never aborts a run in progress.
    """
    S.seed_widgets(page, values)
    k = lambda name: S.widget_key(page, name)  # noqa: E731
    with st.form(f"{page}.form", border=True):
        c1, c2, c3, c4 = st.columns([1.3, 1.1, 1, 1])
        cells = c1.multiselect(
            "Cells to compare", S.CELLS, key=k("cells"), format_func=S.CELL_LABELS.get,
            help="Each cell is trained on the same task, data and seed.",
        )
        task = c2.selectbox(
            "Task", S.TASKS, key=k("task"), format_func=S.TASK_LABELS.get,
            help="Adding: sum the two marked numbers of a long sequence (Hochreiter & Schmidhuber 1997). "
                 "Recall: name the symbol seen at the first step. Copy: repeat 10 symbols after a delay. "
                 "Forecast: predict the next value of a series (synthetic, or a CSV you upload below).",
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
            init = a3.selectbox("Init of W_h", S.INITS, key=k("init"),
                                help="orthogonal: every singular value = weight scale; gaussian: N(0, w²/H); "
                                     "identity: w·I (IRNN).")
            fb = a4.number_input("Forget bias (LSTM)", L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5,
                                 key=k("fb"), help="Initial bias of the forget gate; 1 keeps the carousel open.")
            opt = a5.selectbox("Optimiser", S.OPTIMIZERS, key=k("opt"))
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


def forecast_upload_ui(seq_len: int) -> tuple[tuple | None, str]:
    """Upload a CSV for the forecast task and pick a column: returns (series or None, name).

    A bad file or column shows an error and leaves the previously accepted series (session state) unchanged.
    """
    from lstmlab.ui import upload

    ss = st.session_state
    with st.expander("Forecast data: upload a CSV (used when the task is *Forecast a series*)"):
        f = st.file_uploader("CSV file", type=["csv", "txt"], key="forecast.file",
                             help=f"One value per row; up to {L.UPLOAD_MAX_ROWS:,} rows and "
                                  f"{L.UPLOAD_MAX_BYTES / 1e6:.0f} MB.")
        if f is not None:
            try:
                df = upload.read_csv(f.getvalue(), f.name)
                col = st.selectbox("Column", list(df.columns), key="forecast.column")
                sig = (f.file_id, col, seq_len)
                if ss.get("_forecast_sig") != sig:  # accept a file/column once, so "synthetic" can override it
                    series = upload.series_from(df, col, seq_len)
                    ss["forecast_series"] = (f"{f.name}:{col}", series)
                    ss["_forecast_sig"] = sig
            except ValueError as e:
                st.error(str(e), icon=":material/error:")
        current = ss.get("forecast_series")
        if current:
            c1, c2 = st.columns([3, 1])
            c1.caption(f"Using **{current[0]}** ({len(current[1]):,} values, z-scored by the task).")
            if c2.button("Use the synthetic series", key="forecast.clear"):
                ss["forecast_series"] = None
                current = None
        else:
            st.caption("No file: the forecast task uses a synthetic sum of sines with noise.")
    if current:
        return current[1], current[0]
    return None, ""


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


def phase_form_ui(values: dict) -> tuple[bool, dict]:
    """Controls of the phase map in a form: returns (submitted, settings)."""
    S.seed_widgets("phase", values)
    k = lambda name: S.widget_key("phase", name)  # noqa: E731
    with st.form("phase.form"):
        c1, c2, c3, c4 = st.columns([1.4, 1.2, 1.2, 1])
        cells = c1.multiselect("Cells", S.CELLS, key=k("cells"), format_func=S.CELL_LABELS.get)
        wmin = c2.slider("Smallest weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("wmin"))
        wmax = c3.slider("Largest weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("wmax"))
        nw = c4.slider("Weight scales", L.PHASE_SCALES_MIN, L.PHASE_SCALES_MAX, key=k("nw"),
                       help="Grid points between the smallest and the largest weight scale.")
        d1, d2, d3, d4, d5, d6 = st.columns(6)
        Tmax = d1.slider("Longest sequence", 10, L.PHASE_T_MAX, key=k("Tmax"))
        nT = d2.slider("Lengths", L.PHASE_LENGTHS_MIN, L.PHASE_LENGTHS_MAX, key=k("nT"),
                       help="Sequence lengths, log-spaced from 10 to the longest.")
        H = d3.slider("Hidden size", L.HIDDEN_MIN, L.PHASE_HIDDEN_MAX, key=k("H"))
        init = d4.selectbox("Init of W_h", S.INITS, key=k("init"))
        fb = d5.number_input("Forget bias (LSTM)", L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5, key=k("fb"))
        seed = d6.number_input("Seed", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"))
        submitted = st.form_submit_button("Draw the phase map", type="primary", icon=":material/grid_on:")
    return submitted, {"cells": list(cells), "wmin": float(wmin), "wmax": float(wmax), "nw": int(nw),
                       "Tmax": int(Tmax), "nT": int(nT), "H": int(H), "init": init, "fb": float(fb),
                       "seed": int(seed)}


def spectrum_ui(default_ws: float, default_T: int) -> tuple[str, float, int]:
    """Setting of the Jacobian spectrum view: returns (cell, weight scale, sequence length)."""
    c1, c2, c3 = st.columns(3)
    cell = c1.selectbox("Cell", S.CELLS, format_func=S.CELL_LABELS.get, key="phase.spec_cell")
    ws = c2.slider("Weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, value=float(default_ws), step=0.05,
                   key="phase.spec_ws")
    T = c3.slider("Sequence length", L.SEQ_LEN_MIN, min(L.PHASE_T_MAX, 200), value=int(min(default_T, 200)),
                  key="phase.spec_T")
    return cell, float(ws), int(T)


def inside_network_ui(values: dict) -> str:
    """Which network Inside the LSTM shows ("init", "trained" or "stored"); seeds the page's widgets first."""
    S.seed_widgets("inside", values)
    return st.radio("Network", S.NETWORKS, key=S.widget_key("inside", "net"), format_func=S.NETWORK_LABELS.get,
                    horizontal=True,
                    help="Freshly initialised: the network before any update. Trained: trained on the task below "
                         "with these settings (Adam, the Error flow page's defaults), cached and saved to the run "
                         "store. A stored run: any LSTM run of the run store saved with its parameters.")


def stored_run_ui(ids: list[str], labels: dict[str, str]) -> str:
    """Pick one stored run (newest first). The URL may name it by id or unique id prefix; an empty or unknown
    value falls back to the newest (with a warning if it named a run)."""
    key = S.widget_key("inside", "run")
    current = str(st.session_state.get(key) or "")
    if current not in ids:
        found = [i for i in ids if current and i.startswith(current)]
        if len(found) != 1 and current:
            st.warning(f"No single stored LSTM run with parameters has the id `{current[:40]}`; showing the newest.",
                       icon=":material/link_off:")
        st.session_state[key] = found[0] if len(found) == 1 else ids[0]
    return st.selectbox("Stored LSTM run", ids, key=key, format_func=lambda rid: labels.get(rid, rid),
                        help="LSTM runs of the run store saved with their parameters, newest first.")


def inside_controls_ui(values: dict, net: str = "init") -> dict:
    """Controls of Inside the LSTM (they apply at once: a pass is cheap, training is cached): returns the
    settings. A stored run has its own settings (the sentence above the charts says them), so only the batch
    seed and the example are drawn, and only those (with the network and the run) are returned."""
    k = lambda name: S.widget_key("inside", name)  # noqa: E731
    run = str(st.session_state.get(k("run")) or values.get("run", ""))
    if net == "stored":
        d1, d2 = st.columns(2)
        seed = d1.number_input("Seed of the batch", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"),
                               help="The fresh task batch the stored network is run on here.")
        ex = d2.number_input("Example in the batch", 0, L.INSIDE_BATCH_MAX - 1, step=1, key=k("ex"))
        return {"net": net, "run": run, "seed": int(seed), "ex": int(ex)}
    c1, c2, c3, c4, c5 = st.columns([1.2, 1, 1, 1, 0.8])
    task = c1.selectbox("Task", S.TASKS[:3], key=k("task"), format_func=S.TASK_LABELS.get)
    T = c2.slider("Sequence length T", L.SEQ_LEN_MIN, L.INSIDE_T_MAX, key=k("T"))
    ws = c3.slider("Weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("ws"))
    fb = c4.slider("Forget bias", L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5, key=k("fb"),
                   help="σ(forget bias) is the forget gate's value before any input: 1 → 0.73, 3 → 0.95.")
    steps = c5.number_input("Training steps", L.STEPS_MIN, L.STEPS_MAX, step=100, key=k("steps"),
                            disabled=net != "trained",
                            help="Adam updates of the trained network (batch 32, learning rate 0.01, clip 1).")
    with st.expander("More"):
        d1, d2, d3, d4 = st.columns(4)
        H = d1.slider("Hidden size", L.HIDDEN_MIN, L.HIDDEN_MAX, key=k("H"))
        init = d2.selectbox("Init of W_h", S.INITS, key=k("init"))
        seed = d3.number_input("Seed", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"),
                               help="Initialisation and training data, and the batch the network is run on here.")
        ex = d4.number_input("Example in the batch", 0, L.INSIDE_BATCH_MAX - 1, step=1, key=k("ex"))
    return {"net": net, "steps": int(steps), "run": run, "T": int(T), "H": int(H), "ws": float(ws), "init": init,
            "fb": float(fb), "task": task, "seed": int(seed), "ex": int(ex)}


def time_step_ui(T: int) -> int:
    """The time step t (1..T) to inspect: T // 2 at first, then kept, clamped to 1..T when T shrinks."""
    key, T = "inside.t", int(T)
    if key in st.session_state:
        st.session_state[key] = min(max(int(st.session_state[key]), 1), T)
        return int(st.slider("Time step t to inspect", 1, T, key=key))
    return int(st.slider("Time step t to inspect", 1, T, value=max(1, T // 2), key=key))


def runs_filter_ui(values: dict) -> str:
    """Text filter of the Runs page (seeded from the URL): returns the query."""
    S.seed_widgets("runs", values)
    return st.text_input("Filter runs", key=S.widget_key("runs", "q"), placeholder="name, tag, cell, task, status or id",
                         help="Case-insensitive; matches any of these columns.")


def run_select_ui(options: list[str], labels: dict[str, str]) -> list[str]:
    """Runs to compare (ids): returns the ticked ids, newest first."""
    keep = [r for r in st.session_state.get("runs_selected", []) if r in options]
    st.session_state["runs_selected"] = keep
    return st.multiselect("Runs to compare, export or edit", options, key="runs_selected",
                          format_func=lambda rid: labels.get(rid, rid))


def run_actions_ui(selected: list[str], labels: dict[str, str]) -> tuple[str, object]:
    """Rename, tag and delete controls for the selected runs: returns (action, argument) or ("", None)."""
    if not selected:
        return "", None
    c1, c2, c3 = st.columns(3)
    with c1.form("runs.rename_form", border=True):
        name = st.text_input("New name", key="runs.new_name", disabled=len(selected) != 1,
                             help="Select exactly one run to rename it.")
        if st.form_submit_button("Rename", disabled=len(selected) != 1):
            return "rename", name
    with c2.form("runs.tag_form", border=True):
        tags = st.text_input("Tags (comma-separated, replace the current ones)", key="runs.new_tags")
        if st.form_submit_button(f"Tag {len(selected)} run(s)"):
            return "tag", [t.strip() for t in tags.split(",") if t.strip()]
    with c3.form("runs.delete_form", border=True):
        sure = st.checkbox(f"Yes, delete {len(selected)} run(s) for good", key="runs.confirm_delete")
        if st.form_submit_button("Delete", type="primary"):
            return ("delete", None) if sure else ("unconfirmed", None)
    return "", None
