"""Composite views shared by pages: a few charts drawn together from one set of runs."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lstmlab.ui import charts, equations, shaping


def _panel_width(n: int) -> int:
    return {1: 640, 2: 390}.get(n, 260)


def error_flow_view(runs: dict, weight_scale: float, layer: int = 0, key: str = "flow") -> None:
    """Everything the Error flow page shows for a set of runs keyed by label ("RNN", "LSTM", ...)."""
    flows = {label: run.flow for label, run in runs.items() if run.flow is not None and not run.flow.empty}
    statuses = {label: run.status for label, run in runs.items()}
    for label, run in runs.items():
        if run.status == "diverged":
            st.error(f"**{label}** diverged: {run.message}. Its tables end at the diverging step; non-finite "
                     "values are marked on the charts.", icon=":material/warning:")
        elif run.status == "stopped":
            st.warning(f"**{label}** was stopped early: {run.message}.")
    if not flows:
        st.info("No error flow was recorded.")
        return
    st.info(shaping.reading(flows, statuses, layer), icon=":material/insights:")
    st.caption("Trained in " + ", ".join(f"{label} {run.wall_time:.1f} s" for label, run in runs.items())
               + "; these settings are cached, so coming back to them is instant.")

    lines = shaping.flow_lines(flows, layer=layer, weight_scale=weight_scale)
    domain = charts.lines_domain(lines)
    phases = list(dict.fromkeys(lines["phase"]))
    st.subheader("Error reaching each time step")
    st.caption("‖∂L/∂h_t‖ against the lag T − t on a log axis. A straight falling line is geometric vanishing; "
               "dashed: the RNN's reference line ‖∂L/∂h_T‖·w^lag with w the initial weight scale (γ = 1 for "
               "tanh). With orthogonal or identity init w is σ_max(W_h) at init, so the line is an upper bound "
               "there; with gaussian init w is about the spectral radius and σ_max(W_h) is larger.")
    cols = st.columns(len(phases))
    for col, phase in zip(cols, phases):
        col.markdown(f"**{phase[0].upper() + phase[1:]}**")
        col.altair_chart(charts.flow_lag_chart(lines, phase, domain, phase), width="stretch")

    hm = shaping.heatmap_table(flows, layer=layer)
    if not hm.empty and hm["step"].nunique() > 1:
        st.subheader("How the error flow changes during training")
        st.caption("log10 ‖∂L/∂h_t‖ over training step (x) and lag (y), one shared colour scale; long sequences "
                   "are binned into log-spaced lag ranges (geometric mean). Grey: exactly zero; red: overflow; "
                   "pink: NaN.")
        st.altair_chart(charts.flow_heatmap(hm, charts.heat_domain(hm), width=_panel_width(len(flows))),
                        width="content")

    if "LSTM" in flows:
        st.subheader("LSTM: the cell state carries the error")
        c1, c2 = st.columns([3, 2])
        c1.markdown("**‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ against lag**")
        c1.altair_chart(charts.cell_state_chart(shaping.lstm_cell_lines(flows["LSTM"], layer),
                                                "LSTM error on the hidden state and on the cell state"),
                        width="stretch")
        with c2:
            st.latex(equations.LSTM_CEC)
            st.markdown("Along the cell state, each step back multiplies the error by the forget gate f_t only. "
                        "With f_t near 1 (forget bias > 0) ‖∂L/∂c_t‖ stays flat over long lags while "
                        "‖∂L/∂h_t‖ also collects what the gates pass back.")


def training_view(runs: dict, layer_count: int = 1) -> None:
    """Loss and metric curves with the task baseline, gradient norms, clipping, and the largest singular value
    of W_h's gate blocks over training."""
    from lstmlab.ui import runs as R

    if not runs:
        st.info("No runs to show.")
        return
    first = next(iter(runs.values()))
    info = R.task_info(first.config.key, first.config)
    for label, run in runs.items():
        if run.status == "diverged":
            st.error(f"**{label}** diverged: {run.message}.", icon=":material/warning:")
    cols = st.columns(len(runs))
    for col, (label, run) in zip(cols, runs.items()):
        ev = run.eval
        last = float(ev["loss"].iloc[-1]) if len(ev) else float("nan")
        metric = float(ev["metric"].iloc[-1]) if len(ev) else float("nan")
        col.metric(f"{label}: held-out loss", shaping.fmt(last), help=f"Baseline {info['baseline']:.4g}",
                   delta=f"{last - info['baseline']:+.3g} vs baseline", delta_color="inverse")
        col.caption(f"{info['metric_name']}: {shaping.fmt(metric)} (chance {shaping.fmt(info['chance_metric'])}); "
                    f"{run.message}; {run.wall_time:.1f} s")

    steps = {label: run.steps for label, run in runs.items()}
    evals = {label: run.eval for label, run in runs.items()}
    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Loss** (thin: training batch, points: held-out batch, dashed: {info['baseline_name']})")
        st.altair_chart(charts.training_chart(shaping.training_long(steps, evals, "loss"), "",
                                              f"loss ({info['loss']}, log scale)", info["baseline"], log=True,
                                              baseline_label=info["baseline_name"]), width="stretch")
    with c2:
        st.markdown(f"**{'MSE' if info['metric_name'] == 'mse' else info['metric_name'].capitalize()}** "
                    f"(dashed: {info['baseline_name']})")
        st.altair_chart(charts.training_chart(shaping.training_long(steps, evals, "metric"), "",
                                              info["metric_name"], info["chance_metric"],
                                              log=info["metric_name"] == "mse",
                                              baseline_label="chance / baseline"), width="stretch")
    c3, c4 = st.columns(2)
    with c3:
        st.markdown("**Global gradient norm** (diamonds: steps where it was clipped)")
        st.altair_chart(charts.gradnorm_chart(shaping.gradnorm_long(steps), first.config.clip, ""),
                        width="stretch")
        n_clipped = {label: int(run.steps["clipped"].sum()) if len(run.steps) else 0 for label, run in runs.items()}
        st.caption("Clipped steps: " + ", ".join(f"{k} {v} of {len(runs[k].steps)}" for k, v in n_clipped.items()))
    with c4:
        st.markdown("**Largest singular value of W_h's gate blocks** (σ_max over the layer's gate blocks; "
                    "1/γ = 1 is the vanishing/exploding boundary)")
        st.caption("At orthogonal or identity init every gate block has σ_max = the weight scale; at gaussian "
                   "init the spectral radius is about the weight scale and σ_max is larger.")
        sig_cols = [f"sigma_max:l{k}" for k in range(layer_count)]
        st.altair_chart(charts.prefixed_chart(shaping.series_long(steps, sig_cols), "",
                                              "σ_max of W_h's gate blocks", log=False, color_title="run, layer",
                                              by_run=True), width="stretch")
    st.markdown("**Gradient norm per parameter** (before clipping)")
    pcols = st.columns(min(len(runs), 3))
    for col, (label, run) in zip(pcols * 3, runs.items()):
        with col:
            st.caption(label)
            st.altair_chart(charts.prefixed_chart(shaping.melt_prefixed(run.steps, "gnorm:"), "",
                                                  "‖∂L/∂θ‖ (log scale)", log=True), width="stretch")
    if "LSTM" in runs and runs["LSTM"].steps["forget_mean"].notna().any():
        st.markdown("**LSTM mean forget gate** over training (1 = the carousel keeps everything)")
        st.altair_chart(charts.prefixed_chart(shaping.series_long({"LSTM": runs["LSTM"].steps}, ["forget_mean"]),
                                              "", "mean f_t over batch, steps and units", log=False,
                                              color_title="run", by_run=True), width="stretch")


