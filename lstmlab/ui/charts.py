"""Altair chart builders. Each takes a tidy DataFrame (see lstmlab.views.tables) and returns a chart; none draws.

Conventions: log axes show 10^k ticks; every axis names its quantity and unit; values that cannot be drawn on a log
axis (0, inf, NaN) are drawn at the edge of the plot with a distinct marker and named in the legend and tooltip.
Colours come from the Streamlit theme (light and dark) except where a fixed meaning needs a fixed colour.

Charts have no fixed width: the page draws them at the width of their column (``width="stretch"``). A map with one
panel per cell is one chart per panel (:func:`panel_cells` names them), each drawn in its own column, since
Vega-Lite sizes a concatenation only from fixed panel widths; the panels share one colour scale through a fixed
domain, and the first panel carries the colour legend.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lstmlab.core.analysis import SOLVED_FRACTION
from lstmlab.core.config import CELLS
from lstmlab.views.settings import CELL_LABELS
from lstmlab.views.tables import NAN, OK, OVERFLOW, VANISHED

LOG_AXIS = alt.Axis(format=".0e", labelOverlap=True)
RANGES = {"sequences": ("sequences_min", "sequences_max"), "loss_ratio": ("loss_ratio_min", "loss_ratio_max")}
STATE_SCALE = alt.Scale(domain=[VANISHED, OVERFLOW, NAN], range=["#8c8c8c", "#d62728", "#e377c2"])
STATE_SHAPES = alt.Scale(domain=[VANISHED, OVERFLOW, NAN], range=["triangle-down", "triangle-up", "cross"])
CELL_ORDER = [CELL_LABELS[c] for c in CELLS]
PHASE_COLOR_CAP = 20.0  # decades; beyond it the phase map's colour saturates (tooltips keep the value)
# fixed: a cell keeps its colour everywhere (RNN, LSTM, GRU, ReLU RNN, Logistic RNN, LSTM 1997, LSTM 1997 FC, LSTM
# 1997 with an input gate only)
CELL_COLORS = dict(zip(CELL_ORDER, ("#e4572e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#b8860b",
                                    "#e377c2"), strict=True))
LAG_TITLE = "lag T − t (time steps between h_t and the loss at T)"
PANEL_LEGEND = dict(orient="bottom", direction="horizontal", gradientLength=200, titleLimit=320, labelLimit=200)
# Streamlit fits a chart drawn at its column's width into its height too: a panel with the legend below it would get a
# smaller plot than the others. Fitting only the width keeps every panel's plot at the given height.
PANEL_SIZE = alt.AutoSizeParams(type="fit-x", contains="padding")


def legend_below(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """``chart`` with its legends below the plot, for a chart in a half-width column whose legends, beside it,
    would leave the plot a narrow strip; the plot keeps its height (see PANEL_SIZE)."""
    return chart.properties(autosize=PANEL_SIZE).configure_legend(orient="bottom", direction="vertical",
                                                                  labelLimit=320, titleLimit=320)


def panel_cells(df: pd.DataFrame) -> list[str]:
    """The values of ``df``'s ``cell`` column in the dashboard's order (config.CELLS: RNN, LSTM, GRU, ...; labels or
    keys), then any other label sorted (stored runs overlaid by name)."""
    present = set(df["cell"])
    known = [c for c in [*CELL_ORDER, *CELLS] if c in present]
    return known + sorted(present - set(known))


def run_color(labels, title: str = "run") -> alt.Color:
    """Colour by run label; cells keep their fixed colours (CELL_COLORS), other labels the theme's."""
    labels = list(dict.fromkeys(labels))
    if labels and all(lab in CELL_COLORS for lab in labels):
        return alt.Color("run:N", title=title, scale=alt.Scale(domain=labels,
                                                                range=[CELL_COLORS[lab] for lab in labels]))
    return alt.Color("run:N", title=title, scale=alt.Scale(scheme="tableau10"), legend=alt.Legend(labelLimit=360))


