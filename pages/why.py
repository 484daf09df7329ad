"""Why gradients vanish: the scalar recurrence w^k, and the BPTT product it stands for."""

import streamlit as st

from lstmlab.ui import cached, charts, equations, nav, state
from lstmlab.views import limits as L
from lstmlab.views import settings, tables, text

nav.ensure_router()


def why_controls_ui(values: dict) -> tuple[float, int]:
    """Sliders for the scalar recurrence on the landing page: returns (w, T)."""
    state.seed_widgets("why", values)
    c1, c2 = st.columns(2)
    w = c1.slider(
        "Recurrent weight w", L.W_MIN, L.W_MAX, step=0.01, key=state.widget_key("why", "w"),
        help="The factor the error is multiplied by at every step it travels back (σ_max(W_h)·γ in a network).",
    )
    T = c2.slider(
        "Steps back T", L.POWER_T_MIN, L.POWER_T_MAX, step=1, key=state.widget_key("why", "T"),
        help="How many time steps separate the input that mattered from the loss.",
    )
    return float(w), int(T)



st.title("Why gradients vanish")
st.markdown(
    "Backpropagation through time sends the error from the loss back through every step of the sequence. "
    "At each step it is multiplied by the same recurrent Jacobian, so after *k* steps it has been scaled by "
    "roughly the *k*-th power of one number. Below 1 that power vanishes, above 1 it explodes."
)

values = state.read_params("why")
w, T = why_controls_ui(values)
state.write_params("why", {"w": w, "T": T})

table = tables.power_table(w, T)
final = float(table["value"].iloc[-1])
c1, c2, c3 = st.columns(3)
c1.metric(f"{w:g}^{T}", text.power_value(final), help="The error factor after T steps back.")
c2.metric(f"0.9^{T}", text.power_value(0.9**T), help="A contracting recurrence for comparison.")
c3.metric(f"1.1^{T}", text.power_value(1.1**T), help="An expanding recurrence for comparison.")
st.caption(f"At w = {w:g}, {text.half_life(w)}.")

cached.chart(st, "why.power", (w, T), lambda: charts.power_chart(table, w))
if st.button("See it in a real network", icon=":material/arrow_forward:", type="primary",
             help="Open Error flow with an RNN and an LSTM at weight scale w and sequence length T "
                  "(T capped at the interactive limit)."):
    st.switch_page("pages/error_flow.py", query_params=settings.flow_link(w, T))

left, right = st.columns(2)
with left:
    st.subheader("Scalar picture")
    st.latex(equations.SCALAR)
    st.subheader("Vanilla RNN")
    st.latex(equations.RNN_FORWARD)
    st.markdown("Backpropagation through time stacks one recurrent Jacobian per step:")
    st.latex(equations.RNN_BPTT)
    st.latex(equations.RNN_BOUND)
    st.markdown(
        "With tanh, γ = 1, so σ_max(W_h) < 1 is enough for the error to vanish geometrically "
        "(Pascanu, Mikolov & Bengio 2013); σ_max(W_h) > 1 is necessary for it to explode."
    )
with right:
    st.subheader("LSTM: the constant error carousel")
    st.latex(equations.LSTM_FORWARD)
    st.markdown(
        "The cell state is updated additively. Along the direct path the error is multiplied only by the "
        "forget gate, not by a weight matrix and a squashing derivative (Hochreiter & Schmidhuber 1997):"
    )
    st.latex(equations.LSTM_CEC)
