"""Reproduce the long-time-lag results of docs/performance.md (Long time lags), through the command line.

Runs each ``python -m lstmlab run ...`` command below into a run store (a
temporary one unless --db is given), then prints a markdown table of what the
store holds: final held-out loss and metric against the task's baseline, the
first recorded step at which the held-out loss fell below the target, and the
wall time.

    python bench/reproduce.py                 # all five, about 5-10 minutes on 2 cores
    python bench/reproduce.py --only adding100

Results: bench/results/reproduce.json (see bench/report.py).
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

from bench.common import Results, load, machine, results_path  # noqa: E402

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
    results_path(ap)
    args = ap.parse_args()
    res = Results("reproduce", "Long time lags")
    print(f"machine: {machine()}; load average {load()}")
    db = args.db or os.path.join(tempfile.mkdtemp(prefix="lstmlab-repro-"), "runs.db")
    names = [n for n in RUNS if not args.only or args.only in n]
    for name in names:
        cmd = f"{sys.executable} -m lstmlab --db {db} run {RUNS[name]} {COMMON} --name {name}"
        print(f"$ python -m lstmlab run {RUNS[name]} {COMMON} --name {name}", flush=True)
        subprocess.run(cmd.split(), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    from lstmlab.core.tasks import get_task
    from lstmlab.store import RunStore

    store = RunStore(db)
    table = res.table("Long time lags through the command line (H = 32, Adam 1e-2, batch 64, clipping at 1, held-out "
                      "batch of 256, recorded every 100 steps); target: held-out MSE < 0.01 (adding), accuracy "
                      "> 95 % (recall)",
                      ["run", "held-out loss", "metric", "value", "baseline loss", "target reached at step",
                       "reached after s", "wall s"])
    listed = store.list()
    for name in names:
        run = store.load(listed.loc[listed["name"] == name, "id"].iloc[0])
        task, ev = get_task(run.config), run.eval
        field, bound = TARGET[run.config.task]
        hit = ev[ev[field] < bound] if field == "loss" else ev[ev[field] > bound]
        step = seconds = None
        if len(hit):
            step = int(hit["step"].iloc[0])
            seconds = float(run.steps.loc[run.steps["step"] == step, "wall_time"].iloc[0])
        table.add(name, ev["loss"].iloc[-1], task.metric_name, ev["metric"].iloc[-1], task.baseline,
                  step if step is not None else "not reached", seconds, run.wall_time)
    res.save(args.results)


if __name__ == "__main__":
    main()
