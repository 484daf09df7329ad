"""Reproductions at paper scale on the two executors: the named recipes' paper scale (or some of its settings) as
jobs on the local pool and on 2 Dask workers, taking turns recipe by recipe as bench_reproduce_executors.py does its
quick scales (the same measures: the wall time from the submit to the last run's end, the time while at least one
run ran, both verdicts). A recipe at paper scale takes from minutes to hours on each executor, so the recipes are
named, and each invocation's rows join those of earlier ones in the results file (a recipe and its settings measured
again replace their row); each row says when it was measured and the load then. A recipe too long for one sitting
is measured one executor at a time (``--executor``): the second half completes the first's row.

    python bench/bench_reproduce_paper.py --only hs97-temporal-order,bsf94-latch
    python bench/bench_reproduce_paper.py --only asb16-copy --settings T=50,T=100
    python bench/bench_reproduce_paper.py --only ljh15-irnn-adding --keep runs/   # keep the runs' stores
    python bench/bench_reproduce_paper.py --only ljh15-irnn-adding --settings T=150 --executor dask   # one half

Results: bench/results/reproduce_paper.json (see bench/report.py).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_reproduce_executors import compare  # noqa: E402 - after the path set-up above
from bench.common import RESULTS, Results, results_path  # noqa: E402
from lstmlab.reproduce import recipes  # noqa: E402

LEAD = ("settings", "measured", "load at start")


def earlier_rows(path: Path) -> list[list]:
    """The rows of an earlier results file of this benchmark (none if there is none)."""
    if not path.exists():
        return []
    tables = json.loads(path.read_text())["tables"]
    return [row for t in tables for row in t["rows"]]


def half(text: str, executor: str) -> str:
    """An executor's part of a "measured" or "load at start" cell: "A (pool); B (Dask)" when the halves were
    measured apart, else the whole cell."""
    parts = dict((name, value) for value, name in re.findall(r"(.+?) \((pool|Dask)\)(?:; |$)", text))
    return parts.get(executor, text)


def joined(old: list | None, new: list, columns: list[str], only: str | None) -> list:
    """A row measured on ``only`` one executor, with the other's columns from the earlier row of its recipe and
    settings (if that has them), each half's time and load named; a row of both executors as it is."""
    if only is None or old is None:
        return new
    mine, other = ("pool", "Dask") if only == "pool" else ("Dask", "pool")
    at = {c: i for i, c in enumerate(columns)}
    if old[at[f"{other} s"]] is None:
        return new
    row = list(new)
    for c in (f"{other} s", f"{other}, runs running s", f"verdict ({other})"):
        row[at[c]] = old[at[c]]
    row[at["Dask / pool"]] = row[at["Dask s"]] / row[at["pool s"]]
    for c in ("measured", "load at start"):
        halves = {mine: new[at[c]], other: half(old[at[c]], other)}
        row[at[c]] = f"{halves['pool']} (pool); {halves['Dask']} (Dask)"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", required=True, help="the recipes' ids, comma-separated")
    parser.add_argument("--settings", help="only these settings of each recipe's paper scale, comma-separated")
    parser.add_argument("--executor", choices=("pool", "dask"),
                        help="measure on this executor only (a row measured on the other joins it); default both")
    parser.add_argument("--keep", help="keep the runs' stores in this folder (new or empty) as "
                        "<recipe>-pool.db and <recipe>-dask.db, to examine or report them")
    results_path(parser)
    args = parser.parse_args()
    keep = None
    if args.keep is not None:
        keep = Path(args.keep)
        if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
            parser.error(f"--keep {args.keep}: expected a new or empty folder")
        keep.mkdir(parents=True, exist_ok=True)
    ids = args.only.split(",")
    unknown = [i for i in ids if i not in recipes.RECIPES]
    if unknown:
        parser.error(f"--only {args.only}: {', '.join(unknown)} is no recipe; expected ids from "
                     f"{', '.join(recipes.RECIPES)}")
    if args.settings is not None:
        for i in ids:
            try:
                recipes.check_settings(recipes.RECIPES[i], "paper", args.settings)
            except ValueError as e:
                parser.error(f"--settings: {e}")
    res = Results("reproduce_paper", "Reproductions at paper scale on the two executors", libraries=("distributed",))
    new = compare(res, ids, "paper", "The recipes' paper scale", args.settings, LEAD, total=False, keep=keep,
                  only=args.executor)
    path = Path(args.results) if args.results else RESULTS / "reproduce_paper.json"
    earlier = {(r[0], r[1]): r for r in earlier_rows(path)}  # (recipe, settings)
    new = [joined(earlier.get((r[0], r[1])), r, res.tables[0].columns, args.executor) for r in new]
    measured = {(r[0], r[1]) for r in new}
    kept = [r for key, r in earlier.items() if key not in measured]
    res.tables[0].rows = sorted(kept + new, key=lambda r: (list(recipes.RECIPES).index(r[0]), r[1]))
    res.note("Rows measured at different times: each row's own time and load; the machine is this file's.")
    res.save(path)


if __name__ == "__main__":
    main()
