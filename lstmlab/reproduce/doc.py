"""The reports of every recipe found in a run store as one Markdown page (``python -m lstmlab reproduce --doc
PATH``): per recipe and scale, the claim, the models, what the scale leaves out, a table per model and setting with
the paper's figure, the lab's result over seeds and the run time, the expectations and the verdict; with
``--timings FILE``, the recipes' wall times at paper scale on the two executors (bench/bench_reproduce_paper.py);
with ``--update``, the sections of an earlier page whose recipe and scale the store lacks are kept, so that a page can
gather recipes run into different stores.

Every string on the page is the recipes' own text, a number read from the store or from that results file."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from lstmlab.reproduce.recipes import RECIPES, SCALES, sweep_name
from lstmlab.reproduce.report import Report, models_text, report, spans_text
from lstmlab.store import RunStore

COMMAND = ("python -m lstmlab reproduce --doc docs/reproductions.md "
           "--timings bench/results/reproduce_paper.json")
TIMINGS_HEADING = "## Paper scale on the two executors"
SECTION = re.compile(r"^## (?P<id>\S+) \((?P<scale>[a-z]+)\): ", re.MULTILINE)
TIMING_COLUMNS = ("recipe", "settings", "measured", "load at start", "runs", "pool s", "Dask s", "verdict (pool)",
                  "verdict (Dask)")


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


def read_timings(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results file of bench/bench_reproduce_paper.py (a recipe's paper scale, or some of its
    settings, on the local pool and on 2 Dask workers) as dicts of ``TIMING_COLUMNS``; ValueError naming the file
    and what it lacks."""
    try:
        tables = json.loads(Path(path).read_text(encoding="utf-8"))["tables"]
        columns, rows = tables[0]["columns"], tables[0]["rows"]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise ValueError(f"timings={str(path)!r}: expected a results file of bench/bench_reproduce_paper.py "
                         f"({type(e).__name__}: {e})") from None
    missing = [c for c in TIMING_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"timings={str(path)!r}: its table lacks the columns {', '.join(map(repr, missing))}; "
                         "expected a results file of bench/bench_reproduce_paper.py")
    return [{c: row[columns.index(c)] for c in TIMING_COLUMNS} for row in rows]


def timings_markdown(rows: list[dict[str, Any]]) -> str:
    """The wall times of recipes at paper scale on the two executors as a Markdown section."""
    lines = [TIMINGS_HEADING, "",
             "Each recipe's paper scale (or the settings named) run twice as jobs, into a fresh store each time: on "
             "the local pool (one worker per core) and on a Dask cluster of 2 workers of one thread, taking turns, "
             "nothing else running; the wall time from the submit to the last run's end "
             "(`python bench/bench_reproduce_paper.py`).", "",
             "| recipe | settings | runs | local pool | 2 Dask workers | Dask / pool | verdicts (pool, Dask) | "
             "measured (load at start) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pool, dask = (None if r[c] is None else float(r[c]) for c in ("pool s", "Dask s"))
        ratio = f"{dask / pool:.2f}" if pool and dask else "–"
        verdicts = ", ".join(_cell(r[f"verdict ({e})"] or "–") for e in ("pool", "Dask"))
        lines.append(f"| {_cell(r['recipe'])} | {_cell(r['settings'])} | {r['runs']} | {_seconds(pool)} | "
                     f"{_seconds(dask)} | {ratio} | {verdicts} | {_cell(r['measured'])} "
                     f"({_cell(r['load at start'])}) |")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "not yet measured" if value is None else f"{value:,.0f} s"


def sections_of(text: str, path: str | Path = "page") -> dict[tuple[str, str] | str, str]:
    """The sections of a page this module wrote, by (recipe id, scale), and its timings under ``"timings"``;
    ValueError naming the page if it was not written by ``python -m lstmlab reproduce --doc``."""
    if f"<!-- written by `{COMMAND}`" not in text:
        raise ValueError(f"--update {str(path)!r}: expected a page written by `python -m lstmlab reproduce --doc` "
                         "(its first lines name the command)")
    starts = [m.start() for m in re.finditer(r"^## ", text, re.MULTILINE)]
    out: dict[tuple[str, str] | str, str] = {}
    for start, end in zip(starts, [*starts[1:], len(text)]):
        section = text[start:end].rstrip()
        m = SECTION.match(section)
        if m:
            out[(m["id"], m["scale"])] = section
        elif section.startswith(TIMINGS_HEADING):
            out["timings"] = section
    return out


def markdown(store: RunStore, timings: list[dict[str, Any]] | None = None,
             earlier: dict[tuple[str, str] | str, str] | None = None) -> tuple[str, int, int]:
    """The page of every recipe whose sweep the store holds, how many reports it wrote from the store and how many
    sections of ``earlier`` (:func:`sections_of`) it kept: those of a known recipe and scale the store lacks, and
    the timings unless ``timings`` (:func:`read_timings`) gives the recipes' wall times on the two executors."""
    earlier = earlier or {}
    names = set(store.sweeps()["name"]) if not store.sweeps().empty else set()
    sections, kept = [], 0
    for rid in RECIPES:
        for scale in SCALES:
            if sweep_name(rid, scale) in names:
                sections.append(report_markdown(report(store, rid, scale)))
            elif (rid, scale) in earlier:
                sections.append(earlier[(rid, scale)])
                kept += 1
    written = len(sections) - kept
    head = ["# Reproductions", "",
            f"<!-- written by `{COMMAND}` from run stores; do not edit by hand -->", "",
            "The papers' long-lag experiments as the lab's recipes (`lstmlab.reproduce.recipes`), each reported "
            "against its paper: success over seeds, the sequences until the stopping criterion, the test set's "
            "wrong sequences, the final loss over the task's chance baseline, and the verdict its rule gives. Run "
            "times are the runs' wall times on the machine that trained them, which was shared with other work; "
            "each recipe's wall time per executor counts the time while at least one of its runs ran. Each section "
            "is written from the store that held its recipe's runs (`--update` keeps the sections of recipes a "
            "store lacks).", ""]
    if not sections:
        head.append("No recipe has runs in this store: submit one with `python -m lstmlab reproduce ID`.")
    if timings:
        sections.append(timings_markdown(timings))
    elif "timings" in earlier:
        sections.append(earlier["timings"])
        kept += 1
    return "\n".join(head + ["\n\n".join(sections)]).rstrip() + "\n", written, kept
