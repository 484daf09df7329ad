"""Probes for the Phase map and Inside the LSTM pages: one forward/backward pass of a network, no training
(Inside the LSTM may be handed trained parameters). Pure functions over lstmlab's core API (no streamlit); the
dashboard caches them in lstmlab.ui.cached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmlab.core.analysis import mean_l2, norm_ratio
from lstmlab.core.config import CAROUSEL_CELLS, MEMORY_CELLS, RunConfig
from lstmlab.core.jacobian import cell_state_carry, cell_state_jacobian, jacobian_spectrum
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params
from lstmlab.core.spec import ModelSpec
from lstmlab.core.tasks import get_task
from lstmlab.runs.records import initial_params, model_spec
from lstmlab.views import limits as L
from lstmlab.views import tables
from lstmlab.views.text import CELL_LABELS


def _adding_batch(seq_len: int, batch: int, seed: int, dtype: str = "float64"):
    """(x, y, task) of the adding problem: the inputs every probe uses."""
    task = get_task(RunConfig(task="adding", seq_len=seq_len, dtype=dtype))
    x, y = task.sample(np.random.default_rng(seed), batch)
    return x, y, task


def phase_lengths(T_max: int, n: int) -> list[int]:
    """n sequence lengths, log-spaced from 10 (or less) to T_max."""
    lo = min(10, T_max)
    return sorted({int(round(v)) for v in np.geomspace(lo, T_max, n)})


def phase_scales(w_min: float, w_max: float, n: int) -> list[float]:
    """n weight scales, evenly spaced (rounded to 1e-3 so labels stay readable)."""
    return [round(float(v), 3) for v in np.linspace(w_min, w_max, n)]


def phase_map(cells: list[str], scales: list[float], lengths: list[int], hidden: int, init: str,
              forget_bias: float, seed: int, batch: int = L.PHASE_BATCH) -> pd.DataFrame:
    """log10 of ‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖ at initialisation, over weight scale × length k+1, per cell.

    For each (cell, weight scale) one network is initialised and run forward and backward on an adding-problem
    batch of the longest length; the ratio for length T is read at lag T − 1 (the error T − 1 steps before the
    loss relative to the error at the loss): the quantity ‖∂L/∂h_1‖/‖∂L/∂h_T‖ of a sequence made of the last T
    inputs. Columns: cell, weight_scale, seq_len, ratio, log10_ratio, state, and rectangle edges w_lo, w_hi,
    T_lo, T_hi (midpoints between grid values; lengths geometrically).
    """
    T_max = max(lengths)
    x, y, task = _adding_batch(T_max, batch, seed)
    s = np.asarray(scales, dtype=float)
    w_edges = np.concatenate([[s[0] - (s[1] - s[0]) / 2 if len(s) > 1 else s[0] - 0.05],
                              (s[1:] + s[:-1]) / 2,
                              [s[-1] + (s[-1] - s[-2]) / 2 if len(s) > 1 else s[0] + 0.05]])
    t = np.asarray(lengths, dtype=float)
    if len(t) > 1:
        gm = np.sqrt(t[1:] * t[:-1])
        t_edges = np.concatenate([[t[0] ** 2 / gm[0]], gm, [t[-1] ** 2 / gm[-1]]])
    else:
        t_edges = np.array([t[0] * 0.8, t[0] * 1.25])
    rows = []
    with np.errstate(all="ignore"):
        for cell in cells:
            spec = ModelSpec(cell=cell, input_size=task.input_size, hidden_size=hidden,
                             output_size=task.output_size, layers=1, head=task.head)
            for i, w in enumerate(scales):
                params = init_params(spec, weight_scale=w, init=init, forget_bias=forget_bias, seed=seed)
                res = bptt(spec, params, x, y, loss=task.loss)
                norms = mean_l2(np.asarray(res.dh[0], dtype=float)[None])[0]  # (T,), tiny norms kept
                last = float(norms[-1])
                for j, T in enumerate(lengths):
                    ratio = norm_ratio(float(norms[T_max - T]), last)
                    rows.append((CELL_LABELS[cell], w, T, ratio, w_edges[i], w_edges[i + 1], t_edges[j],
                                 t_edges[j + 1]))
    df = pd.DataFrame(rows, columns=["cell", "weight_scale", "seq_len", "ratio", "w_lo", "w_hi", "T_lo", "T_hi"])
    df["log10_ratio"] = tables.log10_safe(df["ratio"].to_numpy())
    df["state"] = tables.value_state(df["ratio"].to_numpy())
    return df


def spectrum(cell: str, weight_scale: float, seq_len: int, hidden: int, init: str, forget_bias: float,
             seed: int) -> pd.DataFrame:
    """Singular values of ∂s_T/∂s_{T−lag} for one adding-problem example at initialisation.

    Columns: lag, which ("largest", "median", "smallest"; for the tanh and ReLU RNNs "bound w^lag"; for the
    LSTMs CAROUSEL: the largest singular value of ∂c_T/∂c_{T−lag} along the cell state alone, the product of
    lstmlab.cell_state_jacobian: ∏ f for the LSTM, exactly 1 for the LSTM of 1997), value, plot/state.
    """
    x, _, task = _adding_batch(seq_len, 1, seed)
    spec = ModelSpec(cell=cell, input_size=task.input_size, hidden_size=hidden, output_size=task.output_size,
                     layers=1, head=task.head)
    params = init_params(spec, weight_scale=weight_scale, init=init, forget_bias=forget_bias, seed=seed)
    with np.errstate(all="ignore"):
        sv = np.asarray(jacobian_spectrum(spec, params, x, layer=0, example=0), dtype=float)  # (T+1, S)
    lags = np.arange(sv.shape[0])
    parts = [
        pd.DataFrame({"lag": lags, "which": "largest", "value": sv[:, 0]}),
        pd.DataFrame({"lag": lags, "which": "median", "value": sv[:, sv.shape[1] // 2]}),
        pd.DataFrame({"lag": lags, "which": "smallest", "value": sv[:, -1]}),
    ]
    if cell in ("rnn", "rnn_relu"):  # gamma = max |f'| = 1 (the logistic RNN's 1/4 gives its own line below)
        with np.errstate(all="ignore"):
            parts.append(pd.DataFrame({"lag": lags, "which": f"bound {weight_scale:g}^lag",
                                       "value": np.power(float(weight_scale), lags.astype(float))}))
    if cell == "rnn_logistic":
        with np.errstate(all="ignore"):
            parts.append(pd.DataFrame({"lag": lags, "which": f"bound ({weight_scale:g}/4)^lag",
                                       "value": np.power(float(weight_scale) / 4, lags.astype(float))}))
    if spec.has_cell_state:
        J = np.asarray(cell_state_jacobian(spec, params, x), dtype=float)  # (T, H, H): step t + 1 at row t
        along, P = [1.0], np.eye(hidden)
        with np.errstate(all="ignore"):
            for k in range(1, len(lags)):
                P = P @ J[len(lags) - 1 - k]  # ∂c_T/∂c_{T-k} = J_T J_{T-1} ... J_{T-k+1}
                along.append(float(np.linalg.norm(P, 2)))
        parts.append(pd.DataFrame({"lag": lags, "which": CAROUSEL, "value": along}))
    df = pd.concat(parts, ignore_index=True)
    keep = tables.lag_sample(len(lags), L.LINE_MAX_LAGS)
    return tables.log_safe(df[df["lag"].isin(keep)], "value")


CAROUSEL = "along the cell state alone (largest)"


def lstm_inside(config, params: dict | None, seed: int, layer: int = 0, batch: int = 16) -> dict:
    """One forward + backward pass of the LSTM of ``config`` (a RunConfig with a cell of config.MEMORY_CELLS) on a
    fresh batch of its task drawn from ``np.random.default_rng(seed)``, with the config's gradient (full or truncated).

    ``params``: the network's parameters (e.g. ``Run.params``); None -> the initialisation ``train(config)``
    starts from. Returns numpy arrays of ``layer``: gates {g: (T, B, H)}, dgates {g: (T, B, H)}, c, dc, h, dh
    (T, B, H), carry (T, B, H): the diagonal of ∂c_t/∂c_{t−1} along the cell state (lstmlab.cell_state_carry:
    f_t, or 1 for the LSTM of 1997), and cell (str), loss (float).
    """
    if config.cell not in MEMORY_CELLS:
        raise ValueError(f"cell={config.cell!r}: Inside the LSTM shows LSTM networks only "
                         f"({', '.join(CELL_LABELS[c] for c in MEMORY_CELLS)})")
    if not 0 <= int(layer) < config.layers:
        raise ValueError(f"layer={layer}: expected 0 to {config.layers - 1}")
    task = get_task(config)
    x, y = task.sample(np.random.default_rng(seed), batch)
    params = initial_params(config) if params is None else params
    spec = model_spec(config)
    with np.errstate(all="ignore"):
        res = bptt(spec, params, x, y, loss=task.loss)
        carry = cell_state_carry(spec, params, x, layer=int(layer))
    k = int(layer)
    return {
        "cell": config.cell,
        "gates": {g: np.asarray(v[k]) for g, v in res.gates.items()},
        "dgates": {g: np.asarray(v[k]) for g, v in res.dgates.items()},
        "c": np.asarray(res.c[k]), "dc": np.asarray(res.dc[k]),
        "h": np.asarray(res.h[k]), "dh": np.asarray(res.dh[k]),
        "carry": np.asarray(carry),
        "loss": float(res.loss),
    }


def open_units(out: dict, k: int | None = None) -> np.ndarray:
    """The k units (default: a quarter of them, at least one) whose cell state is best kept, ∂c_t/∂c_{t−1}
    (the forget gate) largest on average over the time steps and the batch, most open first: the units a trained
    LSTM uses as memory. Where every unit keeps it alike (the LSTM of 1997, whose ∂c_t/∂c_{t−1} is 1 in every unit)
    all units, in order."""
    f = np.asarray(out["carry"], dtype=float).mean(axis=(0, 1))  # (H,)
    if np.ptp(f) == 0:
        return np.arange(len(f))
    k = max(1, len(f) // 4) if k is None else int(min(max(k, 1), len(f)))
    return np.argsort(-f, kind="stable")[:k]


def units_summary(out: dict, units, example: int | None = None) -> dict:
    """On ``units``: mean ∂c_t/∂c_{t−1} along the cell state, ``carry_mean`` (the forget gate; 1 for the LSTM of
    1997; over time steps, batch or one example, and units) and the carousel ratio ‖δc_1‖ / ‖δc_T‖ (the error on
    those units' cell state at the first step relative to the last; 1 = carried undiminished, ≪ 1 = vanished),
    averaged over the batch or for one example."""
    u = np.asarray(units)
    sl = slice(None) if example is None else slice(int(example), int(example) + 1)
    f = np.asarray(out["carry"], dtype=float)[:, sl][..., u]
    dc = np.asarray(out["dc"], dtype=float)[:, sl][..., u]
    first, last = np.linalg.norm(dc[0], axis=-1), np.linalg.norm(dc[-1], axis=-1)  # (B,)
    with np.errstate(all="ignore"):
        ratio = np.where(last > 0, first / np.where(last > 0, last, 1.0), np.nan)
    return {"carry_mean": float(f.mean()), "carousel": float(np.nanmean(ratio)) if np.isfinite(ratio).any()
            else float("nan")}


GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "n": "candidate n", "o": "output gate o"}
GATE_NAMES_97 = {"i": "input gate i", "n": "cell input n = g(a_n)", "o": "output gate o"}
CARRY_NAME = "∂c_t/∂c_{t−1} (carousel)"  # the LSTM of 1997's: its forget-gate counterpart, fixed at 1


def gate_names(cell: str) -> dict[str, str]:
    """Display names of a cell's gates (``out["cell"]`` of lstm_inside)."""
    return GATE_NAMES_97 if cell in CAROUSEL_CELLS else GATE_NAMES


def carry_name(cell: str) -> str:
    """Display name of ∂c_t/∂c_{t−1} along the cell state: the LSTM's forget gate, the LSTM of 1997's carousel."""
    return CARRY_NAME if cell in CAROUSEL_CELLS else GATE_NAMES["f"]


def inside_tables(out: dict, example: int, units=None) -> dict[str, pd.DataFrame]:
    """Chart tables of one example: per-gate (t, unit, value) grids (and "c", "carry": the cell state and
    ∂c_t/∂c_{t−1}), per-step means and gradient norms (column ``units`` "all units"); with ``units`` (e.g.
    open_units(out)) also ∂c_t/∂c_{t−1} (the forget gate) and ‖δc‖ over those units alone ("memory units")."""
    ex = int(example)
    grids = {g: tables.grid_long(out["gates"][g][:, ex, :], "t", "unit") for g in out["gates"]}
    grids["c"] = tables.grid_long(out["c"][:, ex, :], "t", "unit")
    grids["carry"] = tables.grid_long(out["carry"][:, ex, :], "t", "unit")
    for grid in grids.values():
        grid["t"] += 1  # time steps are 1..T
    T = out["c"].shape[0]
    t = np.arange(1, T + 1)
    every = slice(None)

    names, cell = gate_names(out["cell"]), out["cell"]

    def mean(name, a, u=every, over="all units"):
        return pd.DataFrame({"name": name, "units": over, "t": t, "value": a[:, ex, u].mean(axis=1)})

    def norm(name, a, u=every, over="all units"):
        return pd.DataFrame({"name": name, "units": over, "t": t, "value": np.linalg.norm(a[:, ex, u], axis=1)})

    means = [mean(names[g], out["gates"][g]) for g in out["gates"]]
    if cell in CAROUSEL_CELLS:  # no forget gate: its place is the carousel's fixed factor
        means.append(mean(CARRY_NAME, out["carry"]))
    norms = [norm(f"δ{g} (into {names[g]})", out["dgates"][g]) for g in out["dgates"]]
    norms += [norm(DC_NAME, out["dc"]), norm("δh (hidden state)", out["dh"])]
    if units is not None and len(units):
        u = np.asarray(units)
        means.append(mean(carry_name(cell), out["carry"], u, MEMORY_UNITS))
        norms.append(norm(DC_NAME, out["dc"], u, MEMORY_UNITS))
    return {"grids": grids, "means": pd.concat(means, ignore_index=True),
            "norms": tables.log_safe(pd.concat(norms, ignore_index=True), "value")}


DC_NAME = "δc (cell state)"
MEMORY_UNITS = "memory units"


def units_label(units) -> str:
    """Short list of units for labels: "13, 8, 12, 6" (at most six, then "…")."""
    u = [int(i) for i in units]
    return ", ".join(map(str, u[:6])) + (", …" if len(u) > 6 else "")


def at_step(out: dict, example: int, t: int) -> pd.DataFrame:
    """Per gate at one time step t (1-based) of one example: mean and range over units of the activation, and the
    norm of the error on its pre-activation (for c: on the cell state; for the LSTM of 1997's ∂c_t/∂c_{t−1}: the
    error it passes back to c_{t−1})."""
    ex, i = int(example), int(t) - 1
    names = gate_names(out["cell"])
    rows = []
    for g in out["gates"]:
        a = out["gates"][g][i, ex, :]
        rows.append({"gate": names[g], "mean": float(a.mean()), "min": float(a.min()),
                     "max": float(a.max()), "‖δ‖": float(np.linalg.norm(out["dgates"][g][i, ex, :]))})
    if out["cell"] in CAROUSEL_CELLS:  # ‖δ‖: the error it hands to c_{t-1}, δc_t ⊙ ∂c_t/∂c_{t-1}
        a = out["carry"][i, ex, :]
        rows.append({"gate": CARRY_NAME, "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()),
                     "‖δ‖": float(np.linalg.norm(out["dc"][i, ex, :] * a))})
    c = out["c"][i, ex, :]
    rows.append({"gate": "cell state c", "mean": float(c.mean()), "min": float(c.min()),
                 "max": float(c.max()), "‖δ‖": float(np.linalg.norm(out["dc"][i, ex, :]))})
    return pd.DataFrame(rows)