def _state_marks(base: alt.Chart, x: alt.X, y: alt.Y, state_col: str, extra_tooltip=(), color=None,
                 legend_above: bool = False) -> alt.Chart:
    """Markers for values a log axis cannot show, drawn at the plot's floor/ceiling; the shape says which.

    ``color``: the line's colour encoding (so a marker says whose value it is); default a fixed red.
    ``legend_above``: their legend in one row above the plot (for a chart whose other legends are below it, where a
    third would not fit beside them in a half-width column).
    """
    return (
        base.transform_filter(alt.datum[state_col] != OK)
        .mark_point(size=80, filled=True, opacity=0.95)
        .encode(x=x, y=y, shape=alt.Shape(f"{state_col}:N", scale=STATE_SHAPES, title="not drawable on log axis",
                                          legend=alt.Legend(orient="top", direction="horizontal") if legend_above
                                          else alt.Undefined),
                color=color if color is not None else alt.value("#d62728"),
                tooltip=list(extra_tooltip) + [alt.Tooltip(f"{state_col}:N", title="value")])
    )


def power_chart(df: pd.DataFrame, w: float) -> alt.Chart:
    """w^k against k on a log axis, with the reference line 1 (no growth, no decay)."""
    x = alt.X("k:Q", title="k (time steps the error travels back)")
    y = alt.Y("plot_value:Q", scale=alt.Scale(type="log"), axis=LOG_AXIS, title=f"{w:g}^k (error factor, log scale)")
    base = alt.Chart(df)
    line = base.mark_line(strokeWidth=2.5).encode(
        x=x, y=y, tooltip=[alt.Tooltip("k:Q"), alt.Tooltip("value:Q", title=f"{w:g}^k", format=".4g")]
    )
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], opacity=0.6).encode(
        y="y:Q", tooltip=[alt.Tooltip("y:Q", title="no decay, no growth")]
    )
    layers = [line, one]
    if (df["state_value"] != OK).any():
        layers.append(_state_marks(base, x, y, "state_value", [alt.Tooltip("k:Q")]))
    return alt.layer(*layers).properties(height=320)


def flow_lag_chart(df: pd.DataFrame, phase: str, domain: tuple[float, float], title: str,
                   quantity: str = "‖∂L/∂h_t‖") -> alt.Chart:
    """Error norm vs lag for one phase, one line per cell, dashed theoretical envelope; y domain fixed by caller."""
    d = df[df["phase"] == phase]
    cells = [c for c in CELL_ORDER if c in set(d["cell"])] + sorted(set(d["cell"]) - set(CELL_ORDER))
    x = alt.X("lag:Q", title=LAG_TITLE)
    y = alt.Y("plot_value:Q", scale=alt.Scale(type="log", domain=list(domain), clamp=True), axis=LOG_AXIS,
              title=f"{quantity}, mean over batch (log scale)")
    base = alt.Chart(d)
    tt = [alt.Tooltip("series:N", title="line"), alt.Tooltip("lag:Q"),
          alt.Tooltip("value:Q", title=quantity, format=".3e"), alt.Tooltip("state_value:N", title="state")]
    if all(c in CELL_COLORS for c in cells):
        color = alt.Color("cell:N", title="cell", sort=cells,
                          scale=alt.Scale(domain=cells, range=[CELL_COLORS[c] for c in cells]))
    else:  # stored runs overlaid by label
        color = alt.Color("cell:N", title="run", sort=cells, scale=alt.Scale(domain=cells, scheme="tableau10"),
                          legend=alt.Legend(labelLimit=360))
    bounds = d.loc[d["kind"] == "bound", "series"]
    # every bound is w^lag unless one has gamma < 1 (the logistic RNN: "(0.25·w)^lag", lstmlab.views.tables.flow_lines)
    bound = "(γw)^lag, γ = max|f′|, w = initial weight scale" if bounds.str.contains("·").any() else \
        "w^lag, w = initial weight scale"
    line = base.mark_line(strokeWidth=2.2).encode(
        x=x, y=y, color=color, detail="series:N",
        strokeDash=alt.StrokeDash("kind:N", title="line", scale=alt.Scale(domain=["measured", "bound"],
                                                                          range=[[1, 0], [6, 4]]),
                                  legend=alt.Legend(labelExpr=f"datum.label == 'bound' ? '{bound}' : 'measured'")
                                  if len(bounds) else None),
        tooltip=tt,
    )
    layers = [line]
    if (d["state_value"] != OK).any():
        layers.append(_state_marks(base.transform_filter(alt.datum.kind == "measured"), x, y, "state_value", tt[:2],
                                   color, legend_above=True))
    return legend_below(alt.layer(*layers).properties(height=260))


