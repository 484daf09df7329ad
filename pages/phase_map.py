"""Phase map: where, at initialisation, each cell's error vanishes or explodes over weight scale × length."""

import streamlit as st

from lstmlab.ui import cached, charts, equations, limits, nav, probes, state, widgets

nav.ensure_router()

st.title("Phase map")
st.markdown(
    "No training: every point is a freshly initialised network, run forward and backward once on an "
    "adding-problem batch. Colour is how much of the error at the loss reaches the first step: "
    "blue vanishes, red explodes, white keeps its size."
)
st.latex(equations.PHASE_RATIO)

values = state.read_params("phase")
submitted, edited = widgets.phase_form_ui(values)
if submitted:
    values = edited
state.write_params("phase", values)

if not values["cells"]:
    st.error("Choose at least one cell.", icon=":material/error:")
    st.stop()
if values["wmin"] >= values["wmax"]:
    st.error(f"The smallest weight scale ({values['wmin']:g}) must be below the largest ({values['wmax']:g}).",
             icon=":material/error:")
    st.stop()
work = len(values["cells"]) * values["nw"] * values["Tmax"] * values["H"] * limits.PHASE_BATCH
if work > limits.PHASE_MAX_WORK:
    st.error(limits.too_big_message(work, limits.PHASE_MAX_WORK, "phase map", "python -m lstmlab run --help"),
             icon=":material/block:")
    st.stop()

scales = probes.phase_scales(values["wmin"], values["wmax"], values["nw"])
lengths = probes.phase_lengths(values["Tmax"], values["nT"])
try:
    grid = cached.phase_map(tuple(values["cells"]), tuple(scales), tuple(lengths), values["H"], values["init"],
                            values["fb"], values["seed"])
except ValueError as e:
    widgets.show_error(e)
    st.stop()

st.altair_chart(charts.phase_map_chart(grid, width={1: 600, 2: 380}.get(len(values["cells"]), 260)),
                width="content")
st.caption(
    "The dashed line is σ_max(W_h)·γ = 1 (Pascanu, Mikolov & Bengio 2013): with orthogonal init σ_max(W_h) is the "
    "weight scale and γ = max|tanh′| = 1, so left of it the RNN's error must vanish. Right of it, it may explode "
    "but tanh saturation usually pulls it back. The ratio for length T is read T − 1 steps back from the loss of "
    "one sequence of the longest length."
)

st.subheader("Jacobian spectrum for one setting")
st.markdown("Singular values of the product of recurrent Jacobians ∂s_T/∂s_{T−lag} for one example "
            "(s = h for RNN and GRU, s = (h, c) for the LSTM).")
cell, ws, T = widgets.spectrum_ui(1.0, 100)
try:
    spec_df = cached.spectrum(cell, ws, T, values["H"], values["init"], values["fb"], values["seed"])
except ValueError as e:
    widgets.show_error(e)
    st.stop()
st.altair_chart(charts.spectrum_chart(spec_df), width="stretch")
