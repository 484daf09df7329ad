"""Error flow: train RNN / LSTM / GRU side by side and watch ‖∂L/∂h_t‖ across time steps."""

import streamlit as st

from lstmlab.core import analysis
from lstmlab.core.config import CAROUSEL_CELLS, MEMORY_CELLS, RNN_GAMMA
from lstmlab.runs.status import ACTIVE_STATUSES
from lstmlab.ui import cached, charts, equations, live, nav, run_store, study, widgets
from lstmlab.views import settings, tables, text
from lstmlab.views.settings import CELL_LABELS
from lstmlab.views.text import escape_markdown

nav.ensure_router()

st.title("Error flow")
st.markdown(
    "Train the chosen cells on the same task and record, on a held-out batch, the norm of the error "
    "‖∂L/∂h_t‖ that backpropagation through time delivers to every time step, at initialisation and during "
    "training."
)

opened = study.opened_runs()  # stored runs by id (?run=...), e.g. recorded from PyTorch, instead of a study
if opened is None:
    values, ids = study.study_page("flow")
    layers, weight_scale = values["layers"], values["ws"]
else:
    values, ids = None, opened
    layers, weight_scale = max(run_store.store().config(i).layers for i in ids.values()), None
layer = widgets.layer_ui(layers, key="flow.layer")


def flow_reading(runs: dict) -> str:
    """The reading of the runs' error flow at ``layer`` (text.reading with each run's recovery)."""
    flows = {label: run.flow for label, run in runs.items() if run.flow is not None and not run.flow.empty}
    baselines = {label: cached.task_info(run.config.key, run.config)["baseline"] for label, run in runs.items()}
    recoveries = {label: analysis.recovery(run.flow, run.eval, baselines[label], layer)
                  for label, run in runs.items() if label in flows}
    joins = {label: run.config.join_after for label, run in runs.items() if run.config.join_after}
    return text.reading(flows, {label: run.status for label, run in runs.items()}, layer, recoveries, joins)


def flow_lines(flows: dict, latest: str):
    """(lines, log-axis domain): the lag lines of each phase (tables.flow_lines), where runs still in flight, which
    end at different steps, share one panel of their ``latest`` recording."""
    gammas = {CELL_LABELS[c]: gamma for c, gamma in RNN_GAMMA.items()}
    lines = tables.flow_lines(flows, layer=layer, weight_scale=weight_scale, gammas=gammas)
    lines["phase"] = lines["phase"].where(lines["phase"] == "at initialisation", latest)
    return lines, charts.lines_domain(lines)


