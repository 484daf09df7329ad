"""A live page for the load client's test: a fragment that reruns every 0.2 s and draws its chart from its third
run on, as a page following a training job does."""

import altair as alt
import pandas as pd
import streamlit as st

st.session_state.setdefault("fragment_runs", 0)


@st.fragment(run_every=0.2)
def live() -> None:
    st.session_state.fragment_runs += 1
    if st.session_state.fragment_runs < 3:
        st.write("waiting for the first record")
        return
    data = pd.DataFrame({"step": [0, 1], "loss": [1.0, 0.5]})
    st.altair_chart(alt.Chart(data).mark_line().encode(x="step", y="loss"))


live()
