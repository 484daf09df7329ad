"""Composite views shared by pages: a few charts drawn together from one set of runs."""

from __future__ import annotations

import streamlit as st

from lstmlab.ui import charts, equations, shaping


def _panel_width(n: int) -> int:
    return {1: 640, 2: 390}.get(n, 260)


def error_flow_view(runs: dict, weight_scale: float, layer: int = 0, key: str = "flow") -> None:
    """Everything the Error flow page shows for a set of runs keyed by label ("RNN", "LSTM", ...)."""
    flows = {label: run.flow for label, run in runs.items() if run.flow is not None and not run.flow.empty}
    statuses = {label: run.status for label, run in runs.items()}
    for label, run in runs.items():
        if run.status == "diverged":
            st.error(f"**{label}** diverged: {run.message}. Its tables end at the diverging step; non-finite "
                     "values are marked on the charts.", icon=":material/warning:")
        elif run.status == "stopped":
            st.warning(f"**{label}** was stopped early: {run.message}.")
    if not flows:
        st.info("No error flow was recorded.")
        return
    st.info(shaping.reading(flows, statuses, layer), icon=":material/insights:")

    lines = shaping.flow_lines(flows, layer=layer, weight_scale=weight_scale)
    domain = charts.lines_domain(lines)
    phases = list(dict.fromkeys(lines["phase"]))
    st.subheader("Error reaching each time step")
    st.caption("‖∂L/∂h_t‖ against the lag T − t on a log axis. A straight falling line is geometric vanishing; "
               "dashed: the RNN's envelope ‖∂L/∂h_T‖·w^lag with w the weight scale (σ_max(W_h) at init, "
               "γ = 1 for tanh).")
    cols = st.columns(len(phases))
    for col, phase in zip(cols, phases):
        col.markdown(f"**{phase[0].upper() + phase[1:]}**")
        col.altair_chart(charts.flow_lag_chart(lines, phase, domain, phase), width="stretch")

    hm = shaping.heatmap_table(flows, layer=layer)
    if not hm.empty and hm["step"].nunique() > 1:
        st.subheader("How the error flow changes during training")
        st.caption("log10 ‖∂L/∂h_t‖ over training step (x) and lag (y), one shared colour scale; long sequences "
                   "are binned into log-spaced lag ranges (geometric mean). Grey: exactly zero; red: overflow; "
                   "pink: NaN.")
        st.altair_chart(charts.flow_heatmap(hm, charts.heat_domain(hm), width=_panel_width(len(flows))),
                        width="content")

    if "LSTM" in flows:
        st.subheader("LSTM: the cell state carries the error")
        c1, c2 = st.columns([3, 2])
        c1.markdown("**‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ against lag**")
        c1.altair_chart(charts.cell_state_chart(shaping.lstm_cell_lines(flows["LSTM"], layer),
                                                "LSTM error on the hidden state and on the cell state"),
                        width="stretch")
        with c2:
            st.latex(equations.LSTM_CEC)
            st.markdown("Along the cell state, each step back multiplies the error by the forget gate f_t only. "
                        "With f_t near 1 (forget bias > 0) ‖∂L/∂c_t‖ stays flat over long lags while "
                        "‖∂L/∂h_t‖ also collects what the gates pass back.")