def lines_domain(df: pd.DataFrame) -> tuple[float, float]:
    """Shared log-axis domain of the measured values (including floor/ceiling markers)."""
    v = df.loc[df["kind"] == "measured", "plot_value"].to_numpy(dtype=float) if "kind" in df else \
        df["plot_value"].to_numpy(dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return (1e-300, 1.0)
    return (10.0 ** np.floor(np.log10(v.min())), 10.0 ** np.ceil(np.log10(v.max())))


def cell_state_chart(df: pd.DataFrame, title: str) -> alt.Chart:
    """LSTM: ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ vs lag, one panel per phase stacked by colour and dash."""
    x = alt.X("lag:Q", title=LAG_TITLE)
    y = alt.Y("plot_value:Q", scale=alt.Scale(type="log"), axis=LOG_AXIS,
              title="error norm, mean over batch (log scale)")
    base = alt.Chart(df)
    tt = [alt.Tooltip("quantity:N"), alt.Tooltip("phase:N"), alt.Tooltip("lag:Q"),
          alt.Tooltip("value:Q", format=".3e")]
    phases = list(dict.fromkeys(df["phase"]))  # initialisation first: dashed; after training: solid
    color = alt.Color("quantity:N", title="quantity", scale=alt.Scale(range=["#1f77b4", "#9467bd"]))
    line = base.mark_line(strokeWidth=2.2).encode(
        x=x, y=y, color=color,
        strokeDash=alt.StrokeDash("phase:N", title="when", sort=phases,
                                  scale=alt.Scale(domain=phases, range=[[6, 4], [1, 0]][: len(phases)])),
        tooltip=tt,
    )
    layers = [line]
    if (df["state_value"] != OK).any():
        layers.append(_state_marks(base, x, y, "state_value", tt[:3], color, legend_above=True))
    return legend_below(alt.layer(*layers).properties(height=260))


def flow_heatmap(df: pd.DataFrame, domain: tuple[float, float], cell: str, legend: bool = True,
                 quantity: str = "‖∂L/∂h_t‖") -> alt.Chart:
    """log10 of an error norm over (training step × lag) for one ``cell`` of ``df`` (a panel: see
    :func:`panel_cells`); the colour domain (log10) is fixed by the caller so that panels share one scale.
    ``legend``: draw the colour legend below the panel."""
    tt = [alt.Tooltip("cell:N"), alt.Tooltip("step:Q", title="training step"),
          alt.Tooltip("lag_label:N", title="lag"), alt.Tooltip("value:Q", title=quantity, format=".3e"),
          alt.Tooltip("log10:Q", title=f"log10 {quantity}", format=".2f"), alt.Tooltip("state:N")]
    x = alt.X("step_lo:Q", title="training step", scale=alt.Scale(nice=False))
    x2 = alt.X2("step_hi:Q")
    y = alt.Y("lag_lo:Q", title="lag T − t (time steps)", scale=alt.Scale(nice=False))
    y2 = alt.Y2("lag_hi:Q")
    d = df[df["cell"] == cell]
    base = alt.Chart(d)
    main = base.transform_filter(alt.datum.state == OK).mark_rect().encode(
        x=x, x2=x2, y=y, y2=y2,
        color=alt.Color("log10:Q", title=f"log10 {quantity}", legend=alt.Undefined if legend else None,
                        scale=alt.Scale(scheme="viridis", domain=list(domain), clamp=True)),
        tooltip=tt,
    )
    special = base.transform_filter(alt.datum.state != OK).mark_rect().encode(
        x=x, x2=x2, y=y, y2=y2,
        fill=alt.Fill("state:N", scale=STATE_SCALE, title="not finite / zero"),
        tooltip=tt,
    )
    layers = [main, special] if (d["state"] != OK).any() else [main]
    return alt.layer(*layers).properties(title=cell, height=260, autosize=PANEL_SIZE).configure_legend(**PANEL_LEGEND)


def heat_domain(df: pd.DataFrame) -> tuple[float, float]:
    """Shared colour domain (log10) of a heatmap table."""
    v = df["log10"].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0)
    lo, hi = float(np.floor(v.min())), float(np.ceil(v.max()))
    return (lo, hi if hi > lo else lo + 1)


