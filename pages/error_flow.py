"""Error flow: train RNN / LSTM / GRU side by side and watch ‖∂L/∂h_t‖ across time steps."""

import streamlit as st

from lstmlab.ui import equations, nav, state, views, widgets

nav.ensure_router()

st.title("Error flow")
st.markdown(
    "Train the chosen cells on the same task and record, on a held-out batch, the norm of the error "
    "‖∂L/∂h_t‖ that backpropagation through time delivers to every time step, at initialisation and during "
    "training."
)

values, results = views.study_page("flow")
layer = widgets.layer_ui(values["layers"], key="flow.layer")
views.error_flow_view(results, values["ws"], layer)

st.page_link("pages/training.py", label="Loss, gradients and σ_max(W_h) of these runs",
             icon=":material/show_chart:", query_params=state.format_params("training", values))

with st.expander("The equations behind these plots"):
    st.latex(equations.RNN_BPTT)
    st.latex(equations.RNN_BOUND)
    st.latex(equations.LSTM_BACKWARD)
