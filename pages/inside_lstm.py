"""Inside the LSTM: gates, cell state and the error reaching each gate, step by step, beside the equations."""

import streamlit as st

from lstmlab.ui import cached, nav, state, views, widgets

nav.ensure_router()

st.title("Inside the LSTM")
st.markdown(
    "One forward and backward pass of a freshly initialised one-layer LSTM on a task batch: what each gate "
    "does at every time step for one example, and how much error reaches it. Raise the forget bias and "
    "watch f_t approach 1 and the error on the cell state stop decaying."
)

values = state.read_params("inside")
values = widgets.inside_controls_ui(values)
state.write_params("inside", values)
try:
    out = cached.lstm_inside(values["T"], values["H"], values["ws"], values["init"], values["fb"], values["task"],
                             values["seed"])
except ValueError as e:
    widgets.show_error(e)
    st.stop()
t = widgets.time_step_ui(values["T"])
views.lstm_inside_view(out, values["ex"], t)
