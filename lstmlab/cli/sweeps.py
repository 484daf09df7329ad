"""Commands on sweeps: ``sweep`` (queue a named grid of configs x seeds, or resume it) and ``sweeps`` (list them,
or show what one found: per grid point the median held-out loss over seeds, its spread and the verdict)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, TextIO

from lstmlab.cli.jobs import is_local, uses_executors
from lstmlab.cli.output import printable
from lstmlab.cli.parser import UsageError, typed_value
from lstmlab.cli.progress import ProgressBar
from lstmlab.jobs import sweeps
from lstmlab.runs.status import FINAL_STATUSES, STATUSES
from lstmlab.views import export, sweep_summary


@uses_executors
def cmd_sweep(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    from lstmlab.jobs import api as jobs

    given = {f: getattr(args, f) for f in sweeps.SWEEP_FIELDS if hasattr(args, f)}
    grid = {f: v for f, v in given.items() if "," in v or f == "seed"}
    fixed = {f: typed_value(f, v) for f, v in given.items() if f not in grid}
    spec = sweeps.make_spec(args.name, grid, seeds=args.seeds, fixed=fixed)
    url = store.url.render_as_string(hide_password=False)
    done = sweeps.submit_sweep(spec, store_url=url, scheduler=args.scheduler)
    total = sum(len(v) for v in done.values())
    print(f"sweep {printable(spec.name)}: {total} runs: {len(done['submitted'])} submitted, "
          f"{len(done['resubmitted'])} resubmitted (lost), {len(done['present'])} already there", file=out)
    out.flush()
    if not (args.wait or is_local(args)):
        return 0
    bar = ProgressBar(sum(c.steps for c in spec.configs()), err, enabled=not args.quiet)
    ids = [i for v in done.values() for i in v]
    try:
        while True:
            progress = sweeps.sweep_progress(store, spec.name)
            bar(progress["steps_done"])
            if all(store.progress(i)["status"] in FINAL_STATUSES for i in ids):
                break
            time.sleep(jobs.POLL_S * 5)
    except KeyboardInterrupt:
        bar.close()
        print("stopping the sweep's runs", file=err)
        for run_id in ids:
            jobs.stop(run_id, store_url=url)
        return 130
    bar.close()
    counts = sweeps.sweep_progress(store, spec.name)
    print(", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]), file=out)
    return 0 if counts["failed"] == counts["lost"] == 0 else 1


def cmd_sweeps(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    if args.action == "ls":
        names = sweep_summary.sweep_names(store)
        if not names:
            print("no sweeps", file=out)
        for name in names:
            print(_sweep_line(store, name), file=out)
        return 0
    if not args.name:
        raise UsageError("sweeps show: expected the NAME of a sweep (python -m lstmlab sweeps ls lists them)")
    if args.name not in sweep_summary.sweep_names(store):
        raise KeyError(f"no sweep named {args.name!r} (python -m lstmlab sweeps ls lists them)")
    summary = _print_sweep_summary(store, args.name, out)
    if args.csv:
        Path(args.csv).write_text(export.frame_csv(summary), encoding="utf-8", newline="")
        print(f"wrote {args.csv}", file=out)
    return 0


def _sweep_line(store: Any, name: str) -> str:
    counts = store.list(sweep=name)["status"].value_counts()  # most frequent first
    return f"{printable(name)}: {int(counts.sum())} runs" + "".join(f", {int(n)} {s}" for s, n in counts.items())


def _print_sweep_summary(store: Any, name: str, out: TextIO) -> Any:
    """Print what sweep ``name`` found (lstmlab.views.sweep_summary): per grid point the median held-out loss over
    seeds, its spread and the verdict, then the longest sequence length each cell solved. Returns the summary
    table."""
    rows = store.list(sweep=name)
    summary = sweep_summary.summarise(sweep_summary.run_outcomes(store.load(i) for i in rows["id"]))
    print(f"sweep {_sweep_line(store, name)}", file=out)
    if summary.empty:
        return summary
    view = summary.assign(
        cell=summary["cell"].str.upper(), w=summary["weight_scale"].map(lambda v: f"{v:g}"),
        seeds=summary["solved_runs"].astype(str) + "/" + summary["done"].astype(str),
        loss=summary["eval_loss_median"].map(lambda v: f"{v:.3g}"),
        spread=[f"{lo:.3g}..{hi:.3g}" for lo, hi in zip(summary["eval_loss_min"], summary["eval_loss_max"])],
        ratio=summary["loss_over_baseline"].map(lambda v: f"{v:.3g}"))
    cols = {"cell": "cell", "seq_len": "T", "w": "w", "seeds": "solved", "loss": "median loss",
            "spread": "min..max", "ratio": "/baseline", "verdict": "verdict"}
    print(view[list(cols)].rename(columns=cols).to_string(index=False), file=out)
    print("\nlongest sequence length solved", file=out)
    for r in sweep_summary.longest_solved(summary).itertuples():
        at = f" (weight scale {r.weight_scale:g}, median loss {r.eval_loss_median:.3g})" if r.longest_solved else ""
        solved = f"T={r.longest_solved}{at}" if r.longest_solved else "none"
        print(f"  {r.cell.upper():<5} {solved}; longest tried T={r.longest_tried}", file=out)
    return summary