def training_chart(df: pd.DataFrame, title: str, y_title: str, baseline: float | None = None,
                   log: bool = False, baseline_label: str = "baseline") -> alt.Chart:
    """A loss or metric curve per run: training batch thin line, held-out points and line, optional baseline."""
    d = df.copy()
    d["drawn"] = d["value"].where(np.isfinite(d["value"].to_numpy(dtype=float)))
    if log:
        d.loc[d["drawn"] <= 0, "drawn"] = np.nan
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    x = alt.X("step:Q", title="training step (parameter updates)")
    y = alt.Y("drawn:Q", scale=scale, title=y_title, axis=LOG_AXIS if log else alt.Axis())
    tt = [alt.Tooltip("run:N"), alt.Tooltip("split:N"), alt.Tooltip("step:Q"),
          alt.Tooltip("value:Q", format=".4g"), alt.Tooltip("state:N")]
    base = alt.Chart(d)
    color = run_color(d["run"])
    train = base.transform_filter(alt.datum.split == "training batch").mark_line(opacity=0.45, strokeWidth=1).encode(
        x=x, y=y, color=color, tooltip=tt)
    held = base.transform_filter(alt.datum.split == "held-out").mark_line(point=True, strokeWidth=2.4).encode(
        x=x, y=y, color=color, tooltip=tt)
    layers = [train, held]
    if baseline is not None and np.isfinite(baseline):
        b = pd.DataFrame({"y": [baseline], "label": [f"{baseline_label} = {baseline:.4g}"]})
        rule = alt.Chart(b).mark_rule(strokeDash=[6, 4], color="#888888", strokeWidth=1.5).encode(
            y="y:Q", tooltip=[alt.Tooltip("label:N", title="baseline")])
        layers += [rule]
    return alt.layer(*layers).properties(title=title, height=280)


def prefixed_chart(df: pd.DataFrame, title: str, y_title: str, log: bool = True,
                   clip_steps: pd.DataFrame | None = None, color_title: str = "parameter",
                   by_run: bool = False) -> alt.Chart:
    """Several named series over training steps (gradient norm per parameter, σ_max per layer).

    ``by_run``: colour by the ``run`` column (cells keep their colours) and dash by ``part`` (e.g. the layer).
    """
    x = alt.X("step:Q", title="training step (parameter updates)")
    y = alt.Y("plot_value:Q", scale=alt.Scale(type="log") if log else alt.Scale(zero=False), title=y_title,
              axis=LOG_AXIS if log else alt.Axis())
    tt = [alt.Tooltip("name:N", title=color_title), alt.Tooltip("step:Q"), alt.Tooltip("value:Q", format=".4g")]
    base = alt.Chart(df)
    if by_run:
        enc = dict(color=run_color(df["run"]), detail="name:N")
        if df["part"].nunique() > 1:
            enc["strokeDash"] = alt.StrokeDash("part:N", title="layer")
    else:
        enc = dict(color=alt.Color("name:N", title=color_title))
    layers = [base.mark_line(strokeWidth=1.8).encode(x=x, y=y, tooltip=tt, **enc)]
    if (df["state_value"] != OK).any():
        layers.append(_state_marks(base, x, y, "state_value", tt[:2]))
    if clip_steps is not None and len(clip_steps):
        layers.append(alt.Chart(clip_steps).mark_tick(color="#d62728", thickness=1, size=10, opacity=0.6).encode(
            x="step:Q", y=alt.value(0), tooltip=[alt.Tooltip("step:Q", title="clipped at step"),
                                                 alt.Tooltip("grad_norm:Q", title="norm before clipping",
                                                             format=".3g")]))
    return alt.layer(*layers).properties(title=title, height=280)


