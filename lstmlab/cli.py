"""Command line interface: ``python -m lstmlab {run,submit,sweep,ls,show,stop,resubmit,export,rm,rename,tag} ...``.

``run`` trains in this process; ``submit`` and ``sweep`` queue jobs (``lstmlab.jobs.api``) on the Dask scheduler named
by ``--scheduler`` or ``$LSTMLAB_SCHEDULER``, else on a local process pool that lives as long as the command, which
therefore follows its jobs to the end (to queue jobs and return, name a scheduler: its queue outlives the command;
the jobs of a command that is killed read as lost after ``LOST_AFTER_S`` and can be resubmitted). The config flags are derived from the ``RunConfig`` dataclass fields, so
they never drift from it.
Errors a user can cause (bad flags, invalid config values, unknown run ids) print one line,
``lstmlab: error: ...``, on stderr and exit non-zero: 2 for usage errors, 1 for the rest; a command whose reader
goes away (``lstmlab show ID | head``) exits quietly with 141 (128 + SIGPIPE), as other tools do.
Set ``LSTMLAB_DEBUG=1`` to get tracebacks instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from sqlalchemy.exc import SQLAlchemyError

from lstmlab.core.analysis import summary
from lstmlab.core.config import FIELD_INFO, RunConfig, check_field, value_from_text
from lstmlab.jobs import api as jobs
from lstmlab.jobs import sweeps
from lstmlab.jobs.limits import SCHEDULER_ENV
from lstmlab.runs.status import FINAL_STATUSES, STATUSES, TRAINED_STATUSES
from lstmlab.store import FILTER_FIELDS, LOST_AFTER_S, RunStore, StoreError, check_labels
from lstmlab.training.runtime import THREADS_VARIABLE, configure_worker
from lstmlab.training.train import train
from lstmlab.views import export, sweep_summary
from lstmlab.views.commands import flag_names

PROG = "lstmlab"
class UsageError(Exception):
    """A bad command line (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# ---- value parsers: on failure they hand the raw text on, so RunConfig words the error ---------------

def _series(text: str) -> Any:
    """Comma/whitespace separated numbers, or ``@path`` to read them from a file."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    return value_from_text("series", text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected a whole number >= 1")
    return value


def _filter_parser(field: dataclasses.Field) -> Any:
    """The value of an ``ls`` filter flag, checked as RunConfig checks the field: a filter no run can match is
    a usage error naming the flag, the value and what was expected."""
    parse = _field_parser(field)

    def check(text: str) -> Any:
        try:
            return check_field(field.name, parse(text))
        except ValueError as e:
            expected = str(e).split(": expected", 1)[-1]
            raise UsageError(f"ls {flag_names(field.name)[0]} {text}: expected{expected}") from None

    return check


def _field_parser(field: dataclasses.Field) -> Any:
    kind = FIELD_INFO[field.name].kind
    return _series if kind == "series" else functools.partial(value_from_text, kind)


def config_flag_help(name: str, default: Any, lists: bool = False) -> str:
    """The help of RunConfig field ``name``'s flag, from its declaration: what it is, what it accepts, its default
    (``lists``: of a sweep's flag, which takes a list)."""
    info = FIELD_INFO[name]
    accepts = "numbers separated by commas, or @FILE" if info.kind == "series" else info.expected()
    if lists:
        accepts = f"one value or a comma-separated list, each {accepts}"
    parts = [info.help.rstrip("."), accepts] if info.kind != "choice" or lists else [info.help.rstrip(".")]
    return "; ".join([*filter(None, parts), f"default: {default!r}"]).replace("%", "%%")


def add_config_flags(parser: argparse.ArgumentParser, lists: bool = False) -> None:
    """One flag per ``RunConfig`` field (``--seq-len``, alias ``--seq_len``); unset flags keep the default. The
    flag's type and help come from the field's declaration (``FIELD_INFO``).
    ``lists``: each flag takes comma-separated values, kept as text (a sweep's grid); no ``--series``."""
    group = parser.add_argument_group("sweep grid (RunConfig fields, comma-separated values)" if lists
                                      else "run config (RunConfig fields)")
    for field in dataclasses.fields(RunConfig):
        if lists and field.name not in sweeps.SWEEP_FIELDS:
            continue
        choices = FIELD_INFO[field.name].choices
        metavar = "{" + ",".join(choices) + "}" if choices else field.name.upper()
        group.add_argument(
            *flag_names(field.name), dest=field.name, type=str if lists else _field_parser(field),
            default=argparse.SUPPRESS, metavar=f"{metavar}[,...]" if lists else metavar,
            help=config_flag_help(field.name, field.default, lists),
        )


def _add_schedulerflag_names(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"Dask scheduler, e.g. tcp://host:8786 (default: ${SCHEDULER_ENV}; unset: a local "
                             "process pool that lives as long as this command, which therefore follows its jobs to "
                             "the end, --wait or not: to queue jobs and return, name a scheduler; if the command is "
                             f"killed, its queued jobs read as lost after {LOST_AFTER_S:g} s and can be resubmitted)")


# ---- parser ---------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``lstmlab`` argument parser."""
    db_parent = _Parser(add_help=False)
    db_parent.add_argument("--db", default=argparse.SUPPRESS, metavar="URL",
                           help="store path or SQLAlchemy URL (default: $LSTMLAB_DB or ./lstmlab-data/runs.db)")
    parser = _Parser(prog=PROG, description="Train recurrent nets and inspect how error signals flow back.")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="store path or SQLAlchemy URL (default: $LSTMLAB_DB or ./lstmlab-data/runs.db)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("run", parents=[db_parent], help="train one config and save the run")
    add_config_flags(p)
    p.add_argument("--name", default="", help="display name of the run")
    p.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    p.add_argument("--reuse", action="store_true",
                   help="if a finished run of this exact config is stored, show it instead of training")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help=f"threads the passes may use (the batch's shards side by side; the results are the same "
                        f"for any N); default ${THREADS_VARIABLE} or 1")

    p = sub.add_parser("submit", parents=[db_parent],
                       help="queue one config as a job and print its run id (without a scheduler: train it in this "
                            "command's own pool, following it to the end)")
    add_config_flags(p)
    p.add_argument("--name", default="", help="display name of the run")
    p.add_argument("--tag", action="append", default=[], help="tag the run (repeatable)")
    p.add_argument("--wait", action="store_true", help="follow the job to its end with a progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_schedulerflag_names(p)

    p = sub.add_parser("sweep", parents=[db_parent],
                       help="queue a named grid of configs x seeds (re-run it to resume: only missing or lost runs "
                            "are submitted)")
    add_config_flags(p, lists=True)
    p.add_argument("--seeds", type=_positive_int, default=None, metavar="N", help="seeds 0..N-1 for every grid point")
    p.add_argument("--name", required=True, help="name of the sweep (its runs are tagged sweep:NAME)")
    p.add_argument("--wait", action="store_true", help="follow the sweep to its end with a progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_schedulerflag_names(p)

    p = sub.add_parser("stop", parents=[db_parent], help="stop a queued or running job (it keeps what it recorded)")
    p.add_argument("run", metavar="RUN", help="run id or unique id prefix")

    p = sub.add_parser("resubmit", parents=[db_parent], help="queue a lost, stopped or failed run again")
    p.add_argument("run", metavar="RUN", help="run id or unique id prefix")
    p.add_argument("--wait", action="store_true", help="follow the job to its end with a progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_schedulerflag_names(p)

    p = sub.add_parser("ls", parents=[db_parent], help="list stored runs (newest first)")
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    for name in FILTER_FIELDS:
        p.add_argument(*flag_names(name), dest=name, action="append", type=_filter_parser(fields[name]),
                       metavar="VALUE", help="keep runs with this value (repeatable: any of them)")
    p.add_argument("--status", action="append", choices=STATUSES)
    p.add_argument("--tag", help="keep runs carrying this tag")
    p.add_argument("--name", help="keep runs whose name contains this text")
    p.add_argument("--sweep", help="keep the runs of this sweep")
    p.add_argument("-n", "--limit", type=_positive_int, default=None, help="show at most this many runs")
    p.add_argument("--full-ids", action="store_true", help="print whole run ids")

    p = sub.add_parser("sweeps", parents=[db_parent], help="list the sweeps, or show what one found")
    p.add_argument("action", choices=("ls", "show"), help="ls: the sweeps and their runs; show: one's summary")
    p.add_argument("name", nargs="?", metavar="NAME", help="the sweep to show")
    p.add_argument("--csv", metavar="PATH", help="show: also write the summary per grid point as CSV")

    p = sub.add_parser("show", parents=[db_parent], help="config and summary of a run")
    p.add_argument("run", metavar="RUN", help="run id or unique id prefix")

    p = sub.add_parser("export", parents=[db_parent], help="write runs as CSV (or a zip of CSVs)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or unique id prefixes")
    p.add_argument("--table", choices=("runs", "steps", "flow", "eval", "all"), default="all")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="file to write; for --table all a .zip file or a directory. Omitted: CSV to stdout")

    p = sub.add_parser("rm", parents=[db_parent], help="delete runs")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or unique id prefixes")

    p = sub.add_parser("rename", parents=[db_parent], help="set the name of a run")
    p.add_argument("run", metavar="RUN")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser("tag", parents=[db_parent], help="replace the tags of a run (none given: clear them)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("tags", nargs="*", metavar="TAG")
    _add_reproduce_parser(sub, db_parent)
    return parser


# ---- commands -------------------------------------------------------------------------------------------

def _cmd_run(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    field_names = [f.name for f in dataclasses.fields(RunConfig)]
    config = RunConfig(**{k: getattr(args, k) for k in field_names if hasattr(args, k)})
    check_labels(args.name, args.tag)  # before training, not when the trained run is saved
    if args.reuse:
        found = store.find(config, status="finished")
        if found:
            run = store.load(found[0])
            print(f"reusing stored run {run.run_id} (same config key {config.key})", file=out)
            _print_summary(run, out)
            return 0

    if args.threads is not None:
        configure_worker(warm="off", threads=args.threads)
    bar = ProgressBar(config.steps, err, enabled=not args.quiet)
    with _StopOnInterrupt() as stopper:
        run = train(config, progress=bar, should_stop=stopper)
    bar.close()
    run.name = args.name
    run.tags = tuple(args.tag)
    run_id = store.save(run)
    print(f"run {run_id}", file=out)
    _print_summary(run, out)
    return 130 if stopper.interrupted else 0


def _config_of(args: argparse.Namespace) -> RunConfig:
    return RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)})


def _local(args: argparse.Namespace) -> bool:
    """Whether the jobs run in this command's own process pool (no scheduler named anywhere)."""
    return not (args.scheduler or os.environ.get(SCHEDULER_ENV))


def _cmd_submit(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    config = _config_of(args)
    url = store.url.render_as_string(hide_password=False)
    before = set(store.find(config))
    run_id = jobs.submit(config, store_url=url, name=args.name, tags=tuple(args.tag), scheduler=args.scheduler)
    attached = f" ({store.progress(run_id)['status']}: this config was submitted before)" if run_id in before else ""
    print(f"run {run_id}{attached}", file=out)
    out.flush()
    if not (args.wait or _local(args)):
        return 0
    return _follow(run_id, url, store, out, err, quiet=args.quiet)


def _cmd_resubmit(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    url = store.url.render_as_string(hide_password=False)
    run_id = jobs.resubmit(args.run, store_url=url, scheduler=args.scheduler)
    print(f"resubmitted {run_id}", file=out)
    out.flush()
    if not (args.wait or _local(args)):
        return 0
    return _follow(run_id, url, store, out, err, quiet=args.quiet)


def _follow(run_id: str, url: str, store: Any, out: TextIO, err: TextIO, quiet: bool) -> int:
    """Follow a job with a progress bar, then print its summary. Ctrl-C leaves a job on a scheduler running and
    asks one of this command's pool to stop."""
    bar = ProgressBar(store.progress(run_id)["steps"], err, enabled=not quiet)
    try:
        status = jobs.wait(run_id, store_url=url, on_progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(f"stopping run {run_id}", file=err)
        jobs.stop(run_id, store_url=url)
        status = jobs.wait(run_id, store_url=url)
    bar.close()
    _print_summary(store.load(run_id), out)
    return 0 if status in TRAINED_STATUSES else 1


def _cmd_sweep(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    given = {f: getattr(args, f) for f in sweeps.SWEEP_FIELDS if hasattr(args, f)}
    grid = {f: v for f, v in given.items() if "," in v or f == "seed"}
    fixed = {f: _typed_value(f, v) for f, v in given.items() if f not in grid}
    spec = sweeps.make_spec(args.name, grid, seeds=args.seeds, fixed=fixed)
    url = store.url.render_as_string(hide_password=False)
    done = sweeps.submit_sweep(spec, store_url=url, scheduler=args.scheduler)
    total = sum(len(v) for v in done.values())
    print(f"sweep {_printable(spec.name)}: {total} runs: {len(done['submitted'])} submitted, "
          f"{len(done['resubmitted'])} resubmitted (lost), {len(done['present'])} already there", file=out)
    out.flush()
    if not (args.wait or _local(args)):
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
        print(f"stopping the sweep's runs", file=err)
        for run_id in ids:
            jobs.stop(run_id, store_url=url)
        return 130
    bar.close()
    counts = sweeps.sweep_progress(store, spec.name)
    print(", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]), file=out)
    return 0 if counts["failed"] == counts["lost"] == 0 else 1


def _typed_value(field: str, text: str) -> Any:
    return _field_parser({f.name: f for f in dataclasses.fields(RunConfig)}[field])(text)


def _cmd_stop(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    url = store.url.render_as_string(hide_password=False)
    run_id = store.resolve(args.run)
    status = jobs.stop(run_id, store_url=url)
    said = {"running": "stop requested: it stops at its next step", "stopped": "stopped"}
    print(f"{run_id}: {said.get(status, f'{status}: nothing to stop')}", file=out)
    return 0


def _cmd_ls(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    filters = {name: getattr(args, name) for name in FILTER_FIELDS if getattr(args, name)}
    if args.sweep:
        filters["sweep"] = args.sweep
    df = store.list(tag=args.tag, name=args.name, status=args.status, **filters)
    if args.limit is not None:
        df = df.head(args.limit)
    if df.empty:
        print("no runs", file=out)
        return 0
    print(format_runs(df, full_ids=args.full_ids), file=out)
    return 0


def _cmd_show(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    run = store.load(args.run)
    print(f"run        {run.run_id}", file=out)
    print(f"name       {_printable(run.name)}", file=out)
    print(f"tags       {_printable(', '.join(run.tags))}", file=out)
    print(f"created    {_when(run.created_at)}", file=out)
    print(f"config key {run.config.key}", file=out)
    print("config", file=out)
    for name, value in run.config.to_dict().items():
        if name == "series" and value is not None:
            head = ", ".join(f"{v:g}" for v in value[:5])
            value = f"{len(value)} values: {head}{', ...' if len(value) > 5 else ''}"
        print(f"  {name:<13} {_printable(str(value))}", file=out)
    print("summary", file=out)
    _print_summary(run, out, indent="  ")
    return 0


def _cmd_sweeps(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
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
    return f"{_printable(name)}: {int(counts.sum())} runs" + "".join(f", {int(n)} {s}" for s, n in counts.items())


def _print_sweep_summary(store: Any, name: str, out: TextIO) -> Any:
    """Print what sweep ``name`` found (lstmlab.views.sweep_summary): per grid point the median held-out loss over seeds,
    its spread and the verdict, then the longest sequence length each cell solved. Returns the summary table."""
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


def _cmd_export(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    runs = [store.load(r) for r in args.runs]
    if args.output is None:
        if args.table == "all":
            raise UsageError("export --table all needs -o PATH (a .zip file or a directory)")
        out.write(export.table_csv(runs, args.table))
        return 0
    for path in export.write_export(runs, args.table, args.output):
        print(f"wrote {path}", file=err)
    return 0


def _cmd_rm(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    full = [store.resolve(r) for r in args.runs]  # all ids must resolve before anything is deleted
    for run_id in dict.fromkeys(full):
        store.delete(run_id)
        print(f"deleted {run_id}", file=out)
    return 0


def _cmd_rename(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    print(f"renamed {store.rename(args.run, args.name)}", file=out)
    return 0


def _cmd_tag(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    print(f"tagged {store.tag(args.run, args.tags)}", file=out)
    return 0


def _add_reproduce_parser(sub: Any, db_parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("reproduce", parents=[db_parent],
                       help="run a paper's experiment as a named recipe (a sweep repro:ID:SCALE), or report it")
    p.add_argument("recipe", nargs="?", metavar="ID", help="the recipe (--list names them)")
    p.add_argument("--list", action="store_true", help="list the recipes with their claims")
    p.add_argument("--scale", default="quick", metavar="SCALE",
                   help="quick (seconds to a minute of CPU) or paper (the published settings); default: quick")
    p.add_argument("--seeds", default=None, metavar="N", help="seeds per model and setting (default: the scale's)")
    p.add_argument("--report", action="store_true", help="print the report of the runs in the store, submit nothing")
    p.add_argument("--json", action="store_true", help="--report: as JSON")
    p.add_argument("--wait", action="store_true", help="follow the runs to their end, then print the report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--doc", metavar="PATH", help="write the report of every recipe in the store as Markdown to PATH")
    _add_schedulerflag_names(p)


def _cmd_reproduce(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    import json

    from lstmlab.reproduce import doc, recipes, report, submit

    if args.doc:
        text, count = doc.markdown(store)
        Path(args.doc).write_text(text, encoding="utf-8")
        print(f"wrote {args.doc} ({count} reports)", file=out)
        return 0
    if args.list:
        for r in recipes.RECIPES.values():
            print(f"{r.id:<22} {r.paper} {r.section}: {r.claim}", file=out)
        return 0
    if not args.recipe:
        raise UsageError(f"reproduce: expected a recipe ID, one of {', '.join(recipes.RECIPES)} (or --list)")
    seeds = args.seeds
    if seeds is not None:
        seeds = value_from_text("int", seeds)
    if args.report:
        if seeds is not None:
            raise UsageError("reproduce --report: --seeds is the submitted sweep's; expected no --seeds")
        rep = report.report(store, args.recipe, args.scale)
        print(json.dumps(rep.to_dict(), indent=1) if args.json else _printable_lines(rep.text()), file=out)
        return 0
    if args.json:
        raise UsageError("reproduce --json: expected --report with it")
    spec = submit.sweep_spec(args.recipe, args.scale, seeds)
    url = store.url.render_as_string(hide_password=False)
    done = sweeps.submit_sweep(spec, store_url=url, scheduler=args.scheduler)
    total = sum(len(v) for v in done.values())
    print(f"sweep {spec.name}: {total} runs: {len(done['submitted'])} submitted, {len(done['resubmitted'])} "
          f"resubmitted (lost), {len(done['present'])} already there", file=out)
    out.flush()
    if not (args.wait or _local(args)):
        return 0
    ids = [i for v in done.values() for i in v]
    bar = ProgressBar(len(ids), err, enabled=not args.quiet)
    try:
        for k, run_id in enumerate(ids, 1):
            jobs.wait(run_id, store_url=url)
            bar(k)
    except KeyboardInterrupt:
        bar.close()
        print("stopping the recipe's runs", file=err)
        for run_id in ids:
            jobs.stop(run_id, store_url=url)
        return 130
    bar.close()
    print(_printable_lines(report.report(store, args.recipe, args.scale).text()), file=out)
    return 0


def _printable_lines(text: str) -> str:
    return "\n".join(_printable(line) for line in text.split("\n"))


_COMMANDS = {"run": _cmd_run, "submit": _cmd_submit, "sweep": _cmd_sweep, "stop": _cmd_stop,
             "resubmit": _cmd_resubmit, "ls": _cmd_ls, "show": _cmd_show, "sweeps": _cmd_sweeps,
             "export": _cmd_export, "rm": _cmd_rm, "rename": _cmd_rename, "tag": _cmd_tag,
             "reproduce": _cmd_reproduce}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    debug = bool(os.environ.get("LSTMLAB_DEBUG"))
    try:
        configure_worker(warm="off")  # the kernels a command needs load at its first pass
        args = build_parser().parse_args(argv)
        with RunStore(args.db) as store:
            code = _COMMANDS[args.command](args, store, out, err)
        out.flush()  # here, so that a reader gone away (``| head``) is met below, not at the interpreter's exit
        return code

    except BrokenPipeError:  # the reader of the output went away: stop quietly, as other command-line tools do
        if out is sys.stdout:  # the interpreter's last flush at exit would fail again, noisily
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return int(128 + signal.SIGPIPE)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except UsageError as e:
        if debug:
            raise
        return _fail(err, str(e), 2)
    except ValueError as e:  # RunConfig and argument validation: the user's input
        if debug:
            raise
        return _fail(err, str(e), 2)
    except KeyError as e:
        if debug:
            raise
        return _fail(err, str(e.args[0]) if e.args else "not found", 1)
    except (StoreError, PermissionError, jobs.JobError) as e:  # messages written for the user, passwords hidden
        if debug:
            raise
        return _fail(err, str(e), 1)
    except (OSError, SQLAlchemyError) as e:
        if debug:
            raise
        return _fail(err, f"{type(e).__name__}: {e}", 1)
    finally:
        jobs.shutdown()


def _fail(err: TextIO, message: str, code: int) -> int:
    line = " ".join(message.split("\n", 1)[0].split()) or "failed"
    print(f"{PROG}: error: {line}", file=err)
    return code


# ---- summary and tables ---------------------------------------------------------------------------------

def _print_summary(run: Any, out: TextIO, indent: str = "") -> None:
    s = summary(run)
    status = s["status"] + (f" ({_printable(s['message'])})" if s["message"] else "")
    lines = [
        f"status       {status}",
        f"steps        {s['steps_done']} of {run.config.steps}",
        f"train loss   {s['train_loss']:.4g} (last step)",
        f"eval loss    {s['eval_loss']:.4g} vs baseline {s['baseline']:.4g}"
        + (f" ({s['eval_loss'] / s['baseline']:.1%} of it)" if s["baseline"] > 0 and math.isfinite(s["eval_loss"]) else ""),
        f"eval {s['metric_name']:<7} {s['metric']:.4g}"
        + (f" (chance {s['chance_metric']:.4g})" if math.isfinite(s["chance_metric"]) else ""),
        f"wall time    {s['wall_time']:.2f} s",
    ]
    for layer, (first, r0, last, r1) in s["flow_ratio"].items():
        lines.append(f"error flow   |dL/dh_1|/|dL/dh_T| layer {layer}: {r0:.3g} at step {first} -> {r1:.3g} at step {last}")
    for line in lines:
        print(indent + line, file=out)


def format_runs(df: Any, full_ids: bool = False) -> str:
    """Fixed-width text table of ``RunStore.list()`` rows."""
    view = df.assign(
        id=df["id"] if full_ids else df["id"].str[:8],
        name=df["name"].map(lambda v: _printable(_clip(v, 24))),
        tags=df["tags"].map(lambda v: _printable(_clip(v, 24))),
        created=df["created_at"].map(_when),
        wall=df["wall_time"].map(lambda v: f"{v:.1f}s"),
        lr=df["lr"].map(lambda v: f"{v:g}"),
        progress=df["step"].astype(str) + "/" + df["steps"].astype(str),
    )
    cols = {"id": "id", "name": "name", "status": "status", "progress": "step", "cell": "cell", "task": "task", "seq_len": "T",
            "hidden_size": "H", "layers": "L", "optimizer": "opt", "lr": "lr", "steps": "steps", "seed": "seed",
            "created": "created", "wall": "wall", "tags": "tags"}
    return view[list(cols)].rename(columns=cols).to_string(index=False)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _printable(text: str) -> str:
    """Replace control characters so stored text cannot drive the terminal."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


# ---- progress and interrupt -----------------------------------------------------------------------------

class ProgressBar:
    """Progress on a stream: a redrawn carriage-return bar on a terminal, a line every 10% otherwise.

    Called by ``train`` as ``progress(step, ...)`` or ``progress(info)`` with a ``step`` entry; extra
    values (a loss) are shown when present.
    """

    def __init__(self, total: int, stream: TextIO, enabled: bool = True, width: int = 30) -> None:
        self.total = max(int(total), 1)
        self.stream = stream
        self.enabled = enabled
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._drawn = False

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if not self.enabled:
            return
        step, loss = _progress_values(args, kwargs)
        if step is None:
            return
        frac = min(max(step / self.total, 0.0), 1.0)
        loss_text = f" loss {loss:.4g}" if loss is not None else ""
        elapsed = time.perf_counter() - self.start
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw < 0.1 and step < self.total:
                return
            self._last_draw = now
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {frac:4.0%} {step}/{self.total}{loss_text} {elapsed:.1f}s ")
            self._drawn = True
        else:
            decile = int(frac * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(f"{PROG}: {frac:4.0%} step {step}/{self.total}{loss_text} {elapsed:.1f}s\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _progress_values(args: tuple, kwargs: dict) -> tuple[int | None, float | None]:
    """(step, loss) from ``progress(done, total, metrics)`` or a dict with "step" and "loss" entries."""
    info: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, dict):
            info.update(arg)
    info.update(kwargs)
    if args and not isinstance(args[0], dict):
        info["step"] = args[0]
    try:
        step = int(info["step"]) if info.get("step") is not None else None
        loss = float(info["loss"]) if info.get("loss") is not None else None
    except (TypeError, ValueError):
        return None, None
    return step, loss


class _StopOnInterrupt:
    """First Ctrl-C asks training to stop (the run is saved as stopped); a second one aborts."""

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> bool:
        return self.interrupted

    def _handle(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def __enter__(self) -> _StopOnInterrupt:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
