"""``reproduce``: the papers' experiments as named recipes (lstmlab.reproduce): list them, submit one as the sweep
``repro:ID:SCALE`` (resumable), report it against the paper's numbers, or write every report as Markdown."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from lstmlab.cli.jobs import is_local, uses_executors
from lstmlab.cli.output import printable
from lstmlab.cli.parser import UsageError
from lstmlab.cli.progress import ProgressBar
from lstmlab.core.config import value_from_text


def add_parser(sub: Any, db_parent: argparse.ArgumentParser, add_scheduler_flag: Any) -> None:
    p = sub.add_parser("reproduce", parents=[db_parent],
                       help="run a paper's experiment as a named recipe (a sweep repro:ID:SCALE), or report it")
    p.add_argument("recipe", nargs="?", metavar="ID", help="the recipe (--list names them)")
    p.add_argument("--list", action="store_true", help="list the recipes with their claims")
    p.add_argument("--scale", default="quick", metavar="SCALE",
                   help="quick (seconds to a minute of CPU) or paper (the published settings); default: quick")
    p.add_argument("--seeds", default=None, metavar="N", help="seeds per model and setting (default: the scale's)")
    p.add_argument("--settings", default=None, metavar="S[,S...]",
                   help="submit only these settings of the scale (names as --report shows them, e.g. T=50,T=100)")
    p.add_argument("--report", action="store_true", help="print the report of the runs in the store, submit nothing")
    p.add_argument("--json", action="store_true", help="--report: as JSON")
    p.add_argument("--wait", action="store_true", help="follow the runs to their end, then print the report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--doc", metavar="PATH", help="write the report of every recipe in the store as Markdown to PATH")
    p.add_argument("--timings", metavar="FILE",
                   help="--doc: add the wall times at paper scale on the two executors from this results file of "
                        "bench/bench_reproduce_paper.py")
    p.add_argument("--update", action="store_true",
                   help="--doc: keep the sections of the page at PATH whose recipe and scale this store lacks "
                        "(and its wall times, without --timings)")
    add_scheduler_flag(p)


def _printable_lines(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))


def _write_doc(args: argparse.Namespace, store: Any, out: TextIO) -> int:
    """--doc PATH [--timings FILE] [--update]: the page written whole (a temporary file renamed over PATH)."""
    from lstmlab.reproduce import doc

    path = Path(args.doc)
    earlier = None
    if args.update:
        try:
            earlier = doc.sections_of(path.read_text(encoding="utf-8"), path)
        except OSError as e:
            raise UsageError(f"reproduce --update: --doc {args.doc!r} cannot be read ({e.strerror}); expected the "
                             "page to update") from None
    text, written, kept = doc.markdown(store, doc.read_timings(args.timings) if args.timings else None, earlier)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    print(f"wrote {args.doc} ({written} reports{f', {kept} sections kept' if args.update else ''})", file=out)
    return 0


@uses_executors
def cmd_reproduce(args: argparse.Namespace, store: Any, out: TextIO, err: TextIO) -> int:
    from lstmlab.jobs import api as jobs
    from lstmlab.reproduce import recipes, report, submit

    for flag in ("timings", "update"):
        if getattr(args, flag) and not args.doc:
            raise UsageError(f"reproduce --{flag}: expected --doc with it")
    if args.doc:
        return _write_doc(args, store, out)
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
        if seeds is not None or args.settings is not None:
            raise UsageError("reproduce --report: --seeds and --settings are the submitted sweep's; expected neither")
        rep = report.report(store, args.recipe, args.scale)
        print(json.dumps(rep.to_dict(), indent=1) if args.json else _printable_lines(rep.text()), file=out)
        return 0
    if args.json:
        raise UsageError("reproduce --json: expected --report with it")
    url = store.url.render_as_string(hide_password=False)
    spec, done = submit.submit(args.recipe, args.scale, seeds, store_url=url, scheduler=args.scheduler,
                               settings=args.settings)
    total = sum(len(v) for v in done.values())
    print(f"sweep {spec.name}: {total} runs: {len(done['submitted'])} submitted, {len(done['resubmitted'])} "
          f"resubmitted (lost), {len(done['present'])} already there", file=out)
    out.flush()
    if not (args.wait or is_local(args)):
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
