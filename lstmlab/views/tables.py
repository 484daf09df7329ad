"""Chart tables: long-format pandas tables of recorded runs and probes, ready for a chart (no plotting here).

Every chart on a log axis goes through :func:`log_safe`, which keeps a value's meaning when it cannot be drawn:
exact zeros (vanished) are drawn at a floor below the data and labelled "vanished (0)", inf is drawn at a ceiling and
labelled "overflow (inf)", NaN likewise "NaN". Long tables are thinned or binned so the browser receives a few thousand
rows at most (Altair ships every row).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lstmlab.views import limits as L

OK = "finite"
VANISHED = "vanished (0)"
OVERFLOW = "overflow (inf)"
NAN = "NaN"
STATES = (OK, VANISHED, OVERFLOW, NAN)


def power_table(w: float, T: int) -> pd.DataFrame:
    """w^k for k = 0..T: the error factor of a scalar linear recurrence after k steps back."""
    k = np.arange(T + 1)
    with np.errstate(over="ignore", under="ignore"):
        v = np.power(float(w), k.astype(float))
    return log_safe(pd.DataFrame({"k": k, "value": v}), "value")


def log_safe(df: pd.DataFrame, col: str, floor: float | None = None, ceil: float | None = None) -> pd.DataFrame:
    """Add ``plot_<col>`` (positive, drawable on a log axis) and ``state_<col>`` (one of STATES).

    Finite positive values are kept. Zeros and negative values go to ``floor`` (default: a decade below the smallest
    finite positive value), inf and NaN to ``ceil`` (a decade above the largest). With no finite positive value at all
    the floor is 1e-300 and the ceiling 1.
    """
    out = df.copy()
    v = out[col].to_numpy(dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    if floor is None:
        floor = 10.0 ** (math.floor(math.log10(pos.min())) - 1) if pos.size else 1e-300
    if ceil is None:
        ceil = 10.0 ** (math.ceil(math.log10(pos.max())) + 1) if pos.size else 1.0
    state = np.full(v.shape, OK, dtype=object)
    state[np.isfinite(v) & (v <= 0)] = VANISHED
    state[np.isinf(v)] = OVERFLOW
    state[np.isnan(v)] = NAN
    plot = np.where(state == OK, v, np.where(state == VANISHED, floor, ceil))
    out[f"plot_{col}"] = plot
    out[f"state_{col}"] = state
    return out


def log10_safe(v: np.ndarray) -> np.ndarray:
    """log10 of positive finite values; NaN elsewhere (zeros, inf, NaN are reported through states)."""
    v = np.asarray(v, dtype=float)
    out = np.full(v.shape, np.nan)
    m = np.isfinite(v) & (v > 0)
    out[m] = np.log10(v[m])
    return out


def value_state(v: np.ndarray) -> np.ndarray:
    """STATES label of every value."""
    v = np.asarray(v, dtype=float)
    s = np.full(v.shape, OK, dtype=object)
    s[np.isfinite(v) & (v <= 0)] = VANISHED
    s[np.isinf(v)] = OVERFLOW
    s[np.isnan(v)] = NAN
    return s


# ---------------------------------------------------------------------------------------------------------- flow
def recorded_steps(flow: pd.DataFrame) -> list[int]:
    """Training steps at which the flow table was recorded, ascending."""
    return sorted(int(s) for s in flow["step"].unique())


def profile(flow: pd.DataFrame, step: int, layer: int = 0) -> pd.DataFrame:
    """Rows of one recording (one step, one layer), by lag ascending."""
    p = flow[(flow["step"] == step) & (flow["layer"] == layer)]
    return p.sort_values("lag").reset_index(drop=True)


def lag_sample(T: int, max_lags: int) -> np.ndarray:
    """Lags to draw for a sequence of length T: all of them up to ``max_lags``, else log-spaced plus both ends."""
    if T <= max_lags:
        return np.arange(T)
    lin = np.unique(np.round(np.geomspace(1, T - 1, max_lags - 1)).astype(int))
    return np.unique(np.concatenate([[0], lin, [T - 1]]))


def flow_lines(flows: dict[str, pd.DataFrame], layer: int = 0, weight_scale: float | None = None,
               max_lags: int = L.LINE_MAX_LAGS, gammas: dict[str, float] | None = None) -> pd.DataFrame:
    """Long table for "error vs lag": one row per (cell, phase, lag).

    ``flows`` maps a cell label ("RNN", "LSTM", ...) to its flow table. Phases are "at initialisation" (step 0) and
    "after N steps" (the last recording). With ``weight_scale``, adds the theoretical envelope
    dh(lag 0) * (gamma * weight_scale)^lag for every line ``gammas`` names (label -> gamma = max |f'| of its
    activation, config.RNN_GAMMA; default: gamma 1 for every label starting with "RNN"), series
    "<label> bound w^lag" (gamma 1) or "<label> bound (gamma w)^lag".
    Columns: series, cell, kind ("measured" | "bound"), phase, lag, value, plot_value, state_value.
    """
    if gammas is None:
        gammas = {label: 1.0 for label in flows if label.upper().startswith("RNN")}
    rows = []
    for label, flow in flows.items():
        steps = recorded_steps(flow)
        if not steps:
            continue
        phases = [(steps[0], "at initialisation")]
        if steps[-1] != steps[0]:
            phases.append((steps[-1], f"after training ({steps[-1]} steps)"))
        for step, phase in phases:
            p = profile(flow, step, layer)
            if p.empty:
                continue
            keep = lag_sample(int(p["lag"].max()) + 1, max_lags)
            p = p[p["lag"].isin(keep)]
            rows.append(pd.DataFrame({"series": label, "cell": label, "kind": "measured", "phase": phase,
                                      "lag": p["lag"].to_numpy(), "value": p["dh_norm"].to_numpy(dtype=float)}))
            if weight_scale is not None and label in gammas:
                gamma = float(gammas[label])
                v0 = float(p.loc[p["lag"] == 0, "dh_norm"].iloc[0]) if (p["lag"] == 0).any() else float("nan")
                lags = p["lag"].to_numpy()
                with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                    env = v0 * np.power(gamma * float(weight_scale), lags.astype(float))
                rate = f"{weight_scale:g}^lag" if gamma == 1 else f"({gamma:g}·{weight_scale:g})^lag"
                rows.append(pd.DataFrame({"series": f"{label} bound {rate}", "cell": label,
                                          "kind": "bound", "phase": phase, "lag": lags, "value": env}))
    if not rows:
        return pd.DataFrame(columns=["series", "cell", "kind", "phase", "lag", "value", "plot_value", "state_value"])
    df = pd.concat(rows, ignore_index=True)
    measured = df["kind"] == "measured"
    vals = df.loc[measured, "value"].to_numpy(dtype=float)
    pos = vals[np.isfinite(vals) & (vals > 0)]
    floor = 10.0 ** (math.floor(math.log10(pos.min())) - 1) if pos.size else 1e-300
    ceil = 10.0 ** (math.ceil(math.log10(pos.max())) + 1) if pos.size else 1.0
    df = log_safe(df, "value", floor=floor, ceil=ceil)
    # The bound may run far outside the measured range; clip it to the drawn range instead of marking it.
    b = ~measured
    df.loc[b, "plot_value"] = np.clip(np.nan_to_num(df.loc[b, "value"].to_numpy(dtype=float), nan=ceil,
                                                    posinf=ceil), floor, ceil)
    df.loc[b, "state_value"] = OK
    return df


def lstm_cell_lines(flow: pd.DataFrame, layer: int = 0, max_lags: int = L.LINE_MAX_LAGS,
                    training: bool = False) -> pd.DataFrame:
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ vs lag for the flow table of an LSTM (either: config.MEMORY_CELLS), at
    initialisation and at the last recording ("after training", or "latest recording" while the run is still
    ``training``)."""
    steps = recorded_steps(flow)
    rows = []
    phases = [(steps[0], "at initialisation")]
    if steps[-1] != steps[0]:
        phases.append((steps[-1], f"{'latest recording' if training else 'after training'} ({steps[-1]} steps)"))
    for step, phase in phases:
        p = profile(flow, step, layer)
        keep = lag_sample(int(p["lag"].max()) + 1, max_lags)
        p = p[p["lag"].isin(keep)]
        for col, name in (("dh_norm", "‖∂L/∂h_t‖ (hidden state)"), ("dc_norm", "‖∂L/∂c_t‖ (cell state)")):
            rows.append(pd.DataFrame({"quantity": name, "phase": phase, "lag": p["lag"].to_numpy(),
                                      "value": p[col].to_numpy(dtype=float)}))
    return log_safe(pd.concat(rows, ignore_index=True), "value")