@dataclass(frozen=True)
class Network:
    """The LSTM Inside the LSTM shows: its config, its parameters (None: the config's initialisation), the cache
    key of those parameters ("init:…", "trained:…" or "run:…") and a sentence saying what it is."""

    kind: str  # "init" | "trained" | "stored"
    key: str
    config: object  # RunConfig
    params: dict | None
    text: str


def inside_network_ui(values: dict) -> tuple[dict, Network]:
    """Controls of Inside the LSTM and the network they name: freshly initialised, trained with the page's
    settings (the Error flow page's cached training path, saved to the run store) or a stored LSTM run.

    Returns (applied settings, network); puts the settings in the URL. Stops the page with a message when there
    is nothing to show (invalid or oversized settings, no stored run, an unreadable store).
    """
    from lstmlab.ui import limits
    from lstmlab.ui import runs as R
    from lstmlab.ui import state, widgets

    kind = widgets.inside_network_ui(values)
    run_id = ""
    if kind == "stored":
        try:
            rows = R.stored_lstm_runs()
        except ValueError as e:
            widgets.show_error(e)
            st.stop()
        if rows.empty:
            st.info("No stored LSTM run has its parameters yet. Choose *Trained with these settings* (the run is "
                    "saved to the run store), or train an LSTM on the Error flow page or with "
                    "`python -m lstmlab run --cell lstm`.", icon=":material/inventory_2:")
            widgets.inside_controls_ui(values, kind)
            st.stop()
        labels = {r["id"]: f"{R.run_label(r)} · {r['task']}, {r['steps']} steps, {r['status']}"
                  for r in rows.to_dict("records")}
        run_id = widgets.stored_run_ui(list(labels), labels)
    values = widgets.inside_controls_ui(values, kind)
    values["run"] = run_id or values.get("run", "")
    state.write_params("inside", values)

    if kind == "stored":
        row = rows.set_index("id").loc[run_id]
        too_big = [f"sequence length {int(row['seq_len'])} > {limits.INSIDE_T_MAX}"
                   if int(row["seq_len"]) > limits.INSIDE_T_MAX else "",
                   f"hidden size {int(row['hidden_size'])} > {limits.HIDDEN_MAX}"
                   if int(row["hidden_size"]) > limits.HIDDEN_MAX else ""]
        if any(too_big):
            st.error(f"This run is too large to inspect here: {' and '.join(t for t in too_big if t)} (Inside the "
                     f"LSTM runs a batch of {limits.INSIDE_BATCH_MAX} through sequences of at most "
                     f"{limits.INSIDE_T_MAX} steps and {limits.HIDDEN_MAX} hidden units). Choose a smaller run, or "
                     f"train one with `python -m lstmlab run --cell lstm --seq-len {limits.INSIDE_T_MAX} "
                     f"--hidden-size {limits.HIDDEN_MAX}` or less.", icon=":material/block:")
            st.stop()
        try:
            run = R.load_run(run_id, row["name"], row["tags"])
        except KeyError:
            st.warning("That run was deleted meanwhile.")
            st.stop()
        source = f"Stored run {R.run_label(row.to_dict() | {'id': run_id})}: "
        return values, Network("stored", f"run:{run_id}", run.config, run.params,
                               R.network_text(run.config, run, source))
    try:
        config = R.inside_config(values)
    except ValueError as e:
        widgets.show_error(e)
        st.stop()
    if kind == "init":
        return values, Network("init", "init:" + config.replace(steps=0, record_every=1).key, config, None,
                               R.network_text(config))
    run = study_results(R.inside_study_values(values), None, "")["LSTM"]
    text = R.network_text(config, run) + f" Trained in {run.wall_time:.1f} s (cached)."
    return values, Network("trained", f"trained:{config.key}", config, run.params, text)