def gradnorm_chart(df: pd.DataFrame, clip: float, title: str) -> alt.Chart:
    """Global gradient norm (before clipping) per run over steps, clipped steps marked, clip threshold ruled."""
    x = alt.X("step:Q", title="training step (parameter updates)")
    y = alt.Y("plot_value:Q", scale=alt.Scale(type="log"), axis=LOG_AXIS,
              title="‖∇L‖ before clipping (log scale)")
    tt = [alt.Tooltip("run:N"), alt.Tooltip("step:Q"), alt.Tooltip("value:Q", title="‖∇L‖", format=".4g"),
          alt.Tooltip("clipped:N")]
    base = alt.Chart(df)
    color = run_color(df["run"])
    layers = [
        base.mark_line(strokeWidth=1.4, opacity=0.8).encode(x=x, y=y, color=color, tooltip=tt),
        base.transform_filter(alt.datum.clipped).mark_point(shape="diamond", size=28, filled=True).encode(
            x=x, y=y, color=color, tooltip=tt),
    ]
    if (df["state_value"] != OK).any():
        layers.append(_state_marks(base, x, y, "state_value", tt[:2]))
    if clip and clip > 0:
        layers.append(alt.Chart(pd.DataFrame({"y": [clip]})).mark_rule(strokeDash=[6, 4], color="#d62728").encode(
            y="y:Q", tooltip=[alt.Tooltip("y:Q", title="clip threshold")]))
    return alt.layer(*layers).properties(title=title, height=280)


def phase_map_chart(df: pd.DataFrame, cell: str, legend: bool = True, gamma: float = 1.0) -> alt.Chart:
    """log10(‖∂L/∂h_1‖/‖∂L/∂h_T‖) over weight scale × sequence length for one ``cell`` of the phase map ``df``
    (a panel: see :func:`panel_cells`), with the σ_max·γ = 1 line at weight scale 1/``gamma`` (γ = max|f′| of the
    cell's activation: 1/4 for the logistic RNN; drawn where it lies within the map). The colour domain,
    ±max|log10 ratio| capped at PHASE_COLOR_CAP, comes from every cell of ``df``, so that panels share one scale.
    ``legend``: draw the colour legend below the panel."""
    v = df["log10_ratio"].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    m = float(min(max(np.abs(v).max(), 1.0), PHASE_COLOR_CAP)) if v.size else 1.0
    tt = [alt.Tooltip("cell:N"), alt.Tooltip("weight_scale:Q", title="weight scale", format=".3g"),
          alt.Tooltip("seq_len:Q", title="T"), alt.Tooltip("ratio:Q", title="‖∂L/∂h₁‖/‖∂L/∂h_T‖", format=".3e"),
          alt.Tooltip("log10_ratio:Q", title="log10 ratio", format=".2f"), alt.Tooltip("state:N")]
    x = alt.X("w_lo:Q", title="initial weight scale",
              scale=alt.Scale(nice=False, zero=False))
    y = alt.Y("T_lo:Q", title="sequence length T (log scale)", scale=alt.Scale(type="log", nice=False),
              axis=alt.Axis(values=sorted(set(int(v) for v in df["seq_len"])), format="d"))
    d = df[df["cell"] == cell]
    base = alt.Chart(d)
    main = base.transform_filter(alt.datum.state == OK).mark_rect().encode(
        x=x, x2="w_hi:Q", y=y, y2="T_hi:Q",
        color=alt.Color("log10_ratio:Q", title=["log10 ‖∂L/∂h₁‖/‖∂L/∂h_T‖", f"(clamped at ±{m:g})"],
                        legend=alt.Undefined if legend else None,
                        scale=alt.Scale(scheme="redblue", reverse=True, domain=[-m, m], domainMid=0, clamp=True)),
        tooltip=tt)
    special = base.transform_filter(alt.datum.state != OK).mark_rect().encode(
        x=x, x2="w_hi:Q", y=y, y2="T_hi:Q", fill=alt.Fill("state:N", scale=STATE_SCALE, title="not finite"),
        tooltip=tt)
    w = 1.0 / gamma
    inside = bool(len(d)) and d["w_lo"].min() <= w <= d["w_hi"].max()
    rule = alt.Chart(pd.DataFrame({"w": [w] if inside else [], "label": [f"σ_max(W_h)·γ = 1, γ = {gamma:g}"]
                                   if inside else []})).mark_rule(
        strokeDash=[6, 3], strokeWidth=2.5, color="#7f7f7f").encode(
        x="w:Q", tooltip=[alt.Tooltip("label:N", title="boundary (Pascanu et al. 2013)")])
    layers = [main, rule] if not (d["state"] != OK).any() else [main, special, rule]
    return alt.layer(*layers).properties(title=cell, height=260, autosize=PANEL_SIZE).configure_legend(**PANEL_LEGEND)


