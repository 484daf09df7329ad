"""The ``lstmlab`` argument parser: one subcommand per command, one flag per ``RunConfig`` field.

Building it reads names only (RunConfig's fields, the store's filters, the statuses, the sweep fields): no command's
modules, so ``lstmlab ls`` and ``--help`` load no training, no executor and no compiler.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
from pathlib import Path
from typing import Any

from lstmlab.core.config import FIELD_INFO, RECORDER_FIELDS, RunConfig, check_field, value_from_text
from lstmlab.jobs.limits import SCHEDULER_ENV
from lstmlab.jobs.sweeps import SWEEP_FIELDS
from lstmlab.runs.status import STATUSES
from lstmlab.store import FILTER_FIELDS, LOST_AFTER_S
from lstmlab.training.runtime import THREADS_VARIABLE
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
    parse = field_parser(field)

    def check(text: str) -> Any:
        try:
            return check_field(field.name, parse(text))
        except ValueError as e:
            expected = str(e).split(": expected", 1)[-1]
            raise UsageError(f"ls {flag_names(field.name)[0]} {text}: expected{expected}") from None

    return check


def field_parser(field: dataclasses.Field) -> Any:
    """The value parser of a RunConfig field's flag (by its declared kind)."""
    kind = FIELD_INFO[field.name].kind
    return _series if kind == "series" else functools.partial(value_from_text, kind)


def typed_value(field: str, text: str) -> Any:
    """``text`` parsed as RunConfig field ``field``'s flag parses it."""
    return field_parser({f.name: f for f in dataclasses.fields(RunConfig)}[field])(text)


def config_of(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of a ``run`` or ``submit`` command line: its config flags over RunConfig's defaults."""
    return RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)})


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
    """One flag per ``RunConfig`` field (``--seq-len``, alias ``--seq_len``) but the recorders' (``RECORDER_FIELDS``);
    unset flags keep the default. The flag's type and help come from the field's declaration (``FIELD_INFO``).
    ``lists``: each flag takes comma-separated values, kept as text (a sweep's grid); no ``--series``."""
    group = parser.add_argument_group("sweep grid (RunConfig fields, comma-separated values)" if lists
                                      else "run config (RunConfig fields)")
    for field in dataclasses.fields(RunConfig):
        if (lists and field.name not in SWEEP_FIELDS) or field.name in RECORDER_FIELDS:
            continue
        choices = FIELD_INFO[field.name].choices
        metavar = "{" + ",".join(choices) + "}" if choices else field.name.upper()
        group.add_argument(
            *flag_names(field.name), dest=field.name, type=str if lists else field_parser(field),
            default=argparse.SUPPRESS, metavar=f"{metavar}[,...]" if lists else metavar,
            help=config_flag_help(field.name, field.default, lists),
        )


def _add_scheduler_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"Dask scheduler, e.g. tcp://host:8786 (default: ${SCHEDULER_ENV}; unset: a local "
                             "process pool that lives as long as this command, which therefore follows its jobs to "
                             "the end, --wait or not: to queue jobs and return, name a scheduler; if the command is "
                             f"killed, its queued jobs read as lost after {LOST_AFTER_S:g} s and can be resubmitted)")


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
    _add_scheduler_flag(p)

    p = sub.add_parser("sweep", parents=[db_parent],
                       help="queue a named grid of configs x seeds (re-run it to resume: only missing or lost runs "
                            "are submitted)")
    add_config_flags(p, lists=True)
    p.add_argument("--seeds", type=_positive_int, default=None, metavar="N", help="seeds 0..N-1 for every grid point")
    p.add_argument("--name", required=True, help="name of the sweep (its runs are tagged sweep:NAME)")
    p.add_argument("--wait", action="store_true", help="follow the sweep to its end with a progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_scheduler_flag(p)

    p = sub.add_parser("stop", parents=[db_parent], help="stop a queued or running job (it keeps what it recorded)")
    p.add_argument("run", metavar="RUN", help="run id or unique id prefix")

    p = sub.add_parser("resubmit", parents=[db_parent], help="queue a lost, stopped or failed run again")
    p.add_argument("run", metavar="RUN", help="run id or unique id prefix")
    p.add_argument("--wait", action="store_true", help="follow the job to its end with a progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_scheduler_flag(p)

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

    from lstmlab.cli import reproduce  # its handler's imports are inside it: the parser stays light

    reproduce.add_parser(sub, db_parent, _add_scheduler_flag)
    return parser
