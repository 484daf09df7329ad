"""Which LSTM Inside the LSTM shows: freshly initialised, trained with the page's settings, a stored run, or a
PyTorch state dict uploaded; its controls, and the network they name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from lstmlab.core.config import GRADIENTS, INITS, RunConfig
from lstmlab.core.tasks import get_task
from lstmlab.core.torch_interop import TORCH_VERSION
from lstmlab.runs.records import initial_params
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
from lstmlab.views.text import TASK_PHRASES, escape_markdown, network_text, run_label


@dataclass(frozen=True)
class Network:
    """The LSTM Inside the LSTM shows: its config, its parameters (None: the config's initialisation), the cache
    key of those parameters ("init:…", "trained:…" or "run:…") and a sentence saying what it is."""

    kind: str  # "init" | "trained" | "stored" | "torch"
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
    if kind == "torch":
        upload = st.file_uploader("PyTorch state dict", type=["pt", "pth"], key="inside.pt",
                                  help="A file written by torch.save(model.state_dict(), path) of a model with one "
                                       "torch.nn.LSTM (and, if it has one, a torch.nn.Linear head on its h_t). It "
                                       "is read with torch.load(weights_only=True): tensors only, no code.")
    values = controls_ui(values, kind)
    values["run"] = run_id or values.get("run", "")
    state.write_params("inside", values)
    if kind == "torch":
        return values, uploaded_network(upload, values)

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


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def _load_lstm(digest: str, _data: bytes):
    """The LSTM of an uploaded file, read once per content (``digest``)."""
    from lstmlab.torch.state_dict import load_lstm  # imports torch: only when a state dict is uploaded

    return load_lstm(_data)


def uploaded_network(upload, values: dict) -> Network:
    """The network of an uploaded state dict, run on a batch of the page's task and length; stops the page with
    what is wrong when there is none (nothing uploaded, not an LSTM's state dict, a size the task does not fit)."""
    if upload is None:
        st.info("Upload the state dict of a PyTorch model with one torch.nn.LSTM (torch.save(model.state_dict(), "
                "path)) to see its gates and the error reaching them on a batch of the task below.",
                icon=":material/upload_file:")
        st.stop()
    name, data = escape_markdown(upload.name, limit=80), upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        lstm = _load_lstm(digest, data)
    except ImportError:
        st.error("PyTorch is not installed on this server, so it cannot read state dicts "
                 f"(pip install torch=={TORCH_VERSION}).", icon=":material/error:")
        st.stop()
    except ValueError as e:
        st.error(f"{name} cannot be shown: {escape_markdown(e)}.", icon=":material/error:")
        st.stop()
    problems = [f"{lstm.hidden_size} hidden units (at most {L.HIDDEN_MAX} here)" if lstm.hidden_size > L.HIDDEN_MAX
                else "", f"{lstm.layers} layers (at most 4)" if lstm.layers > 4 else ""]
    try:
        config = RunConfig(cell="lstm", task=values["task"], seq_len=values["T"], hidden_size=lstm.hidden_size,
                           layers=lstm.layers, dtype=lstm.dtype) if not any(problems) else None
        task = None if config is None else get_task(config)
    except ValueError as e:
        problems.append(str(e))
    if any(problems):
        st.error(f"{name} cannot be shown here: its LSTM has {' and '.join(p for p in problems if p)}.",
                 icon=":material/block:")
        st.stop()
    if lstm.input_size != task.input_size:
        st.error(f"{name}: its LSTM reads {lstm.input_size} input(s) per step; {TASK_LABELS[values['task']]} feeds "
                 f"{task.input_size}. Choose a task whose inputs it was trained on.", icon=":material/block:")
        st.stop()
    params, head = dict(lstm.params), "its own head"
    if lstm.output_size != task.output_size:
        fresh = initial_params(config.replace(seed=values["seed"]))
        params.update({"head.W": fresh["head.W"], "head.b": fresh["head.b"]})
        head = (f"a fresh head (its file has {'none' if lstm.output_size is None else lstm.output_size} fitting "
                f"{task.output_size} output(s), so the error that reaches it is the lab's)")
    text = (f"Uploaded {name}: {lstm.layers}-layer LSTM, H={lstm.hidden_size}, {lstm.dtype}, with {head}, run on a "
            f"batch of {TASK_PHRASES.get(values['task'], values['task'])} (T={values['T']}).")
    return Network("torch", f"torch:{digest}:{config.key}:{head == 'its own head'}", config, params, text)


def network_ui(values: dict) -> str:
    """Which network Inside the LSTM shows ("init", "trained" or "stored"); seeds the page's widgets first."""
    state.seed_widgets("inside", values)
    return st.radio("Network", NETWORKS, key=state.widget_key("inside", "net"), format_func=NETWORK_LABELS.get,
                    horizontal=True,
                    help="Freshly initialised: the network before any update. Trained: trained on the task below "
                         "with these settings (Adam, the Error flow page's defaults), cached and saved to the run "
                         "store. A stored run: any LSTM run of the run store saved with its parameters. A PyTorch "
                         "state dict: the LSTM of a .pt file you upload.")


def controls_ui(values: dict, net: str = "init") -> dict:
    """Controls of Inside the LSTM (they apply at once: a pass is cheap, training is cached): returns the
    settings. A stored run has its own settings (the sentence above the charts says them), so only the batch
    seed and the example are drawn, and only those (with the network and the run) are returned."""
    k = lambda name: state.widget_key("inside", name)  # noqa: E731
    run = str(st.session_state.get(k("run")) or values.get("run", ""))
    if net == "torch":  # the network is the file's: only what it is run on
        d1, d2, d3, d4 = st.columns([1.2, 1, 1, 1])
        task = d1.selectbox("Task", INSIDE_TASKS, key=k("task"), format_func=TASK_LABELS.get)
        T = d2.slider("Sequence length T", L.SEQ_LEN_MIN, L.INSIDE_T_MAX, key=k("T"))
        seed = d3.number_input("Seed of the batch", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"))
        ex = d4.number_input("Example in the batch", 0, L.INSIDE_BATCH_MAX - 1, step=1, key=k("ex"))
        return {"net": net, "run": run, "task": task, "T": int(T), "seed": int(seed), "ex": int(ex)}
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
