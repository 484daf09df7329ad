"""Reproductions at paper scale on the two executors: the named recipes' paper scale as jobs on the local pool and
on 2 Dask workers, taking turns recipe by recipe as bench_reproduce_executors.py does its quick scales (the same
measures: the wall time from the submit to the last run's end, the time while at least one run ran, both verdicts).
A recipe at paper scale takes from minutes to hours on each executor, so the recipes are named.

    python bench/bench_reproduce_paper.py --only hs97-temporal-order,bsf94-latch

Results: bench/results/reproduce_paper.json (see bench/report.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_reproduce_executors import compare  # noqa: E402 - after the path set-up above
from bench.common import Results, results_path  # noqa: E402
from lstmlab.reproduce import recipes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", required=True, help="the recipes' ids, comma-separated")
    results_path(parser)
    args = parser.parse_args()
    ids = args.only.split(",")
    unknown = [i for i in ids if i not in recipes.RECIPES]
    if unknown:
        parser.error(f"--only {args.only}: {', '.join(unknown)} is no recipe; expected ids from "
                     f"{', '.join(recipes.RECIPES)}")
    res = Results("reproduce_paper", "Reproductions at paper scale on the two executors", libraries=("distributed",))
    compare(res, ids, "paper", "The recipes' paper scale")
    res.save(args.results)


if __name__ == "__main__":
    main()
