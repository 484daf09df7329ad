"""Reproduce the long-time-lag results the README reports, through the command line.

Runs each ``python -m lstmlab run ...`` command below into a run store (a
temporary one unless --db is given), then prints a markdown table of what the
store holds: final held-out loss and metric against the task's baseline, the
first recorded step at which the held-out loss fell below the target, and the
wall time.

    python bench/reproduce.py                 # all five, about 5-10 minutes on 2 cores
    python bench/reproduce.py --only adding100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMON = "--record-every 100 -q"
RUNS = {
    "adding100-lstm": "--cell lstm --task adding --seq-len 100 --steps 2000",
    "adding100-rnn": "--cell rnn --task adding --seq-len 100 --steps 2000",
    "recall100-lstm": "--cell lstm --task recall --seq-len 100 --steps 2000",
    "recall100-rnn": "--cell rnn --task recall --seq-len 100 --steps 2000",
    "adding400-lstm": "--cell lstm --task adding --seq-len 400 --steps 3000",
}
TARGET = {"adding": ("loss", 0.01), "recall": ("metric", 0.95)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="run store to write (default: a temporary file)")
    ap.add_argument("--only", help="run only the names containing this text")
    args = ap.parse_args()
    db = args.db or os.path.join(tempfile.mkdtemp(prefix="lstmlab-repro-"), "runs.db")
    names = [n for n in RUNS if not args.only or args.only in n]
    for name in names:
        cmd = f"{sys.executable} -m lstmlab --db {db} run {RUNS[name]} {COMMON} --name {name}"
        print(f"$ python -m lstmlab run {RUNS[name]} {COMMON} --name {name}", flush=True)
        subprocess.run(cmd.split(), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    from lstmlab.core.tasks import get_task
    from lstmlab.store import RunStore

    store = RunStore(db)
    print("\n| run | held-out loss | metric | baseline loss | target reached at step (s) | wall time |")
    print("|---|---|---|---|---|---|")
    listed = store.list()
    for name in names:
        run = store.load(listed.loc[listed["name"] == name, "id"].iloc[0])
        task, ev = get_task(run.config), run.eval
        field, bound = TARGET[run.config.task]
        hit = ev[ev[field] < bound] if field == "loss" else ev[ev[field] > bound]
        if len(hit):
            step = int(hit["step"].iloc[0])
            seconds = float(run.steps.loc[run.steps["step"] == step, "wall_time"].iloc[0])
            reached = f"{step} ({seconds:.0f} s)"
        else:
            reached = "not reached"
        metric = f"{task.metric_name} {ev['metric'].iloc[-1]:.3g}"
        print(f"| {name} | {ev['loss'].iloc[-1]:.3g} | {metric} | {task.baseline:.3g} | {reached} | "
              f"{run.wall_time:.0f} s |")


if __name__ == "__main__":
    main()
