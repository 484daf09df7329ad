"""Commands on runs: ``run`` (train one config in this process and save it), ``ls``, ``show``, ``export``, ``rm``,
``rename``, ``tag``.

Each command is ``cmd_NAME(args, store, out, err) -> exit code``. Only ``run`` trains: it alone imports training and
sets the process up for it (``configure_worker``), when it runs.
"""
from __future__ import annotations

import argparse
from typing import Any, TextIO

from lstmlab.cli.output import format_runs, print_summary, printable, when
from lstmlab.cli.parser import UsageError, config_of
from lstmlab.cli.progress import ProgressBar, StopOnInterrupt
from lstmlab.store import FILTER_FIELDS, check_labels
from lstmlab.views import export


def cmd_run(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    from lstmlab.training.runtime import configure_worker
    from lstmlab.training.train import train

    configure_worker(warm="off")  # the kernels the run needs load at its first pass
    config = config_of(args)
    check_labels(args.name, args.tag)  # before training, not when the trained run is saved
    if args.reuse:
        found = store.find(config, status="finished")
        if found:
            run = store.load(found[0])
            print(f"reusing stored run {run.run_id} (same config key {config.key})", file=out)
            print_summary(run, out)
            return 0

    if args.threads is not None:
        configure_worker(warm="off", threads=args.threads)
    bar = ProgressBar(config.steps, err, enabled=not args.quiet)
    with StopOnInterrupt() as stopper:
        run = train(config, progress=bar, should_stop=stopper)
    bar.close()
    run.name = args.name
    run.tags = tuple(args.tag)
    run_id = store.save(run)
    print(f"run {run_id}", file=out)
    print_summary(run, out)
    return 130 if stopper.interrupted else 0


def cmd_ls(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
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


def cmd_show(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    run = store.load(args.run)
    print(f"run        {run.run_id}", file=out)
    print(f"name       {printable(run.name)}", file=out)
    print(f"tags       {printable(', '.join(run.tags))}", file=out)
    print(f"created    {when(run.created_at)}", file=out)
    print(f"config key {run.config.key}", file=out)
    print("config", file=out)
    for name, value in run.config.to_dict().items():
        if name == "series" and value is not None:
            head = ", ".join(f"{v:g}" for v in value[:5])
            value = f"{len(value)} values: {head}{', ...' if len(value) > 5 else ''}"
        print(f"  {name:<13} {printable(str(value))}", file=out)
    print("summary", file=out)
    print_summary(run, out, indent="  ")
    return 0


def cmd_export(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    runs = [store.load(r) for r in args.runs]
    if args.output is None:
        if args.table == "all":
            raise UsageError("export --table all needs -o PATH (a .zip file or a directory)")
        out.write(export.table_csv(runs, args.table))
        return 0
    for path in export.write_export(runs, args.table, args.output):
        print(f"wrote {path}", file=err)
    return 0


def cmd_rm(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    full = [store.resolve(r) for r in args.runs]  # all ids must resolve before anything is deleted
    for run_id in dict.fromkeys(full):
        store.delete(run_id)
        print(f"deleted {run_id}", file=out)
    return 0


def cmd_rename(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    print(f"renamed {store.rename(args.run, args.name)}", file=out)
    return 0


def cmd_tag(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    print(f"tagged {store.tag(args.run, args.tags)}", file=out)
    return 0
