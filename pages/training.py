"""Training: loss against the task baseline, gradient norms, clipping and σ_max of W_h's gate blocks for the
current study."""

import streamlit as st

from lstmlab.ui import cached, charts, live, nav, study
from lstmlab.views import settings, tables, text
from lstmlab.views.text import escape_markdown

nav.ensure_router()

st.title("Training")
st.markdown(
    "What the optimiser saw: the loss against the task's baseline predictor, the gradient norm before "
    "clipping, and the largest singular value of the gate blocks of the recurrent weights W_h. Same settings as "
    "Error flow."
)

opened = study.opened_runs()  # stored runs by id (?run=...), e.g. recorded from PyTorch, instead of a study
if opened is None:
    values, ids = study.study_page("training")
else:
    values, ids = None, opened


def draw(runs: dict) -> None:
    """Loss, gradient and σ_max charts of the runs as the store holds them now, each built once per state of
    the runs for every session (lstmlab.ui.cached)."""
    first = next(iter(runs.values()))
    infos = {label: cached.task_info(run.config.key, run.config) for label, run in runs.items()}
    info = infos[next(iter(runs))]
    if any(i != info for i in infos.values()):  # opened runs of different tasks share no baseline
        info = {**info, "baseline": None, "chance_metric": None, "baseline_name": "baseline"}
    for label, run in runs.items():
        if run.status == "diverged":
            st.error(f"**{escape_markdown(label)}** diverged: {run.message}.", icon=":material/warning:")
    cols = st.columns(len(runs))
    for col, (label, run) in zip(cols, runs.items()):
        ev, own = run.eval, infos[label]
        last = float(ev["loss"].iloc[-1]) if len(ev) else float("nan")
        metric = float(ev["metric"].iloc[-1]) if len(ev) else float("nan")
        if run.config.source:  # recorded outside the lab: its loss as recorded, no baseline to compare with
            col.metric(f"{escape_markdown(label)}: recorded loss", text.fmt(last),
                       help="The loss of the last recorded batch.")
            col.caption(f"{escape_markdown(run.message)}; {run.wall_time:.1f} s")
            continue
        col.metric(f"{escape_markdown(label)}: held-out loss", text.fmt(last), help=f"Baseline {own['baseline']:.4g}",
                   delta=f"{last - own['baseline']:+.3g} vs baseline", delta_color="inverse")
        col.caption(f"{own['metric_name']}: {text.fmt(metric)} (chance {text.fmt(own['chance_metric'])}); "
                    f"{run.message}; {run.wall_time:.1f} s")

    steps = {label: run.steps for label, run in runs.items()}
    evals = {label: run.eval for label, run in runs.items()}
    key = live.runs_key(runs)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Loss** (thin: training batch, points: held-out batch, dashed: {info['baseline_name']})")
        cached.chart(st, "training.loss", key, lambda: charts.legend_below(charts.training_chart(
            tables.training_long(steps, evals, "loss"), "", f"loss ({info['loss']}, log scale)", info["baseline"],
            log=True, baseline_label=info["baseline_name"])))
    with c2:
        st.markdown(f"**{'MSE' if info['metric_name'] == 'mse' else info['metric_name'].capitalize()}** "
                    f"(dashed: {info['baseline_name']})")
        cached.chart(st, "training.metric", key, lambda: charts.legend_below(charts.training_chart(
            tables.training_long(steps, evals, "metric"), "", info["metric_name"], info["chance_metric"],
            log=info["metric_name"] == "mse", baseline_label="chance / baseline")))
    c3, c4 = st.columns(2)
    with c3:
        st.markdown("**Global gradient norm** (diamonds: steps where it was clipped)")
        clip = 0.0 if any(run.config.source for run in runs.values()) else first.config.clip  # not recorded
        cached.chart(st, "training.gradnorm", key, lambda: charts.legend_below(
            charts.gradnorm_chart(tables.gradnorm_long(steps), clip, "")))
        n_clipped = {label: int(run.steps["clipped"].sum()) if len(run.steps) else 0 for label, run in runs.items()}
        st.caption("Clipped steps: " + ", ".join(f"{escape_markdown(k)} {v} of {len(runs[k].steps)}"
                                                 for k, v in n_clipped.items()))
    with c4:
        st.markdown("**Largest singular value of W_h's gate blocks** (σ_max over the layer's gate blocks; "
                    "1/γ = 1 is the vanishing/exploding boundary)")
        st.caption("At orthogonal or identity init every gate block has σ_max = the weight scale; at gaussian "
                   "init the spectral radius is about the weight scale and σ_max is larger.")
        sig_cols = [f"sigma_max:l{k}" for k in range(max(run.config.layers for run in runs.values()))]
        cached.chart(st, "training.sigma", (key, tuple(sig_cols)), lambda: charts.legend_below(charts.prefixed_chart(
            tables.series_long(steps, sig_cols), "", "σ_max of W_h's gate blocks", log=False,
            color_title="run, layer", by_run=True)))
    st.markdown("**Gradient norm per parameter** (before clipping)")
    pcols = st.columns(min(len(runs), 3))
    for col, (label, run) in zip(pcols * 3, runs.items()):
        with col:
            st.caption(escape_markdown(label))
            cached.chart(st, "training.gnorm", (key, label), lambda run=run: charts.legend_below(
                charts.prefixed_chart(tables.melt_prefixed(run.steps, "gnorm:"), "", "‖∂L/∂θ‖ (log scale)",
                                      log=True)))
    lstm = next((label for label, run in runs.items() if run.config.cell == "lstm"), None)
    if lstm is not None and runs[lstm].steps["forget_mean"].notna().any():
        st.markdown(f"**{escape_markdown(lstm)} mean forget gate** over training (1 = the carousel keeps everything)")
        cached.chart(st, "training.forget", key, lambda: charts.prefixed_chart(
            tables.series_long({lstm: runs[lstm].steps}, ["forget_mean"]), "",
            "mean f_t over batch, steps and units", log=False, color_title="run", by_run=True))


live.show(ids, draw)

st.page_link("pages/error_flow.py", label="Error flow of these runs", icon=":material/stacked_line_chart:",
             query_params=settings.format_params("flow", values) if opened is None
             else settings.opened_runs_params(ids.values()))
