"""Phase map: where, at initialisation, each cell's error vanishes or explodes over weight scale × length."""

import streamlit as st

from lstmlab.core.config import CELLS, INITS, RNN_GAMMA
from lstmlab.ui import cached, charts, equations, nav, state
from lstmlab.views import limits as L
from lstmlab.views import probes
from lstmlab.views.settings import CELL_LABELS

nav.ensure_router()


def phase_form_ui(values: dict) -> tuple[bool, dict]:
    """Controls of the phase map in a form: returns (submitted, settings)."""
    state.seed_widgets("phase", values)
    k = lambda name: state.widget_key("phase", name)  # noqa: E731
    with st.form("phase.form"):
        c1, c2, c3, c4 = st.columns([1.4, 1.2, 1.2, 1])
        cells = c1.multiselect("Cells", CELLS, key=k("cells"), format_func=CELL_LABELS.get)
        wmin = c2.slider("Smallest weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("wmin"))
        wmax = c3.slider("Largest weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, step=0.05, key=k("wmax"))
        nw = c4.slider("Weight scales", L.PHASE_SCALES_MIN, L.PHASE_SCALES_MAX, key=k("nw"),
                       help="Grid points between the smallest and the largest weight scale.")
        d1, d2, d3, d4, d5, d6 = st.columns(6)
        Tmax = d1.slider("Longest sequence", 10, L.PHASE_T_MAX, key=k("Tmax"))
        nT = d2.slider("Lengths", L.PHASE_LENGTHS_MIN, L.PHASE_LENGTHS_MAX, key=k("nT"),
                       help="Sequence lengths, log-spaced from 10 to the longest.")
        H = d3.slider("Hidden size", L.HIDDEN_MIN, L.PHASE_HIDDEN_MAX, key=k("H"))
        init = d4.selectbox("Init of W_h", INITS, key=k("init"))
        fb = d5.number_input("Forget bias (LSTM)", L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX, step=0.5, key=k("fb"))
        seed = d6.number_input("Seed", L.SEED_MIN, L.SEED_MAX, step=1, key=k("seed"))
        submitted = st.form_submit_button("Draw the phase map", type="primary", icon=":material/grid_on:")
    return submitted, {"cells": list(cells), "wmin": float(wmin), "wmax": float(wmax), "nw": int(nw),
                       "Tmax": int(Tmax), "nT": int(nT), "H": int(H), "init": init, "fb": float(fb),
                       "seed": int(seed)}


def spectrum_ui(default_ws: float, default_T: int) -> tuple[str, float, int]:
    """Setting of the Jacobian spectrum view: returns (cell, weight scale, sequence length)."""
    c1, c2, c3 = st.columns(3)
    cell = c1.selectbox("Cell", CELLS, format_func=CELL_LABELS.get, key="phase.spec_cell")
    ws = c2.slider("Weight scale", L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX, value=float(default_ws), step=0.05,
                   key="phase.spec_ws")
    T = c3.slider("Sequence length", L.SEQ_LEN_MIN, min(L.PHASE_T_MAX, 200), value=int(min(default_T, 200)),
                  key="phase.spec_T")
    return cell, float(ws), int(T)


st.title("Phase map")
st.markdown(
    "No training: every point is a freshly initialised network, run forward and backward once on an "
    "adding-problem batch. Colour is how much of the error at the loss reaches the first step: "
    "blue vanishes, red explodes, white keeps its size."
)
st.latex(equations.PHASE_RATIO)

values = state.read_params("phase")
submitted, edited = phase_form_ui(values)
if submitted:
    values = edited
state.write_params("phase", values)

if not values["cells"]:
    st.error("Choose at least one cell.", icon=":material/error:")
elif values["wmin"] >= values["wmax"]:
    st.error(f"The smallest weight scale ({values['wmin']:g}) must be below the largest ({values['wmax']:g}).",
             icon=":material/error:")
else:
    scales = probes.phase_scales(values["wmin"], values["wmax"], values["nw"])
    lengths = probes.phase_lengths(values["Tmax"], values["nT"])
    try:
        probe = (tuple(values["cells"]), tuple(scales), tuple(lengths), values["H"], values["init"], values["fb"],
                 values["seed"])
        grid = cached.phase_map(*probe)
        gammas = {CELL_LABELS[c]: g for c, g in RNN_GAMMA.items()}
        panels = charts.panel_cells(grid)
        # rows of three columns, so a panel keeps its size whichever cells are chosen
        for row in range(0, len(panels), 3):
            for i, (col, cell) in enumerate(zip(st.columns(3), panels[row:row + 3]), start=row):
                cached.chart(col, "phase.map", (probe, cell), lambda cell=cell, first=i == 0: charts.phase_map_chart(
                    grid, cell, legend=first, gamma=gammas.get(cell, 1.0)))
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
st.caption(
    "Blue: the error vanishes on its way back; red: it explodes; white: it arrives at its size. The dashed line "
    "is σ_max(W_h)·γ = 1 (Pascanu, Mikolov & Bengio 2013): with orthogonal init σ_max(W_h) is the weight scale "
    "and γ = max|tanh′| = 1, so left of it the RNN's error must vanish. Right of it, it may explode "
    "but tanh saturation usually pulls it back. The ratio for length T is read T − 1 steps back from the loss of "
    "one sequence of the longest length. For the logistic RNN γ = max σ′ = 1/4, so its line sits at weight scale 4 "
    "(beyond the map: all of it vanishes). The LSTM of 1997's colour does not deepen with T: its cell state hands "
    "the error back undamped (∂c_t/∂c_{t−1} = 1, the constant error carousel) and its gates pass a share of it on "
    "to h_t at every step, so the first step gets the same fraction however long the sequence."
)

st.subheader("Jacobian spectrum for one setting")
st.markdown("Singular values of the product of recurrent Jacobians ∂s_T/∂s_{T−lag} for one example "
            "(s = h for the RNNs and the GRU, s = (h, c) for the LSTMs). For the LSTMs the dashed line follows the "
            "cell state alone, ∂c_T/∂c_{T−lag} with h held: the product of the forget gates for the LSTM, exactly 1 "
            "at every lag for the LSTM of 1997 (its carousel).")
cell, ws, T = spectrum_ui(1.0, 100)
try:
    spectrum = cached.spectrum(cell, ws, T, values["H"], values["init"], values["fb"], values["seed"])
    cached.chart(st, "phase.spectrum", (cell, ws, T, values["H"], values["init"], values["fb"], values["seed"]),
                 lambda: charts.spectrum_chart(spectrum))
except ValueError as e:
    st.error(str(e), icon=":material/error:")
