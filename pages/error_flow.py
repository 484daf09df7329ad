"""Error flow: train RNN / LSTM / GRU side by side and watch ‖∂L/∂h_t‖ across time steps."""

import streamlit as st

from lstmlab import analysis, settings, tables, text
from lstmlab.config import ACTIVE_STATUSES
from lstmlab.ui import cached, charts, equations, live, nav, study, widgets

nav.ensure_router()

st.title("Error flow")
st.markdown(
    "Train the chosen cells on the same task and record, on a held-out batch, the norm of the error "
    "‖∂L/∂h_t‖ that backpropagation through time delivers to every time step, at initialisation and during "
    "training."
)

values, ids = study.study_page("flow")
layer = widgets.layer_ui(values["layers"], key="flow.layer")


def draw(runs: dict) -> None:
    """The charts and the reading of the runs as the store holds them now."""
    flows = {label: run.flow for label, run in runs.items() if run.flow is not None and not run.flow.empty}
    for label, run in runs.items():
        if run.status == "diverged":
            st.error(f"**{label}** diverged: {run.message}. Its tables end at the diverging step; non-finite "
                     "values are marked on the charts.", icon=":material/warning:")
    if not flows:
        st.info("No error flow was recorded yet.")
        return
    baselines = {label: cached.task_info(run.config.key, run.config)["baseline"] for label, run in runs.items()}
    recoveries = {label: analysis.recovery(run.flow, run.eval, baselines[label], layer)
                  for label, run in runs.items() if label in flows}
    st.info(text.reading(flows, {label: run.status for label, run in runs.items()}, layer, recoveries),
            icon=":material/insights:")
    ended = {label: run for label, run in runs.items() if run.status not in ACTIVE_STATUSES}
    if ended:
        st.caption("Trained in " + ", ".join(f"{label} {run.wall_time:.1f} s" for label, run in ended.items())
                   + "; the runs are kept in the run store, so coming back to these settings is instant.")

    lines = tables.flow_lines(flows, layer=layer, weight_scale=values["ws"])
    # runs still in flight end at different steps: one panel for every run's latest recording
    latest = "after training" if not any(r.status in ACTIVE_STATUSES for r in runs.values()) else "latest recording"
    lines["phase"] = lines["phase"].where(lines["phase"] == "at initialisation", latest)
    domain = charts.lines_domain(lines)
    st.subheader("Error reaching each time step")
    st.caption("‖∂L/∂h_t‖ against the lag T − t on a log axis. A straight falling line is geometric vanishing; "
               "dashed: the RNN's reference line ‖∂L/∂h_T‖·w^lag with w the initial weight scale (γ = 1 for "
               "tanh). With orthogonal or identity init w is σ_max(W_h) at init, so the line is an upper bound "
               "there; with gaussian init w is about the spectral radius and σ_max(W_h) is larger.")
    phases = list(dict.fromkeys(lines["phase"]))
    for col, phase in zip(st.columns(len(phases)), phases):
        col.markdown(f"**{phase[0].upper() + phase[1:]}**")
        col.altair_chart(charts.flow_lag_chart(lines, phase, domain, phase), width="stretch")

    heat = tables.heatmap_table(flows, layer=layer)
    if not heat.empty and heat["step"].nunique() > 1:
        st.subheader("How the error flow changes during training")
        st.caption("log10 ‖∂L/∂h_t‖ over training step (x) and lag (y), one shared colour scale; long sequences "
                   "are binned into log-spaced lag ranges (geometric mean). Grey: exactly zero; red: overflow; "
                   f"pink: NaN. {heat['step'].nunique()} recordings, up to training step {int(heat['step'].max())}.")
        st.altair_chart(charts.flow_heatmap(heat, charts.heat_domain(heat),
                                            width={1: 640, 2: 390}.get(len(flows), 260)), width="content")

    if "LSTM" in flows:
        st.subheader("LSTM: the cell state carries the error")
        c1, c2 = st.columns([3, 2])
        c1.markdown("**‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ against lag**")
        lstm_training = runs["LSTM"].status in ACTIVE_STATUSES
        c1.altair_chart(charts.cell_state_chart(tables.lstm_cell_lines(flows["LSTM"], layer, training=lstm_training),
                                                "LSTM error on the hidden state and on the cell state"),
                        width="stretch")
        with c2:
            st.latex(equations.LSTM_CEC)
            st.markdown("Along the cell state, each step back multiplies the error by the forget gate f_t only. "
                        "With f_t near 1 (forget bias > 0) ‖∂L/∂c_t‖ stays flat over long lags while "
                        "‖∂L/∂h_t‖ also collects what the gates pass back.")


live.show(ids, draw)

st.page_link("pages/training.py", label="Loss, gradients and σ_max(W_h) of these runs",
             icon=":material/show_chart:", query_params=settings.format_params("training", values))

with st.expander("The equations behind these plots"):
    st.latex(equations.RNN_BPTT)
    st.latex(equations.RNN_BOUND)
    st.latex(equations.LSTM_BACKWARD)