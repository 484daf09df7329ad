"""Reproductions on the two executors: every recipe's quick scale as jobs on the local pool and on 2 Dask workers.

Each recipe's sweep is submitted (``lstmlab.reproduce.submit``) to a fresh SQLite store per executor and followed to
its last run's end; the two executors take turns recipe by recipe (which one goes first alternates), so that load
changes hit both alike. Reported per recipe: the runs, the wall time from the submit to the last run's end on each
executor (what a user waits for), the time while at least one of its runs ran (the compute ledger's span, as
docs/reproductions.md reports it), and each executor's verdict; the runs are the same configs, so the verdicts must
agree. The local pool has as many workers as the machine's cores (at nice 10, up to 2 engine threads each); Dask
has 2 workers of one thread each.

    python bench/bench_reproduce_executors.py
    LSTMLAB_SCHEDULER=tcp://host:8786 python bench/bench_reproduce_executors.py   # an existing cluster

Results: bench/results/reproduce_executors.json (see bench/report.py).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Results, load, machine, results_path  # noqa: E402 - after the path set-up above
from lstmlab.jobs import api as jobs  # noqa: E402
from lstmlab.jobs import executors  # noqa: E402
from lstmlab.jobs.limits import SCHEDULER_ENV  # noqa: E402
from lstmlab.reproduce import recipes, report, submit  # noqa: E402
from lstmlab.store import RunStore  # noqa: E402


def run_recipe(recipe_id: str, db: Path, scheduler: str | None, scale: str = "quick",
               settings: str | None = None) -> tuple[float, report.Report]:
    """Submit ``recipe_id`` at ``scale`` (``settings`` only, if given) to a fresh store, wait for every run: (wall
    s, its report)."""
    url = str(db)
    began = time.perf_counter()
    _, done = submit.submit(recipe_id, scale, store_url=url, scheduler=scheduler, settings=settings)
    for run_id in (i for ids in done.values() for i in ids):
        jobs.wait(run_id, store_url=url)
    wall = time.perf_counter() - began
    with RunStore(url) as store:
        return wall, report.report(store, recipe_id, scale)


def span_of(rep: report.Report) -> float | None:
    return sum(s.seconds for s in rep.spans) if rep.spans else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="only the recipes whose id contains this text")
    results_path(parser)
    args = parser.parse_args()
    res = Results("reproduce_executors", "Reproductions on the two executors", libraries=("distributed",))
    ids = [r for r in recipes.RECIPES if not args.only or args.only in r]
    compare(res, ids, "quick", "Every recipe's quick scale")
    res.save(args.results)


def compare(res: Results, ids: list[str], scale: str, what: str, settings: str | None = None,
            columns: tuple[str, ...] = (), total: bool = True, keep: Path | None = None,
            only: str | None = None) -> list[list]:
    """Run each recipe of ``ids`` at ``scale`` (``settings`` only, if given) on both executors (taking turns), or
    with ``only`` ("pool" or "dask") on that one, into a table of ``res`` whose rows lead with ``columns`` (values:
    the settings, the time, the load; the other executor's columns None), and with ``total`` a note of the sums;
    returns its rows. The stores are temporary, or with ``keep`` kept in that folder as ``<recipe>-<executor>.db``."""
    print(f"machine: {machine()}; load average at start: {load()}")
    address = os.environ.pop(SCHEDULER_ENV, None)  # the pool's jobs must not go to it
    cluster = None
    if not address and only != "pool":
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        address = cluster.scheduler_address
    table = res.table(f"{what} as jobs: wall time from the submit to the last run's end, and the "
                      "time while at least one of its runs ran, on the local pool and on 2 Dask workers",
                      ["recipe", *columns, "runs", "pool s", "Dask s", "Dask / pool", "pool, runs running s",
                       "Dask, runs running s", "verdict (pool)", "verdict (Dask)"])
    totals = {"pool": 0.0, "dask": 0.0}
    try:
        with contextlib.nullcontext(keep) if keep is not None else tempfile.TemporaryDirectory() as tmp:
            for k, rid in enumerate(ids):
                order = [(n, a) for n, a in (("pool", None), ("dask", address)) if only in (None, n)]
                measured = {}
                began, load_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load()
                for name, scheduler in (order if k % 2 == 0 else order[::-1]):
                    measured[name] = run_recipe(rid, Path(tmp) / f"{rid}-{name}.db", scheduler, scale, settings)
                    totals[name] += measured[name][0]
                (pw, prep), (dw, drep) = measured.get("pool", (None, None)), measured.get("dask", (None, None))
                runs = sum(r.seeds for r in (prep or drep).rows)
                lead = {"settings": settings or "all", "measured": began, "load at start": load_at}
                table.add(rid, *(lead[c] for c in columns), runs, pw, dw, dw / pw if pw and dw else None,
                          prep and span_of(prep), drep and span_of(drep), prep and prep.verdict,
                          drep and drep.verdict)
    finally:
        executors.shutdown()
        if cluster is not None:
            cluster.close()
    if total and only is None:
        res.note(f"All {len(ids)} recipes: {totals['pool']:.1f} s on the local pool, {totals['dask']:.1f} s on Dask "
                 f"(Dask / pool {totals['dask'] / totals['pool']:.2f}).")
    print(f"\nload average at end: {load()}")
    return table.rows


if __name__ == "__main__":
    main()
