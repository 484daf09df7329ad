"""The text the commands print: a run's summary, the table of runs, and stored text made safe for a terminal."""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, TextIO

from lstmlab.core.analysis import summary


def print_summary(run: Any, out: TextIO, indent: str = "") -> None:
    """A run's status, steps, losses against the task's baseline, wall time and error-flow ratios, one per line."""
    s = summary(run)
    status = s["status"] + (f" ({printable(s['message'])})" if s["message"] else "")
    of_baseline = (f" ({s['eval_loss'] / s['baseline']:.1%} of it)"
                   if s["baseline"] > 0 and math.isfinite(s["eval_loss"]) else "")
    lines = [
        f"status       {status}",
        f"steps        {s['steps_done']} of {run.config.steps}",
        f"train loss   {s['train_loss']:.4g} (last step)",
        f"eval loss    {s['eval_loss']:.4g} vs baseline {s['baseline']:.4g}" + of_baseline,
        f"eval {s['metric_name']:<7} {s['metric']:.4g}"
        + (f" (chance {s['chance_metric']:.4g})" if math.isfinite(s["chance_metric"]) else ""),
        f"wall time    {s['wall_time']:.2f} s",
    ]
    for layer, (first, r0, last, r1) in s["flow_ratio"].items():
        lines.append(f"error flow   |dL/dh_1|/|dL/dh_T| layer {layer}: {r0:.3g} at step {first} -> {r1:.3g} "
                     f"at step {last}")
    for line in lines:
        print(indent + line, file=out)


def format_runs(df: Any, full_ids: bool = False) -> str:
    """Fixed-width text table of ``RunStore.list()`` rows."""
    view = df.assign(
        id=df["id"] if full_ids else df["id"].str[:8],
        name=df["name"].map(lambda v: printable(_clip(v, 24))),
        tags=df["tags"].map(lambda v: printable(_clip(v, 24))),
        created=df["created_at"].map(when),
        wall=df["wall_time"].map(lambda v: f"{v:.1f}s"),
        lr=df["lr"].map(lambda v: f"{v:g}"),
        progress=df["step"].astype(str) + "/" + df["steps"].astype(str),
    )
    cols = {"id": "id", "name": "name", "status": "status", "progress": "step", "cell": "cell", "task": "task",
            "seq_len": "T", "hidden_size": "H", "layers": "L", "optimizer": "opt", "lr": "lr", "steps": "steps",
            "seed": "seed", "created": "created", "wall": "wall", "tags": "tags"}
    return view[list(cols)].rename(columns=cols).to_string(index=False)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def printable(text: str) -> str:
    """Replace control characters so stored text cannot drive the terminal."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def when(ts: float) -> str:
    """A stored timestamp as local date and minute."""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
