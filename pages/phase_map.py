"""Phase map: where, at initialisation, each cell's error vanishes or explodes over weight scale × length."""

import streamlit as st

from lstmlab.ui import equations, nav, state, views, widgets

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

views.phase_map_view(values)
st.caption(
    "Blue: the error vanishes on its way back; red: it explodes; white: it arrives at its size. The dashed line "
    "is σ_max(W_h)·γ = 1 (Pascanu, Mikolov & Bengio 2013): with orthogonal init σ_max(W_h) is the weight scale "
    "and γ = max|tanh′| = 1, so left of it the RNN's error must vanish. Right of it, it may explode "
    "but tanh saturation usually pulls it back. The ratio for length T is read T − 1 steps back from the loss of "
    "one sequence of the longest length."
)

st.subheader("Jacobian spectrum for one setting")
st.markdown("Singular values of the product of recurrent Jacobians ∂s_T/∂s_{T−lag} for one example "
            "(s = h for RNN and GRU, s = (h, c) for the LSTM).")
cell, ws, T = widgets.spectrum_ui(1.0, 100)
views.spectrum_view(cell, ws, T, values)