def spectrum_chart(df: pd.DataFrame) -> alt.Chart:
    """Singular values of ∂s_T/∂s_{T-lag} against lag on a log axis (largest, median, smallest)."""
    x = alt.X("lag:Q", title=LAG_TITLE)
    y = alt.Y("plot_value:Q", scale=alt.Scale(type="log"), axis=LOG_AXIS,
              title="singular value (log scale)")
    tt = [alt.Tooltip("which:N"), alt.Tooltip("lag:Q"), alt.Tooltip("value:Q", format=".3e")]
    base = alt.Chart(df)
    names = list(dict.fromkeys(df["which"]))
    palette = {"largest": "#1f77b4", "median": "#ff7f0e", "smallest": "#2ca02c"}
    color = alt.Color("which:N", title="singular value", sort=names,
                      scale=alt.Scale(domain=names, range=[palette.get(n, "#7f7f7f") for n in names]))
    dash = alt.StrokeDash("which:N", sort=names, title="singular value",
                          scale=alt.Scale(domain=names, range=[[1, 0] if n in palette else [6, 4] for n in names]))
    layers = [base.mark_line(strokeWidth=2).encode(x=x, y=y, color=color, strokeDash=dash, tooltip=tt)]
    if (df["state_value"] != OK).any():
        layers.append(_state_marks(base, x, y, "state_value", tt[:2]))
    return alt.layer(*layers).properties(height=300)


def gate_heatmap(df: pd.DataFrame, value_title: str, scheme: str = "viridis", domain=None,
                 mid: float | None = None, title: str = "", height: int = 200) -> alt.Chart:
    """A (time step × hidden unit) map of one quantity for one example."""
    scale = alt.Scale(scheme=scheme, domain=list(domain) if domain is not None else alt.Undefined,
                      domainMid=mid if mid is not None else alt.Undefined)
    return alt.Chart(df).mark_rect().encode(
        x=alt.X("t:O", title="time step t", axis=alt.Axis(labelOverlap=True, labelAngle=0)),
        y=alt.Y("unit:O", title="hidden unit", axis=alt.Axis(labelOverlap=True)),
        color=alt.Color("value:Q", title=value_title, scale=scale),
        tooltip=[alt.Tooltip("t:O"), alt.Tooltip("unit:O"), alt.Tooltip("value:Q", format=".4g")],
    ).properties(title=title, height=height)


def per_step_chart(df: pd.DataFrame, y_title: str, log: bool, title: str = "", color_title: str = "gate",
                   x_title: str = "time step t", marker_t: int | None = None) -> alt.Chart:
    """One line per named series over time steps t (gate means, gradient norms reaching each gate).

    With a ``units`` column (e.g. "all units" / "memory units") the series of one name share its colour and the
    units are told apart by the dash."""
    col = "plot_value" if log else "value"
    y = alt.Y(f"{col}:Q", scale=alt.Scale(type="log") if log else alt.Scale(zero=False), title=y_title,
              axis=LOG_AXIS if log else alt.Axis())
    x = alt.X("t:Q", title=x_title)
    tt = [alt.Tooltip("name:N", title=color_title), alt.Tooltip("t:Q"), alt.Tooltip("value:Q", format=".4g")]
    enc = {"color": alt.Color("name:N", title=color_title)}
    if "units" in df.columns:
        order = list(dict.fromkeys(df["units"]))
        enc["strokeDash"] = alt.StrokeDash("units:N", title="over", sort=order,
                                           scale=alt.Scale(domain=order, range=[[1, 0], [6, 3], [2, 2]][:len(order)]))
        tt.insert(1, alt.Tooltip("units:N", title="over"))
    base = alt.Chart(df)
    layers = [base.mark_line(strokeWidth=2).encode(x=x, y=y, tooltip=tt, **enc)]
    if log and (df["state_value"] != OK).any():
        layers.append(_state_marks(base, x, y, "state_value", tt[:2], legend_above=True))
    if marker_t is not None:
        layers.append(alt.Chart(pd.DataFrame({"t": [marker_t]})).mark_rule(strokeDash=[3, 3], color="#888888")
                      .encode(x="t:Q", tooltip=[alt.Tooltip("t:Q", title="inspected step")]))
    return legend_below(alt.layer(*layers).properties(title=title, height=240))


