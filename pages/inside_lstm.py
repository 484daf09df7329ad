"""Inside the LSTM: gates, cell state and the error reaching each gate, step by step, beside the equations."""

import streamlit as st

from lstmlab.ui import nav, state, views, widgets

nav.ensure_router()

st.title("Inside the LSTM")
st.markdown(
    "One forward and backward pass of a one-layer LSTM on a fresh task batch: what each gate does at every time "
    "step for one example, and how much error reaches it. Freshly initialised, raise the forget bias and watch "
    "f_t approach 1; trained on the adding problem, the network opens the forget gates of the units it keeps "
    "its memory in, and the error on their cell state stays flat across the whole sequence."
)

values, net = views.inside_network_ui(state.read_params("inside"))
layer = widgets.layer_ui(net.config.layers, key="inside.layer")
views.lstm_inside_view(net, values["seed"], values["ex"], layer)
