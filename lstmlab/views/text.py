"""Sentences and numbers for people: formatted values, run labels, the reading of an error-flow table and the
sentence that names a network (no streamlit)."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from lstmlab.core.analysis import LEFT_BASELINE, Recovery, flow_ratio, task_info
from lstmlab.core.config import RunConfig
from lstmlab.views.tables import LAB_SOURCE, recorded_steps

# Each cell's name on the dashboard (charts, legends, labels), in config.CELLS order.
CELL_LABELS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "rnn_relu": "ReLU RNN", "rnn_logistic": "Logistic RNN",
               "lstm97": "LSTM 1997", "lstm97fc": "LSTM 1997 FC", "lstm97ig": "LSTM 1997 input gate only"}


def power_value(x: float) -> str:
    """w^T as a person reads it: 2.66e-05, 0.59, 13780.6, 1.18e+176; 0 and inf named."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0 (underflow)"
    if math.isinf(x):
        return "∞ (overflow)"
    if x >= 1e9 or x < 1e-3:
        return f"{x:.3g}"
    if x >= 100:
        return f"{x:.1f}"
    return f"{x:.4g}"


def half_life(w: float) -> str:
    """Steps for the error factor w^k to halve (w < 1) or double (w > 1)."""
    if w == 1:
        return "w = 1: the error keeps its size at every step"
    if w <= 0:
        return ""
    k = math.log(2) / abs(math.log(w))
    return f"the error {'halves' if w < 1 else 'doubles'} every {k:.3g} steps"


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark: each may be backslash-escaped
# Markdown renderers turn bare URLs and e-mail addresses in text into links after escapes are resolved (GFM
# autolink literals); a word joiner (U+2060, invisible) before every ".", ":" and "@" keeps them text.
_JOINED = {".", ":", "@"}


def escape_markdown(text: Any, code: bool = False, limit: int | None = None) -> str:
    """``text`` as Markdown that renders it literally: the one way a user- or URL-supplied string reaches a page.

    Line breaks and other control characters become spaces and ``limit`` clips to that many characters. By default
    every ASCII punctuation mark is backslash-escaped (no link, image, emphasis, HTML, LaTeX or directive can
    form) and a word joiner goes before every ".", ":" and "@" (no bare URL or address becomes a link);
    ``code=True`` returns one code span instead (``"`name`"``), inside which nothing is rendered, with any
    backtick replaced by an apostrophe so the span cannot be closed early.
    """
    s = "".join(c if c.isprintable() else " " for c in str(text))
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    if code:
        return "`" + s.replace("`", "'") + "`"
    return _PUNCTUATION.sub(lambda m: ("\u2060" if m[1] in _JOINED else "") + "\\" + m[1], s)


def fmt(x: float, digits: int = 3) -> str:
    """A number for a sentence: 2.66e-05, 0.41, 1.38e+04; zeros, inf and NaN spelled out."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NaN"
    x = float(x)
    if x == 0:
        return "0 (vanished)"
    if math.isinf(x):
        return "∞ (overflow)" if x > 0 else "-∞ (overflow)"
    a = abs(x)
    if 1e-3 <= a < 1e4:
        return f"{x:.{digits}g}"
    return f"{x:.{max(digits - 1, 1)}e}"


def ratio_text(r: float) -> str:
    """A ratio of two norms for a sentence: "undefined" when it is NaN (lstmlab.core.analysis.flow_ratio: nothing
    reached the last step, or a norm is not finite), else fmt()."""
    return "undefined" if r is None or math.isnan(float(r)) else fmt(r)


def reading(flows: dict[str, pd.DataFrame], statuses: dict[str, str] | None = None, layer: int = 0,
            recoveries: dict[str, Recovery | None] | None = None, joins: dict[str, int] | None = None) -> str:
    """One sentence read from the data: per cell, error at the first step as a fraction of its value at the last;
    then, per cell in ``recoveries`` whose ratio collapsed, when it collapsed and recovered (recovery_text).
    ``joins``: per cell whose head reads the recurrent layer only after that many updates (RunConfig.join_after),
    the sentence says that no error reaches the layer before, where a recording before the join is undefined."""
    parts = []
    statuses = statuses or {}
    joins = joins or {}
    for label, flow in flows.items():
        steps = recorded_steps(flow)
        if not steps:
            continue
        join = joins.get(label, 0)
        r0 = flow_ratio(flow, steps[0], layer)
        r1 = flow_ratio(flow, steps[-1], layer)
        txt = f"**{escape_markdown(label)}**: {ratio_text(r0)} at initialisation"
        if steps[0] < join:
            txt += (f" (the layer joins the head after {join:,} updates: before, no error reaches it"
                    f"{'' if steps[-1] >= join else ', and it has not joined yet'})")
        if steps[-1] != steps[0]:
            txt += f", {ratio_text(r1)} after {steps[-1]} steps"
        if statuses.get(label) == "diverged":
            txt += " (training diverged)"
        parts.append(txt)
    if not parts:
        return ""
    told = [recovery_text(label, rec) for label, rec in (recoveries or {}).items() if rec is not None]
    return ("Error at the first time step as a fraction of its value at the last (‖∂L/∂h₁‖ / ‖∂L/∂h_T‖) — "
            + "; ".join(parts) + "." + "".join(" " + t for t in told))


def recovery_text(label: str, rec: Recovery) -> str:
    """The collapse and recovery of a run's first-step error as a sentence (lstmlab.core.analysis.recovery), e.g.
    "The LSTM's error reaching t = 1 collapsed to 3.0e-09 by step 100 and recovered to 0.16 at step 400, when its
    held-out loss fell below half the baseline (0.056 against 0.167)."."""
    said = (f"The {escape_markdown(label)}'s error reaching t = 1 collapsed to {fmt(rec.collapse_ratio, 2)} by step "
            f"{rec.collapse_step}")
    below = f"below {_fraction(LEFT_BASELINE)}the baseline ({fmt(rec.left_baseline_loss)} against {fmt(rec.baseline)})"
    if rec.recovery_step is None:
        said += " and has not recovered"
        if rec.left_baseline_step is not None:
            said += f"; its held-out loss fell {below} at step {rec.left_baseline_step}"
        return said + "."
    said += f" and recovered to {fmt(rec.recovery_ratio, 2)} at step {rec.recovery_step}"
    if rec.left_baseline_step == rec.recovery_step:
        return said + f", when its held-out loss fell {below}."
    if rec.left_baseline_step is None:
        return said + f"; its held-out loss has stayed above {_fraction(LEFT_BASELINE)}the baseline."
    return said + f"; its held-out loss fell {below} at step {rec.left_baseline_step}."