def lstm_inside_view(net: Network, seed: int, example: int, layer: int, t: int | None = None) -> None:
    """Gate activations, cell state and the gradient reaching each gate for one example of a fresh task batch,
    beside the equations; for a trained network also its forget gates and cell-state error against the same
    units at initialisation."""
    from lstmlab.ui import cached, probes, widgets

    try:
        out = cached.lstm_inside(net.key, int(seed), int(layer), net.config, net.params)
        start = out if net.params is None else cached.lstm_inside(
            "init:" + net.config.replace(steps=0, record_every=1).key, int(seed), int(layer), net.config, None)
    except ValueError as e:
        widgets.show_error(e)
        return
    units = probes.open_units(out)
    tables = probes.inside_tables(out, example, units)
    grids = tables["grids"]

    st.info(net.text, icon=":material/memory:")
    trained = net.params is not None
    now, before = probes.units_summary(out, units), probes.units_summary(start, units)
    label = f"memory units ({probes.units_label(units)})"
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Loss on this batch (seed {seed})", shaping.fmt(out["loss"]),
              delta=f"{out['loss'] - start['loss']:+.3g} vs initialised" if trained else None,
              delta_color="inverse")
    m2.metric(f"Mean forget gate, {label}", f"{now['forget_mean']:.3f}",
              delta=f"{now['forget_mean'] - before['forget_mean']:+.3f} vs initialised" if trained else None,
              help="Memory units: the quarter of the units whose forget gate is most open on this batch, where a "
                   "trained LSTM keeps what it must remember. f = 1 keeps the cell state, and the error on it, "
                   "unchanged. Dashed lines in the charts below.")
    m3.metric(f"‖δc_1‖ / ‖δc_T‖, {label}", shaping.fmt(now["carousel"]),
              delta=f"initialised: {shaping.fmt(before['carousel'])}" if trained else None, delta_color="off",
              delta_arrow="off",
              help="Error on these units' cell state at the first step relative to the last, mean over the batch: "
                   "near 1 the carousel carries it over the whole sequence, far below 1 it has vanished.")
    T = out["c"].shape[0]
    t = widgets.time_step_ui(T) if t is None else min(max(int(t), 1), T)

    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Mean gate activation over the hidden units, per time step**")
        st.altair_chart(charts.per_step_chart(tables["means"], "mean activation over units", log=False,
                                              marker_t=t), width="stretch")
        st.markdown("**Norm of the error reaching each gate's pre-activation, and the states**")
        st.altair_chart(charts.per_step_chart(tables["norms"], "‖δ‖ over hidden units (log scale)", log=True,
                                              color_title="error signal", marker_t=t), width="stretch")
    with right:
        st.markdown("**Forward**")
        st.latex(equations.LSTM_FORWARD)
        st.markdown("**Backward** (δ = ∂L/∂·)")
        st.latex(equations.LSTM_BACKWARD)
        st.markdown(f"**At time step t = {t}**")
        st.dataframe(probes.at_step(out, example, t), hide_index=True, width="stretch",
                     column_config={"mean": st.column_config.NumberColumn(format="%.3f", help="over hidden units"),
                                    "min": st.column_config.NumberColumn(format="%.3f"),
                                    "max": st.column_config.NumberColumn(format="%.3f"),
                                    "‖δ‖": st.column_config.NumberColumn(
                                        format="%.2e", help="norm of ∂L/∂(pre-activation); for c: of ∂L/∂c_t")})

    st.markdown("**Every unit over time** (rows: hidden units, columns: time steps)")
    cols = st.columns(2)
    specs = [("i", "i_t", "viridis", (0, 1), None), ("f", "f_t", "viridis", (0, 1), None),
             ("n", "n_t", "redblue", (-1, 1), 0), ("o", "o_t", "viridis", (0, 1), None)]
    for idx, (g, title, scheme, dom, mid) in enumerate(specs):
        with cols[idx % 2]:
            st.caption(f"{probes.GATE_NAMES[g]}: {equations.GATE_TEXT[g]}")
            st.altair_chart(charts.gate_heatmap(grids[g], title, scheme, dom, mid, width=420), width="content")
    m = float(max(abs(grids["c"]["value"].min()), abs(grids["c"]["value"].max()), 1e-12))
    st.caption("cell state c_t = f_t ⊙ c_{t−1} + i_t ⊙ n_t")
    st.altair_chart(charts.gate_heatmap(grids["c"], "c_t", "redblue", (-m, m), 0, width=880), width="content")


