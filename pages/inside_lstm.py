"""Inside the LSTM: gates, cell state and the error reaching each gate, step by step, beside the equations."""

import streamlit as st

from lstmlab.ui import cached, charts, equations, nav, network_picker, state, widgets
from lstmlab.views import probes, text

nav.ensure_router()


def time_step_ui(T: int) -> int:
    """The time step t (1..T) to inspect: T // 2 at first, then kept, clamped to 1..T when T shrinks."""
    key, T = "inside.t", int(T)
    if key in st.session_state:
        st.session_state[key] = min(max(int(st.session_state[key]), 1), T)
        return int(st.slider("Time step t to inspect", 1, T, key=key))
    return int(st.slider("Time step t to inspect", 1, T, value=max(1, T // 2), key=key))


st.title("Inside the LSTM")
st.markdown(
    "One forward and backward pass of a one-layer LSTM on a fresh task batch: what each gate does at every time "
    "step for one example, and how much error reaches it. Freshly initialised, raise the forget bias and watch "
    "f_t approach 1; trained on the adding problem, the network opens the forget gates of the units it keeps "
    "its memory in, and the error on their cell state stays flat across the whole sequence. The LSTM of 1997 has "
    "no forget gate: ∂c_t/∂c_{t−1} = 1 in every unit, and with its truncated gradient the error on the cell "
    "state is carried back unchanged."
)

values, net = network_picker.pick_network(state.read_params("inside"))
layer = widgets.layer_ui(net.config.layers, key="inside.layer")
seed, example = values["seed"], values["ex"]
try:
    out = cached.lstm_inside(net.key, int(seed), int(layer), net.config, net.params)
    start = out if net.params is None else cached.lstm_inside(
        "init:" + net.config.replace(steps=0, record_every=1).key, int(seed), int(layer), net.config, None)
except ValueError as e:
    widgets.show_error(e)
    st.stop()
units = probes.open_units(out)
lstm97 = out["cell"] in probes.CAROUSEL_CELLS  # every unit is a memory unit: no separate lines for them
ig = out["cell"] == "lstm97ig"  # HS97's Experiment 2 cell: an input gate only, h_t = c_t
forward, backward, code, texts = equations.CELL_EQUATIONS[out["cell"]]
inside_key = (net.key, int(seed), int(layer), int(example))  # names everything drawn below but t
charted = cached.memo("inside.tables", inside_key, lambda: probes.inside_tables(out, example,
                                                                                None if lstm97 else units))
grids = charted["grids"]

st.info(net.text, icon=":material/memory:")
trained = net.params is not None
now, before = probes.units_summary(out, units), probes.units_summary(start, units)
label = "all units" if lstm97 else f"memory units ({probes.units_label(units)})"
m1, m2, m3 = st.columns(3)
m1.metric(f"Loss on this batch (seed {seed})", text.fmt(out["loss"]),
          delta=f"{out['loss'] - start['loss']:+.3g} vs initialised" if trained else None,
          delta_color="inverse")
if lstm97:
    m2.metric(f"Mean ∂c_t/∂c_(t−1), {label}", f"{now['carry_mean']:.3f}",
              help="The LSTM of 1997 has no forget gate: the cell state's self-connection has weight 1, so "
                   "∂c_t/∂c_{t−1} = 1 in every unit at every step (computed here by a backward step, not assumed): "
                   "the constant error carousel.")
else:
    m2.metric(f"Mean forget gate, {label}", f"{now['carry_mean']:.3f}",
              delta=f"{now['carry_mean'] - before['carry_mean']:+.3f} vs initialised" if trained else None,
              help="Memory units: the quarter of the units whose forget gate is most open on this batch, where a "
                   "trained LSTM keeps what it must remember. f = 1 keeps the cell state, and the error on it, "
                   "unchanged. Dashed lines in the charts below.")
m3.metric(f"‖δc_1‖ / ‖δc_T‖, {label}", text.fmt(now["carousel"]),
          delta=f"initialised: {text.fmt(before['carousel'])}" if trained else None, delta_color="off",
          delta_arrow="off",
          help="Error on these units' cell state at the first step relative to the last, mean over the batch: "
               "near 1 the carousel carries it over the whole sequence, far below 1 it has vanished.")
T = out["c"].shape[0]
t = time_step_ui(T)

left, right = st.columns(2)  # the forward equations with their gate labels need half the width
with left:
    st.markdown("**Mean gate activation over the hidden units, per time step**")
    cached.chart(st, "inside.means", (inside_key, t), lambda: charts.per_step_chart(
        charted["means"], "mean activation over units", log=False, marker_t=t))
    st.markdown("**Norm of the error reaching each gate's pre-activation, and the states**")
    cached.chart(st, "inside.norms", (inside_key, t), lambda: charts.per_step_chart(
        charted["norms"], "‖δ‖ over hidden units (log scale)", log=True, color_title="error signal", marker_t=t))
with right:
    st.markdown("**Forward**")
    st.latex(forward)
    st.markdown("**Backward** (δ = ∂L/∂·)")
    st.latex(backward)
    st.caption(code)
    st.markdown(f"**At time step t = {t}**")
    st.dataframe(probes.at_step(out, example, t), hide_index=True, width="stretch",
                 column_config={"mean": st.column_config.NumberColumn(format="%.3f", help="over hidden units"),
                                "min": st.column_config.NumberColumn(format="%.3f"),
                                "max": st.column_config.NumberColumn(format="%.3f"),
                                "‖δ‖": st.column_config.NumberColumn(
                                    format="%.2e", help="norm of ∂L/∂(pre-activation); for c: of ∂L/∂c_t; for "
                                                        "∂c_t/∂c_(t−1): of the error it passes back to c_(t−1)")})

st.markdown("**Every unit over time** (rows: hidden units, columns: time steps)")
cols = st.columns(2)
names = probes.gate_names(out["cell"])
if lstm97:  # the forget gate's place: the carousel's factor ∂c_t/∂c_{t−1}, 1 everywhere
    specs = [("i", "i_t", "viridis", (0, 1), None), ("carry", "∂c_t/∂c_(t−1)", "viridis", (0, 1), None),
             ("n", "n_t", "redblue", (-1, 1) if ig else (-2, 2), 0)] + ([] if ig else [
             ("o", "o_t", "viridis", (0, 1), None)])
    names, texts = {**names, "carry": probes.CARRY_NAME}, {
        **texts, "carry": "the error on the cell state is multiplied by this on each step back: 1, the carousel"}
else:
    specs = [("i", "i_t", "viridis", (0, 1), None), ("f", "f_t", "viridis", (0, 1), None),
             ("n", "n_t", "redblue", (-1, 1), 0), ("o", "o_t", "viridis", (0, 1), None)]
for idx, (g, title, scheme, dom, mid) in enumerate(specs):
    with cols[idx % 2]:
        st.caption(f"{names[g]}: {texts[g]}")
        cached.chart(st, "inside.gate", (inside_key, g), lambda g=g, title=title, scheme=scheme, dom=dom, mid=mid:
                     charts.gate_heatmap(grids[g], title, scheme, dom, mid))
m = float(max(abs(grids["c"]["value"].min()), abs(grids["c"]["value"].max()), 1e-12))
st.caption("cell state c_t = c_{t−1} + i_t ⊙ n_t (no forget gate: the constant error carousel)" if lstm97 else
           "cell state c_t = f_t ⊙ c_{t−1} + i_t ⊙ n_t")
cached.chart(st, "inside.cell", inside_key, lambda: charts.gate_heatmap(grids["c"], "c_t", "redblue", (-m, m), 0))
