"""The command line's start: ``python -m lstmlab ls`` on an empty store, wall time from start to exit.

Per source tree (``--tree``: give main's and this one's to measure before and after in one run), rounds in turns
(one run of each tree per round, so load changes hit all alike), after one warm-up run each (the store's schema
written, the file cache filled). Printed per tree: the median and range of the wall time, the median CPU time of the
command (user + system: what other work on a shared machine changes much less), the ratios of the medians to the
first tree's, and which of the heavy modules the command imported (numba, SciPy, training, the job executors), from
``-X importtime``.

    python bench/bench_cli.py --tree /work/main --tree . [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import load, machine  # noqa: E402

HEAVY = ("numba", "scipy", "lstmlab.training.train", "lstmlab.jobs.executors", "lstmlab.jobs.api")


def command(tree: str, db: Path, importtime: bool = False) -> tuple[list[str], dict]:
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
    flags = ["-X", "importtime"] if importtime else []
    return [sys.executable, *flags, "-m", "lstmlab", "--db", str(db), "ls"], env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def once(tree: str, db: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``ls``; the runs are one after the other, so the children's CPU time
    grows by this one's alone."""
    argv, env = command(tree, db)
    cpu, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=db.parent)
    elapsed, cpu = time.perf_counter() - t0, _children_cpu() - cpu
    if proc.returncode != 0 or proc.stdout != "no runs\n":
        raise SystemExit(f"{tree}: `lstmlab ls` failed ({proc.returncode}): {proc.stderr[-500:]}")
    return elapsed, cpu


def heavy_imports(tree: str, db: Path) -> list[str]:
    argv, env = command(tree, db, importtime=True)
    err = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=db.parent, check=True).stderr
    names = {line.rsplit("|", 1)[1].strip() for line in err.splitlines() if line.startswith("import time:")}
    return [h for h in HEAVY if h in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", help="source tree whose lstmlab to run (repeatable); default: this one")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    trees = args.tree or [str(ROOT)]
    print(f"machine: {machine()}; load average at start: {load()}", flush=True)
    times: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {tree: Path(tmp) / f"empty{i}.db" for i, tree in enumerate(trees)}  # one per tree: its own schema
        for tree in trees:
            once(tree, dbs[tree])
        for _ in range(args.rounds):
            for tree in trees:
                times[tree].append(once(tree, dbs[tree]))
        heavy = {tree: heavy_imports(tree, dbs[tree]) for tree in trees}
    wall = {tree: [w for w, _ in times[tree]] for tree in trees}
    cpu = {tree: statistics.median(c for _, c in times[tree]) for tree in trees}
    base_wall, base_cpu = statistics.median(wall[trees[0]]), cpu[trees[0]]
    print(f"\n`python -m lstmlab ls`, empty SQLite store, {args.rounds} rounds")
    print("| tree | wall s, median | min..max | / first | CPU s, median | / first | heavy modules imported |\n"
          "|---|---|---|---|---|---|---|")
    for tree in trees:
        med = statistics.median(wall[tree])
        print(f"| {tree} | {med:.2f} | {min(wall[tree]):.2f}..{max(wall[tree]):.2f} | {med / base_wall:.2f} | "
              f"{cpu[tree]:.2f} | {cpu[tree] / base_cpu:.2f} | {', '.join(heavy[tree]) or 'none'} |")
    print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    main()