def runs_overlay_view(runs: dict) -> None:
    """Error flow at initialisation and after training, and the loss curves, of several stored runs."""
    flows = {label: run.flow for label, run in runs.items() if run.flow is not None and not run.flow.empty}
    if flows:
        st.info(shaping.reading(flows, {label: run.status for label, run in runs.items()}),
                icon=":material/insights:")
        lines = shaping.flow_lines(flows, layer=0, weight_scale=None)
        lines["phase"] = lines["phase"].where(lines["phase"] == "at initialisation", "after training")
        domain = charts.lines_domain(lines)
        cols = st.columns(2)
        for col, phase in zip(cols, ["at initialisation", "after training"]):
            if (lines["phase"] == phase).any():
                col.markdown(f"**Error reaching each time step, {phase}** (layer 0)")
                col.altair_chart(charts.flow_lag_chart(lines, phase, domain, phase), width="stretch")
    steps = {label: run.steps for label, run in runs.items()}
    evals = {label: run.eval for label, run in runs.items()}
    st.markdown("**Loss** (thin: training batch, points: held-out batch)")
    st.altair_chart(charts.training_chart(shaping.training_long(steps, evals, "loss"), "", "loss (log scale)",
                                          None, log=True), width="stretch")


def study_page(page: str) -> tuple[dict, dict]:
    """The settings form of a study page ("flow" or "training") and its runs: reads the URL (or the session's
    last study), draws the form and the forecast upload, applies the form when submitted, writes the URL,
    remembers the study for the other study page, and trains or fetches the runs.

    Returns (applied settings, {cell label: Run}); stops the page with a message on a bad or oversized request.
    """
    from lstmlab.ui import state, widgets

    values = state.read_params(page)
    submitted, edited = widgets.study_form_ui(page, values)
    series, series_name = widgets.forecast_upload_ui(edited["T"])
    if submitted:
        values = edited
    state.write_params(page, values)
    state.remember_study(values)
    return values, study_results(values, series, series_name)


