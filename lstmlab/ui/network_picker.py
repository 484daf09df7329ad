"""Which LSTM Inside the LSTM shows: freshly initialised, trained with the page's settings, or a stored run; its
controls, and the network they name."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lstmlab.core.config import GRADIENTS, INITS, RunConfig
from lstmlab.ui import live, run_picker, run_store, state, study
from lstmlab.ui.widgets import show_error
from lstmlab.views import limits as L
from lstmlab.views import settings
from lstmlab.views.settings import (
    CELL_LABELS,
    GRADIENT_LABELS,
    INSIDE_CELLS,
    INSIDE_TASKS,
    NETWORK_LABELS,
    NETWORKS,
    TASK_LABELS,
)
from lstmlab.views.text import escape_markdown, network_text, run_label


@dataclass(frozen=True)
class Network:
    """The LSTM Inside the LSTM shows: its config, its parameters (None: the config's initialisation), the cache
    key of those parameters ("init:…", "trained:…" or "run:…") and a sentence saying what it is."""

    kind: str  # "init" | "trained" | "stored"
    key: str
    config: RunConfig
    params: dict | None
    text: str


def pick_network(values: dict) -> tuple[dict, Network]:
    """Controls of Inside the LSTM and the network they name: freshly initialised, trained with the page's
    settings (the Error flow page's cached training path, saved to the run store) or a stored LSTM run.

    Returns (applied settings, network); puts the settings in the URL. Stops the page with a message when there
    is nothing to show (invalid or oversized settings, no stored run, an unreadable store).
    """
    kind = network_ui(values)
    run_id = ""
    if kind == "stored":
        try:
            rows = run_store.stored_lstm_runs()
        except ValueError as e:
            show_error(e)
            st.stop()
        if rows.empty:
            st.info("No stored LSTM run (LSTM or LSTM 1997) has its parameters yet. Choose *Trained with these "
                    "settings* (the run is saved to the run store), or train one on the Error flow page or with "
                    "`python -m lstmlab run --cell lstm` (or `--cell lstm97`).", icon=":material/inventory_2:")
            controls_ui(values, kind)
            st.stop()
        labels = {r["id"]: f"{run_label(r)} · {r['task']}, {r['steps']} steps, {r['status']}"
                  for r in rows.to_dict("records")}
        run_id = run_picker.stored_run_ui(list(labels), labels)
    values = controls_ui(values, kind)
    values["run"] = run_id or values.get("run", "")
    state.write_params("inside", values)

    if kind == "stored":
        row = rows.set_index("id").loc[run_id]
        too_big = [f"sequence length {int(row['seq_len'])} > {L.INSIDE_T_MAX}"
                   if int(row["seq_len"]) > L.INSIDE_T_MAX else "",
                   f"hidden size {int(row['hidden_size'])} > {L.HIDDEN_MAX}"
                   if int(row["hidden_size"]) > L.HIDDEN_MAX else ""]
        if any(too_big):
            st.error(f"This run is too large to inspect here: {' and '.join(t for t in too_big if t)} (Inside the "
                     f"LSTM runs a batch of {L.INSIDE_BATCH_MAX} through sequences of at most "
                     f"{L.INSIDE_T_MAX} steps and {L.HIDDEN_MAX} hidden units). Choose a smaller run, or "
                     f"train one with `python -m lstmlab run --cell lstm --seq-len {L.INSIDE_T_MAX} "
                     f"--hidden-size {L.HIDDEN_MAX}` or less.", icon=":material/block:")
            st.stop()
        try:
            run = run_store.load_run(run_id, row["name"], row["tags"])
        except KeyError:
            st.warning("That run was deleted meanwhile.")
            st.stop()
        source = f"Stored run {escape_markdown(run_label(row.to_dict() | {'id': run_id}))}: "
        return values, Network("stored", f"run:{run_id}", run.config, run.params,
                               network_text(run.config, run, source))
    try:
        config = settings.inside_config(values)
    except ValueError as e:
        show_error(e)
        st.stop()
    if kind == "init":
        return values, Network("init", "init:" + config.replace(steps=0, record_every=1).key, config, None,
                               network_text(config))
    label = CELL_LABELS[config.cell]
    run_id = study.study_results(settings.inside_study_values(values), None, "")[label]
    run = live.ended_run(run_id, f"Training the {label}")
    if run.params is None:
        st.warning(f"The {label}'s training run ended without its parameters ({escape_markdown(run.status)}: "
                   f"{escape_markdown(run.message)}); resubmit it on the Error flow page.", icon=":material/warning:")
        st.stop()
    text = network_text(config, run) + f" Trained in {run.wall_time:.1f} s (kept in the run store)."
    return values, Network("trained", f"trained:{config.key}", config, run.params, text)


def network_ui(values: dict) -> str:
    """Which network Inside the LSTM shows ("init", "trained" or "stored"); seeds the page's widgets first."""
    state.seed_widgets("inside", values)
    return st.radio("Network", NETWORKS, key=state.widget_key("inside", "net"), format_func=NETWORK_LABELS.get,
                    horizontal=True,
                    help="Freshly initialised: the network before any update. Trained: trained on the task below "
                         "with these settings (Adam, the Error flow page's defaults), cached and saved to the run "
                         "store. A stored run: any LSTM run of the run store saved with its parameters.")


def controls_ui(values: dict, net: str = "init") -> dict:
    """Controls of Inside the LSTM (they apply at once: a pass is cheap, training is cached): returns the
    settings. A stored run has its own settings (the sentence above the charts says them), so only the batch
    seed and the example are drawn, and only those (with the network and the run) are returned."""
    k = lambda name: state.widget_key("inside", name)  # noqa: E731
    run = str(st.session_state.get(k("run")) or values.get("run", ""))
    if net == "stored":
        d1, d2 = st.columns(2)
        seed = d1.number_input("Seed of the batch", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"),
                               help="The fresh task batch the stored network is run on here.")
        ex = d2.number_input("Example in the batch", 0, L.INSIDE_BATCH_MAX - 1, step=1, key=k("ex"))
        return {"net": net, "run": run, "seed": int(seed), "ex": int(ex)}
    c0, c1, c2, c3, c4, c5 = st.columns([1, 1.2, 1, 1, 1, 0.8])
    cell = c0.selectbox("Cell", INSIDE_CELLS, key=k("cell"), format_func=CELL_LABELS.get,
                        help="LSTM: with the forget gate (Gers et al. 2000). LSTM 1997: Hochreiter & Schmidhuber's, "
                             "input and output gates only; its cell state carries the error back unchanged.")
    task = c1.selectbox("Task", INSIDE_TASKS, key=k("task"), format_func=TASK_LABELS.get)
    T = c2.slider("Sequence length T", L.SEQ_LEN_MIN, L.INSIDE_T_MAX, key=k("T"))
    ws = c3.slider("Weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("ws"))
    fb = c4.slider("Forget bias", L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5, key=k("fb"),
                   disabled=cell != "lstm",
                   help="σ(forget bias) is the forget gate's value before any input: 1 → 0.73, 3 → 0.95. "
                        "The LSTM of 1997 has no forget gate.")
    steps = c5.number_input("Training steps", L.STEPS_MIN, L.STEPS_MAX, step=100, key=k("steps"),
                            disabled=net != "trained",
                            help="Adam updates of the trained network (batch 32, learning rate 0.01, clip 1).")
    with st.expander("More"):
        d1, d2, d3, d4, d5 = st.columns(5)
        H = d1.slider("Hidden size", L.HIDDEN_MIN, L.HIDDEN_MAX, key=k("H"))
        init = d2.selectbox("Init of W_h", INITS, key=k("init"))
        gradient = d3.selectbox("Gradient", GRADIENTS, key=k("gradient"), format_func=GRADIENT_LABELS.get,
                                help="Truncated: the error reaching a gate is not sent back through W_h, so it "
                                     "crosses time steps only along the cell state (Hochreiter & Schmidhuber 1997).")
        seed = d4.number_input("Seed", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"),
                               help="Initialisation and training data, and the batch the network is run on here.")
        ex = d5.number_input("Example in the batch", 0, L.INSIDE_BATCH_MAX - 1, step=1, key=k("ex"))
    return {"net": net, "cell": cell, "gradient": gradient, "steps": int(steps), "run": run, "T": int(T), "H": int(H),
            "ws": float(ws), "init": init, "fb": float(fb), "task": task, "seed": int(seed), "ex": int(ex)}