def draw(runs: dict) -> None:
    """The charts and the reading of the runs as the store holds them now, each built once per state of the runs
    and settings for every session (lstmlab.ui.cached)."""
    flows = {label: run.flow for label, run in runs.items() if run.flow is not None and not run.flow.empty}
    for label, run in runs.items():
        if run.status == "diverged":
            st.error(f"**{escape_markdown(label)}** diverged: {run.message}. Its tables end at the "
                     "diverging step; non-finite values are marked on the charts.", icon=":material/warning:")
    if not flows:
        st.info("No error flow was recorded yet.")
        return
    key = (live.runs_key(runs), layer, weight_scale)
    st.info(cached.memo("flow.reading", key, lambda: flow_reading(runs)), icon=":material/insights:")
    ended = {label: run for label, run in runs.items() if run.status not in ACTIVE_STATUSES}
    if ended and opened is None:
        st.caption("Trained in " + ", ".join(f"{escape_markdown(label)} {run.wall_time:.1f} s"
                                            for label, run in ended.items())
                   + "; the runs are kept in the run store, so coming back to these settings is instant.")

    latest = "after training" if not any(r.status in ACTIVE_STATUSES for r in runs.values()) else "latest recording"
    lines, domain = cached.memo("flow.lines", key, lambda: flow_lines(flows, latest))
    st.subheader("Error reaching each time step")
    st.caption("‖∂L/∂h_t‖ against the lag T − t on a log axis. A straight falling line is geometric vanishing; "
               "dashed: the RNNs' reference line ‖∂L/∂h_T‖·(γw)^lag with w the initial weight scale and γ = max|f′| "
               "(1 for tanh and ReLU, 1/4 for the logistic sigmoid). With orthogonal or identity init w is "
               "σ_max(W_h) at init, so the line is an upper bound there; with gaussian init w is about the spectral "
               "radius and σ_max(W_h) is larger. With the truncated gradient no error crosses a step through W_h: "
               "before the loss, only the LSTMs' cell state carries it (‖∂L/∂h_t‖ is then exactly 0, drawn at the "
               "floor).")
    phases = list(dict.fromkeys(lines["phase"]))
    for col, phase in zip(st.columns(len(phases)), phases):
        col.markdown(f"**{phase[0].upper() + phase[1:]}**")
        cached.chart(col, "flow.lag", (key, phase), lambda phase=phase: charts.flow_lag_chart(lines, phase, domain,
                                                                                              phase))

    heat = cached.memo("flow.heat", key, lambda: tables.heatmap_table(flows, layer=layer))
    if not heat.empty and heat["step"].nunique() > 1:
        st.subheader("How the error flow changes during training")
        st.caption("log10 ‖∂L/∂h_t‖ over training step (x) and lag (y), one shared colour scale; long sequences "
                   "are binned into log-spaced lag ranges (geometric mean). Grey: exactly zero; red: overflow; "
                   f"pink: NaN. {heat['step'].nunique()} recordings, up to training step {int(heat['step'].max())}.")
        domain = charts.heat_domain(heat)
        cells = charts.panel_cells(heat)
        for i, (col, cell) in enumerate(zip(st.columns(max(len(cells), 2)), cells)):
            cached.chart(col, "flow.heatmap", (key, cell), lambda cell=cell, first=i == 0: charts.flow_heatmap(
                heat, domain, cell, legend=first))

    for label in [label for label in flows if runs[label].config.cell in MEMORY_CELLS]:
        cell = runs[label].config.cell
        st.subheader(f"{escape_markdown(label)}: the cell state carries the error")
        c1, c2 = st.columns(2)  # the carousel's equation needs half the width
        c1.markdown("**‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ against lag**")
        training = runs[label].status in ACTIVE_STATUSES  # in the key already: the runs' statuses
        cached.chart(c1, "flow.cell_state", (key, label), lambda label=label, training=training:
                     charts.cell_state_chart(tables.lstm_cell_lines(flows[label], layer, training=training),
                                             f"{label} error on the hidden state and on the cell state"))
        with c2:
            if cell in CAROUSEL_CELLS:
                st.latex(equations.LSTM97_CEC)
                st.markdown("No forget gate: along the cell state each step back multiplies the error by exactly 1 "
                            "(Hochreiter & Schmidhuber's constant error carousel), so ‖∂L/∂c_t‖ comes back "
                            "undamped. With their truncated gradient (Gradient: truncated) nothing else flows back "
                            "in time and ‖∂L/∂c_t‖ is flat; with full BPTT it also gathers what the gates pass "
                            "back through W_h.")
            else:
                st.latex(equations.LSTM_CEC)
                st.markdown("Along the cell state, each step back multiplies the error by the forget gate f_t "
                            "only. With f_t near 1 (forget bias > 0) ‖∂L/∂c_t‖ stays flat over long lags while "
                            "‖∂L/∂h_t‖ also collects what the gates pass back.")


live.show(ids, draw)

st.page_link("pages/training.py", label="Loss, gradients and σ_max(W_h) of these runs",
             icon=":material/show_chart:", query_params=settings.format_params("training", values) if opened is None
             else settings.opened_runs_params(ids.values()))

with st.expander("The equations behind these plots"):
    st.latex(equations.RNN_BPTT)
    st.latex(equations.RNN_BOUND)
    st.latex(equations.LSTM_BACKWARD)