def _step_edges(steps: list[int]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(steps, dtype=float)
    if s.size == 1:
        return s - 0.5, s + 0.5
    mid = (s[1:] + s[:-1]) / 2
    lo = np.concatenate([[s[0] - (mid[0] - s[0])], mid])
    hi = np.concatenate([mid, [s[-1] + (s[-1] - mid[-1])]])
    return lo, hi


def even_index(n: int, k: int) -> np.ndarray:
    """At most ``k`` of the indices 0..n-1, evenly spread, always the first and the last (all when n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def thin_rows(d: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``d``, evenly spread, keeping the first and the last."""
    return d.iloc[even_index(len(d), max_rows)]


def thin_steps(steps: list[int], max_steps: int) -> list[int]:
    """At most ``max_steps`` recorded steps, evenly spread, always keeping the first and the last."""
    return [steps[i] for i in even_index(len(steps), max_steps)]


def lag_bins(T: int, max_bins: int) -> list[tuple[int, int]]:
    """Half-open lag bins [lo, hi) covering 0..T-1: one per lag up to ``max_bins``, else log-spaced widths."""
    if T <= max_bins:
        return [(i, i + 1) for i in range(T)]
    edges = np.unique(np.round(np.geomspace(1, T, max_bins)).astype(int))
    edges = np.unique(np.concatenate([[0], edges, [T]]))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def heatmap_table(flows: dict[str, pd.DataFrame], col: str = "dh_norm", layer: int = 0,
                  max_lags: int = L.HEATMAP_MAX_LAGS, max_steps: int = L.HEATMAP_MAX_STEPS) -> pd.DataFrame:
    """log10 ‖∂L/∂h_t‖ over lag × training step, binned, one block per cell.

    A lag bin holds the geometric mean of its finite positive values; a bin with any inf/NaN is marked as such, one
    with only zeros as vanished. Columns: cell, step, step_lo, step_hi, lag_lo, lag_hi, log10, value, state.
    """
    out = []
    for label, flow in flows.items():
        f = flow[flow["layer"] == layer]
        if f.empty or col not in f or f[col].isna().all() and col == "dc_norm":
            continue
        steps = thin_steps(recorded_steps(f), max_steps)
        lo_e, hi_e = _step_edges(steps)
        T = int(f["lag"].max()) + 1
        bins = lag_bins(T, max_lags)
        nb, ns = len(bins), len(steps)
        bin_of = np.empty(T, dtype=int)
        for i, (a, b) in enumerate(bins):
            bin_of[a:b] = i
        f = f[f["step"].isin(steps)]
        v = f[col].to_numpy(dtype=float)
        cell = np.searchsorted(steps, f["step"].to_numpy()) * nb + bin_of[f["lag"].to_numpy()]  # (step, bin) index

        def per_cell(weights=None):
            return np.bincount(cell, weights=weights, minlength=ns * nb)

        pos = np.isfinite(v) & (v > 0)
        sum_log = per_cell(np.where(pos, np.log10(np.where(pos, v, 1.0)), 0.0))
        n_pos, n_all = per_cell(pos.astype(float)), per_cell()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_log = np.where(n_pos > 0, sum_log / np.maximum(n_pos, 1), np.nan)
        state = np.full(ns * nb, OK, dtype=object)
        state[(n_pos == 0) & (n_all > 0)] = VANISHED
        state[per_cell(np.isinf(v).astype(float)) > 0] = OVERFLOW
        state[per_cell(np.isnan(v).astype(float)) > 0] = NAN
        mean_log[state != OK] = np.nan
        lag_lo, lag_hi = (np.array([b[k] for b in bins]) for k in (0, 1))
        out.append(pd.DataFrame({
            "cell": label, "step": np.repeat(np.asarray(steps, dtype=np.int64), nb),
            "step_lo": np.repeat(lo_e, nb), "step_hi": np.repeat(hi_e, nb),
            "lag_lo": np.tile(lag_lo, ns), "lag_hi": np.tile(lag_hi, ns),
            "log10": mean_log, "value": np.where(state == OK, 10.0 ** np.nan_to_num(mean_log), np.nan),
            "state": state,
        })[n_all > 0])
    if not out:
        return pd.DataFrame(columns=["cell", "step", "step_lo", "step_hi", "lag_lo", "lag_hi", "log10", "value",
                                     "state"])
    df = pd.concat(out, ignore_index=True)
    df["lag_label"] = np.where(df["lag_hi"] - df["lag_lo"] > 1,
                               df["lag_lo"].astype(str) + "–" + (df["lag_hi"] - 1).astype(str),
                               df["lag_lo"].astype(str))
    return df


# ---------------------------------------------------------------------------------------------------------- training
def training_long(steps: dict[str, pd.DataFrame], evals: dict[str, pd.DataFrame], col: str,
                  max_points: int = 500) -> pd.DataFrame:
    """Long table of ``col`` ("loss" or "metric") over steps: train (thinned) and held-out rows per run label."""
    rows = []
    for label, df in steps.items():
        if df is None or df.empty:
            continue
        d = df[["step", col]]
        d = thin_rows(d, max_points)
        rows.append(pd.DataFrame({"run": label, "split": "training batch", "step": d["step"].to_numpy(),
                                  "value": d[col].to_numpy(dtype=float)}))
    for label, df in evals.items():
        if df is None or df.empty:
            continue
        rows.append(pd.DataFrame({"run": label, "split": "held-out", "step": df["step"].to_numpy(),
                                  "value": df[col].to_numpy(dtype=float)}))
    if not rows:
        return pd.DataFrame(columns=["run", "split", "step", "value", "state"])
    out = pd.concat(rows, ignore_index=True)
    out["state"] = value_state(out["value"].to_numpy())
    return out


def param_columns(steps: pd.DataFrame, prefix: str) -> list[str]:
    """Columns of a steps table starting with ``prefix`` ("gnorm:" or "sigma_max:")."""
    return [c for c in steps.columns if c.startswith(prefix)]


def melt_prefixed(steps: pd.DataFrame, prefix: str, max_points: int = 300) -> pd.DataFrame:
    """Long table (step, name, value, plot_value, state_value) of every ``prefix`` column, thinned over steps."""
    cols = param_columns(steps, prefix)
    d = steps[["step"] + cols]
    d = thin_rows(d, max_points)
    long = d.melt(id_vars="step", var_name="name", value_name="value")
    long["name"] = long["name"].str.slice(len(prefix))
    return log_safe(long, "value")


def clip_events(steps: pd.DataFrame) -> pd.DataFrame:
    """Steps at which the global gradient norm was clipped."""
    if "clipped" not in steps:
        return pd.DataFrame(columns=["step", "grad_norm"])
    c = steps[steps["clipped"].astype(bool)]
    return c[["step", "grad_norm"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------- arrays
def grid_long(a: np.ndarray, row_name: str, col_name: str, value_name: str = "value",
              max_rows: int = 200, max_cols: int = 64) -> pd.DataFrame:
    """A 2-D array as a long table (row, col, value), thinned to at most max_rows × max_cols."""
    a = np.asarray(a, dtype=float)
    ri, ci = even_index(a.shape[0], max_rows), even_index(a.shape[1], max_cols)
    sub = a[np.ix_(ri, ci)]
    rr, cc = np.meshgrid(ri, ci, indexing="ij")
    return pd.DataFrame({row_name: rr.ravel(), col_name: cc.ravel(), value_name: sub.ravel()})


def gradnorm_long(steps: dict[str, pd.DataFrame], max_points: int = 600) -> pd.DataFrame:
    """Global gradient norm (before clipping) per run label over steps, with the clipped flag; thinned, but every
    clipped step among the kept ones stays marked."""
    rows = []
    for label, df in steps.items():
        if df is None or df.empty:
            continue
        d = df[["step", "grad_norm", "clipped"]]
        d = thin_rows(d, max_points)
        rows.append(pd.DataFrame({"run": label, "step": d["step"].to_numpy(),
                                  "value": d["grad_norm"].to_numpy(dtype=float),
                                  "clipped": d["clipped"].to_numpy(dtype=bool)}))
    if not rows:
        return pd.DataFrame(columns=["run", "step", "value", "clipped", "plot_value", "state_value"])
    return log_safe(pd.concat(rows, ignore_index=True), "value")


def series_long(steps: dict[str, pd.DataFrame], cols: list[str], max_points: int = 400) -> pd.DataFrame:
    """Long table (step, name = "<run> <column>", value) of some columns of several steps tables, thinned."""
    rows = []
    for label, df in steps.items():
        if df is None or df.empty:
            continue
        d = df
        d = thin_rows(d, max_points)
        for c in cols:
            if c in d and d[c].notna().any():
                suffix = c.split(":", 1)[1] if ":" in c else ""
                rows.append(pd.DataFrame({"name": f"{label} {suffix}".strip(), "run": label, "part": suffix,
                                          "step": d["step"].to_numpy(), "value": d[c].to_numpy(dtype=float)}))
    if not rows:
        return pd.DataFrame(columns=["name", "run", "part", "step", "value", "plot_value", "state_value"])
    return log_safe(pd.concat(rows, ignore_index=True), "value")


# ---------------------------------------------------------------------------------------------------------- sweeps
SWEEP_MARKS = {"solved": "✓", "unsolved": "✗", "pending": "…"}
SWEEP_RATIO_FLOOR = 1e-4  # held-out loss / baseline below this is drawn at it (colour); the tooltip keeps the value


def sweep_map_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The sweep summary (lstmlab.views.sweep_summary.summarise) ready for the trained phase map: per row the cell,
    log10 of the median held-out loss over the baseline, clamped to [log10 SWEEP_RATIO_FLOOR, 1] for colour (a loss
    that overflowed or diverged is drawn at the top, marked "diverged"), the verdict's mark and the spread as text."""
    ratio = summary["loss_over_baseline"].to_numpy(dtype=float)
    finite = np.isfinite(ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(finite & (ratio > 0), np.log10(np.where(ratio > 0, ratio, 1.0)), -np.inf)
    log_ratio = np.where(np.isnan(ratio), np.nan, np.clip(log_ratio, math.log10(SWEEP_RATIO_FLOOR), 1.0))
    return pd.DataFrame({
        "cell": summary["cell"], "seq_len": summary["seq_len"],
        "weight_scale": summary["weight_scale"], "log10_ratio": log_ratio,
        "loss": summary["eval_loss_median"].map(lambda v: f"{v:.3g}"),
        "spread": [f"{lo:.3g} … {hi:.3g}" for lo, hi in zip(summary["eval_loss_min"], summary["eval_loss_max"])],
        "seeds": [f"{s} of {d} solved ({n} runs)" for s, d, n in zip(summary["solved_runs"], summary["done"],
                                                                     summary["runs"])],
        "verdict": summary["verdict"], "mark": summary["verdict"].map(SWEEP_MARKS),
        "note": np.where(np.isinf(ratio), "diverged", ""),
    })


LAB_SOURCE = "lstmlab"  # what the Runs page shows as the source of a run the lab trained
# RunConfig fields that describe how the lab trained a run: a run recorded elsewhere has no values for them
LAB_TRAINING_FIELDS = ("task", "weight_scale", "init", "forget_bias", "optimizer", "lr", "momentum", "clip", "seed",
                       "eval_size", "n_symbols", "noise")


def runs_table(listed: pd.DataFrame) -> pd.DataFrame:
    """Rows of RunStore.list() as the Runs page shows them: ``source`` the full text for a run recorded elsewhere
    and LAB_SOURCE for the lab's own, and the lab's training fields empty where a run has no values
    for them (a recorded run's config keeps their defaults)."""
    out = listed.copy()
    recorded = out["source"].astype(str) != ""
    for col in LAB_TRAINING_FIELDS:
        if col in out.columns:
            out[col] = out[col].astype(object).where(~recorded, None)
    out["source"] = out["source"].where(recorded, LAB_SOURCE)
    return out