def sweep_map_chart(df: pd.DataFrame, cell: str, legend: bool = True) -> alt.Chart:
    """The trained phase map of a sweep (lstmlab.views.tables.sweep_map_table) for one ``cell`` (a key such as "lstm"; a
    panel: see :func:`panel_cells`): weight scale (x) × sequence length (y), coloured by log10 of the median held-out
    loss over the task's baseline, marked with the verdict (✓ solved, ✗ unsolved, … pending). The colour scale turns
    at the solved threshold, SOLVED_FRACTION, and its floor comes from every cell of ``df``, so that panels share
    one scale. ``legend``: draw the colour legend below the panel."""
    d = df.assign(label=df["cell"].map(CELL_LABELS))
    floor = float(np.nanmin(d["log10_ratio"])) if d["log10_ratio"].notna().any() else -4.0
    mid = float(np.log10(SOLVED_FRACTION))
    tt = [alt.Tooltip("label:N", title="cell"), alt.Tooltip("seq_len:O", title="T"),
          alt.Tooltip("weight_scale:O", title="weight scale"), alt.Tooltip("verdict:N"),
          alt.Tooltip("loss:N", title="median held-out loss"), alt.Tooltip("spread:N", title="over seeds"),
          alt.Tooltip("seeds:N"), alt.Tooltip("note:N")]
    x = alt.X("weight_scale:O", title="initial weight scale", axis=alt.Axis(labelAngle=0))
    y = alt.Y("seq_len:O", title="sequence length T", sort="descending")
    base = alt.Chart(d[d["cell"] == cell])
    rect = base.mark_rect(stroke="#ffffff", strokeWidth=1).encode(
        x=x, y=y, tooltip=tt,
        color=alt.Color("log10_ratio:Q", title=["log10 (median held-out loss", "/ baseline)"],
                        legend=alt.Undefined if legend else None,
                        scale=alt.Scale(scheme="blueorange", domain=[min(floor, mid - 1.0), 1.0], domainMid=mid,
                                        clamp=True)))
    mark = base.mark_text(fontSize=16, fontWeight="bold").encode(
        x=x, y=y, text="mark:N", tooltip=tt,
        color=alt.condition(alt.datum.verdict == "solved", alt.value("#ffffff"), alt.value("#222222")))
    return (alt.layer(rect, mark).properties(title=CELL_LABELS.get(cell, cell), height=220, autosize=PANEL_SIZE)
            .configure_legend(**PANEL_LEGEND))