def _fraction(x: float) -> str:
    """A fraction of a quantity in words: "half ", "0.3 × ", "" for 1."""
    return {1.0: "", 0.5: "half "}.get(float(x), f"{x:g} × ")


TASK_PHRASES = {"adding": "the adding problem", "recall": "first-symbol recall", "copy": "the copy task",
                "forecast": "series forecasting"}


def network_text(config: RunConfig, run: Any = None, source: str = "") -> str:
    """One sentence saying which network is shown: its shape and, for a trained one, how it was trained and how
    well it does on its held-out batch against the task's baseline predictor (named by the task)."""
    name = CELL_LABELS.get(config.cell, config.cell)
    forget = f"forget bias {config.forget_bias:g}, " if config.cell == "lstm" else ""
    truncated = ", truncated gradient" if config.gradient == "truncated" else ""
    shape = (f"{config.layers}-layer {name}, " if config.layers > 1 else f"{name}, ") + (
        f"H={config.hidden_size}, weight scale {config.weight_scale:g}, {forget}{config.init} init, "
        f"seed {config.seed}{truncated}")
    if run is None:
        return f"Freshly initialised {shape}: no training."
    done = int(len(run.steps))
    what = (f"trained {done} step{'s' if done != 1 else ''} on {TASK_PHRASES.get(config.task, config.task)} "
            f"(T={config.seq_len})")
    ev = run.eval
    info = task_info(config)
    loss = (f"held-out {'MSE' if info['metric_name'] == 'mse' else 'loss'} "
            f"{fmt(float(ev['loss'].iloc[-1]))} ({info['baseline_name']}: {fmt(info['baseline'])})") if len(ev) else ""
    status = {"diverged": f"; {run.message}, showing the last finite parameters",
              "stopped": f"; {run.message}"}.get(run.status, "")
    return f"{source}{shape}, {what}{status}{'; ' + loss if loss else ''}."


def run_label(row: Any) -> str:
    """Display label of a run (a row of RunStore.list() or a Run): its name, else cell, length, scale and id (for a
    run recorded elsewhere, where it was recorded in place of the scale)."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k, None))
    name = get("name")
    rid = str(get("id") or get("run_id") or "")
    if name:
        return f"{name} · {rid[:6]}"
    cfg = get("config")
    if cfg is not None:
        cell, T, w, source = cfg.cell, cfg.seq_len, cfg.weight_scale, cfg.source
    else:
        cell, T, w, source = get("cell"), get("seq_len"), get("weight_scale"), get("source")
    if source:
        return f"{CELL_LABELS.get(cell, str(cell).upper())} T={T} from {source_kind(source)} · {rid[:6]}"
    return f"{CELL_LABELS.get(cell, str(cell).upper())} T={T} w={float(w):g} · {rid[:6]}"


def source_kind(source: str) -> str:
    """The short name of where a run was recorded ("PyTorch" of "PyTorch 2.13.0: torch.nn.LSTM(...)"); LAB_SOURCE
    for the lab's own runs (source "")."""
    return source.split(":", 1)[0].split(" ", 1)[0] if source else LAB_SOURCE