def study_results(values: dict, series, series_name: str) -> dict:
    """Train (or fetch) the study of ``values`` and return {cell label: Run}; on a bad or oversized request show
    why and stop the page."""
    from lstmlab.ui import limits
    from lstmlab.ui import runs as R

    try:
        study = R.study(values, series, series_name)
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    if study.work > limits.MAX_WORK:
        after = ""
        if len(study.configs) > 1:
            after = (f" once per cell (--cell {', '.join(c.cell for c in study.configs)}), then compare the runs on "
                     "the Runs page.")
        after += R.cli_series_note(study.configs[0])
        st.error(limits.too_big_message(study.work, limits.MAX_WORK, "study", R.cli_command(study.configs[0]),
                                        after), icon=":material/block:")
        st.stop()
    results, messages = R.train_study(study)
    for m in messages:
        st.warning(m)
    return results


def phase_map_view(values: dict) -> None:
    """The phase map of the page settings ``values`` (fields of state.FIELDS["phase"]), or why it is refused."""
    from lstmlab.ui import cached, probes

    if not values["cells"]:
        st.error("Choose at least one cell.", icon=":material/error:")
        return
    if values["wmin"] >= values["wmax"]:
        st.error(f"The smallest weight scale ({values['wmin']:g}) must be below the largest ({values['wmax']:g}).",
                 icon=":material/error:")
        return
    scales = probes.phase_scales(values["wmin"], values["wmax"], values["nw"])
    lengths = probes.phase_lengths(values["Tmax"], values["nT"])
    try:
        grid = cached.phase_map(tuple(values["cells"]), tuple(scales), tuple(lengths), values["H"],
                                values["init"], values["fb"], values["seed"])
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        return
    st.altair_chart(charts.phase_map_chart(grid, width={1: 600, 2: 380}.get(len(values["cells"]), 260)),
                    width="content")


def spectrum_view(cell: str, ws: float, T: int, values: dict) -> None:
    """Singular values of the Jacobian products for one setting."""
    from lstmlab.ui import cached

    try:
        df = cached.spectrum(cell, ws, T, values["H"], values["init"], values["fb"], values["seed"])
    except ValueError as e:
        st.error(str(e), icon=":material/error:")
        return
    st.altair_chart(charts.spectrum_chart(df), width="stretch")
