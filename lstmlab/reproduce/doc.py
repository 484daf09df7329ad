"""The reports of every recipe found in a run store as one Markdown page (``python -m lstmlab reproduce --doc
PATH``): per recipe and scale, the claim, the models, what the scale leaves out, a table per model and setting with
the paper's figure, the lab's result over seeds and the run time, the expectations and the verdict.

Every string on the page is the recipes' own text or a number read from the store."""
from __future__ import annotations

import math
from typing import Any

from lstmlab.reproduce.recipes import RECIPES, SCALES, sweep_name
from lstmlab.reproduce.report import Report, models_text, report, spans_text
from lstmlab.store import RunStore

COMMAND = "python -m lstmlab reproduce --doc docs/reproductions.md"


def _cell(text: Any) -> str:
    """Text inside a table cell: no line break, no column separator."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _number(x: Any, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def report_markdown(rep: Report) -> str:
    """One report as a Markdown section."""
    flow = rep.success.startswith("||dL/dh_1||")
    lines = [f"## {rep.id} ({rep.scale}): {rep.verdict}", "",
             f"{_cell(rep.paper)} {_cell(rep.section)}. **Claim:** {_cell(rep.claim)}", "",
             f"Success of a run: {_cell(rep.success)}."]
    if rep.models:
        lines.append(f"Models: {_cell(models_text(rep.models))}.")
    if rep.leaves_out:
        lines.append(f"This scale leaves out: {_cell(rep.leaves_out)}.")
    if rep.notes:
        lines.append(f"Notes: {_cell(rep.notes)}")
    middle = "error ratio at init (median)" if flow else "sequences until the criterion, median [min..max]"
    lines += ["", f"| model | setting | succeeded / seeds | {middle} | test wrong, median (max) of | "
                  "final loss / baseline (median) | run time | paper |", "|---|---|---|---|---|---|---|---|"]
    for row in rep.rows:
        d = row.to_dict()
        if flow:
            middle = _number(d["flow_ratio_median"], ".3g")
        elif d["sequences_median"] is None:
            middle = "-"
        else:
            middle = f"{d['sequences_median']:,.0f} [{d['sequences_min']:,}..{d['sequences_max']:,}]"
        wrong = ("-" if d["test_wrong_median"] is None else
                 f"{d['test_wrong_median']:g} ({d['test_wrong_max']:g}) of {d['test_size']:,}")
        paper = _cell(d["paper"]["text"]) if d["paper"] else "-"
        lines.append(f"| {_cell(row.model)} | {_cell(row.setting)} | {row.succeeded} / {row.seeds} | {middle} | "
                     f"{wrong} | {_number(d['loss_ratio'], '.3g')} | {d['wall_time']:.1f} s | {paper} |")
    lines.append("")
    for text, holds in rep.checks:
        lines.append(f"- {'holds' if holds else 'not applicable' if holds is None else 'fails'}: {_cell(text)}")
    total = sum(r.to_dict()["wall_time"] for r in rep.rows)
    lines += ["", f"Verdict: **{rep.verdict}**; {sum(r.seeds for r in rep.rows)} runs, {total:.1f} s of training "
                  "in all (wall time of the runs, summed)."]
    if rep.spans:
        lines += ["", _cell(spans_text(rep.spans))]
    return "\n".join(lines)


def markdown(store: RunStore) -> tuple[str, int]:
    """The page of every recipe whose sweep the store holds, and how many reports it has."""
    names = set(store.sweeps()["name"]) if not store.sweeps().empty else set()
    sections = [report_markdown(report(store, rid, scale)) for rid in RECIPES for scale in SCALES
                if sweep_name(rid, scale) in names]
    head = ["# Reproductions", "",
            f"<!-- written by `{COMMAND}` from a run store; do not edit by hand -->", "",
            "The papers' long-lag experiments as the lab's recipes (`lstmlab.reproduce.recipes`), each reported "
            "against its paper: success over seeds, the sequences until the stopping criterion, the test set's "
            "wrong sequences, the final loss over the task's chance baseline, and the verdict its rule gives. Run "
            "times are the runs' wall times on the machine that trained them, which was shared with other work; "
            "each recipe's wall time per executor counts the time while at least one of its runs ran.", ""]
    if not sections:
        head.append("No recipe has runs in this store: submit one with `python -m lstmlab reproduce ID`.")
    return "\n".join(head + ["\n\n".join(sections)]).rstrip() + "\n", len(sections)