def reproduction_chart(df: pd.DataFrame, measure: str, x_title: str,
                       levels: tuple[tuple[str, float], ...] = ()) -> alt.LayerChart:
    """A recipe's rows (lstmlab.views.reproductions.Card.rows): the lab's points (filled circles, joined per model)
    and the paper's (hollow diamonds) in one chart, coloured by model, against the setting's number (``x_title``;
    "" places them by setting name, the lab's and the paper's side by side).

    ``measure`` "success": the fraction of seeds (the paper's: of its trials) that succeeded, 0 … 1;
    "sequences": the median training sequences until the stopping criterion, on a log axis, the lab's with the range
    over its successful seeds (rows without a positive number are left out: nothing met the criterion);
    "loss_ratio": the median final loss over the task's chance baseline, the lab's with the range over its seeds,
    beside dashed grey reference lines at ``levels`` ((name, level) pairs: the baseline, a success criterion), on a
    log axis when the points and levels span a factor of 10 or more.
    """
    d = df[df[measure].notna()].copy()
    if measure != "success":  # a log axis, or one that may be
        d = d[d[measure] > 0]
    low, high = RANGES.get(measure, (None, None))
    sources = list(dict.fromkeys(sorted(d["source"], key=lambda s: not s.startswith("lab"))))
    models = list(dict.fromkeys(df["model"]))
    numeric = bool(x_title)
    if numeric:
        xs = d["x"][d["x"] > 0]
        log_x = len(xs) == len(d) and len(xs) and xs.max() / xs.min() >= 10
        x = alt.X("x:Q", title=x_title, scale=alt.Scale(type="log") if log_x else alt.Scale(zero=False),
                  axis=alt.Axis(format="~g", labelOverlap=True))
    else:
        x = alt.X("setting:N", title="setting", axis=alt.Axis(labelAngle=0, labelLimit=160))
    if measure == "success":
        y_scale = alt.Scale(domain=[0, 1])
        y = alt.Y("success:Q", title="fraction of seeds that succeeded", scale=y_scale, axis=alt.Axis(format="%"))
    elif measure == "sequences":
        y_scale = alt.Scale(type="log")
        y = alt.Y("sequences:Q", title="sequences until the criterion (median)", scale=y_scale, axis=LOG_AXIS)
    else:
        values = pd.concat([d["loss_ratio"], d["loss_ratio_min"], d["loss_ratio_max"],
                            pd.Series([v for _, v in levels], dtype=float)]).dropna()
        log_y = len(values) > 0 and values.max() / values.min() >= 10
        y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=True)
        y = alt.Y("loss_ratio:Q", title="final loss / chance baseline (median)", scale=y_scale,
                  axis=alt.Axis(format="~g", labelOverlap=True))
    color = alt.Color("model:N", title="model", scale=alt.Scale(domain=models, scheme="tableau10"))
    shape = alt.Shape("source:N", title="points", scale=alt.Scale(
        domain=sources, range=["circle" if s.startswith("lab") else "diamond" for s in sources]))
    offset = {} if numeric else {"xOffset": alt.XOffset("source:N", scale=alt.Scale(domain=sources))}
    tooltip = [alt.Tooltip("source:N"), alt.Tooltip("model:N"), alt.Tooltip("setting:N"),
               alt.Tooltip("success:Q", title="success", format=".0%"),
               alt.Tooltip("succeeded:Q", title="seeds succeeded"), alt.Tooltip("seeds:Q"),
               alt.Tooltip("sequences:Q", title="sequences (median)", format=",.0f"),
               alt.Tooltip("loss_ratio:Q", title="loss / baseline (median)", format=".3g"),
               alt.Tooltip("figure:N", title="the paper's figure")]
    d["lab"] = d["source"].str.startswith("lab")
    base = alt.Chart(d)
    layers = []
    if numeric:
        layers.append(base.transform_filter(alt.datum.lab).mark_line(strokeWidth=1.6, opacity=0.7).encode(
            x=x, y=y, color=color, detail="model:N"))
    if low is not None:
        layers.append(base.transform_filter(alt.datum[low] > 0).mark_rule(strokeWidth=2, opacity=0.6)
                      .encode(x=x, y=alt.Y(f"{low}:Q", scale=y_scale), y2=f"{high}:Q", color=color, **offset))
    if levels:
        refs = pd.DataFrame({"level": [v for _, v in levels], "reference": [n for n, _ in levels]})
        rule = alt.Chart(refs).encode(y=alt.Y("level:Q", scale=y_scale))
        layers.insert(0, rule.mark_rule(strokeDash=[5, 4], color="#8c8c8c", strokeWidth=1.3).encode(
            tooltip=[alt.Tooltip("reference:N"), alt.Tooltip("level:Q", format=".3g")]))
        layers.insert(1, rule.mark_text(align="left", baseline="bottom", dx=3, dy=-2, color="#8c8c8c", fontSize=11)
                      .encode(x=alt.value(0), text="reference:N"))
    # the paper's points hollow and larger, so a lab point at the same place shows inside them
    layers.append(base.transform_filter(alt.datum.lab).mark_point(size=90, filled=True, opacity=0.9).encode(
        x=x, y=y, color=color, shape=shape, tooltip=tooltip, **offset))
    layers.append(base.transform_filter(~alt.datum.lab).mark_point(size=260, filled=False, strokeWidth=2.2).encode(
        x=x, y=y, color=color, shape=shape, tooltip=tooltip, **offset))
    return alt.layer(*layers).properties(height=240, autosize=PANEL_SIZE).configure_legend(
        orient="bottom", direction="vertical", labelLimit=260, titleLimit=260)
