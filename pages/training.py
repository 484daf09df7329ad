"""Training: loss against the task baseline, gradient norms, clipping and σ_max of W_h's gate blocks for the
current study."""

import streamlit as st

from lstmlab.ui import nav, state, views

nav.ensure_router()

st.title("Training")
st.markdown(
    "What the optimiser saw: the loss against the task's baseline predictor, the gradient norm before "
    "clipping, and the largest singular value of the gate blocks of the recurrent weights W_h. Same settings as "
    "Error flow."
)

values, results = views.study_page("training")
views.training_view(results, values["layers"])
st.page_link("pages/error_flow.py", label="Error flow of these runs", icon=":material/stacked_line_chart:",
             query_params=state.format_params("flow", values))
