"""Online training speed: updates per second of ``train`` at batch 1 and T = 100 on the compiled engine.

HS97 trains online, one sequence per update, and its adding problem at T = 100 needs about 74,000 of them: at that
batch size the Python around each pass counts as much as the pass. Measured here, per update:

- the pass alone: ``bptt`` on one HS97 adding sequence (T = 100 .. 110), with and without its input checks;
- ``train`` on the lab's adding problem (T = 100) and on HS97's (``hs97-adding``, T = 100, stopping criterion
  "train" as HS97's ST3 reads it) with a steps row for every update (``log_every`` 1) and one per 100;
- with ``--before TREE``, the lab's adding problem trained by that tree's code (e.g. the main branch), in
  processes interleaved with this tree's, so both see the same load.

LSTM, H = 8, plain SGD, BLAS at one thread (``configure_worker``); each figure is the median over ``--rounds``
fresh processes of one run of ``--updates`` updates (after a short warm-up run), in CPU time of the process (and
wall time: on a shared machine mostly the wait for a core). Results: bench/results/online.json (see
bench/report.py).

    python bench/bench_online.py --before /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Results, results_path  # noqa: E402

HS97_SEQUENCES = 74_000  # HS97 Table 7, T = 100: sequences until its stopping criterion (mean of 10 trials)
BASE = dict(cell="lstm", hidden_size=8, batch_size=1, optimizer="sgd", lr=0.1, eval_size=64)
CASES = {  # name -> (RunConfig fields, measured in the --before tree too)
    "adding, every update recorded": (dict(task="adding", seq_len=100), True),
    "adding, log_every 100": (dict(task="adding", seq_len=100, log_every=100), False),
    "hs97-adding + ST3, every update recorded": (dict(task="hs97-adding", seq_len=100, stop="train",
                                                      stop_error=0.01), False),
    "hs97-adding + ST3, log_every 100": (dict(task="hs97-adding", seq_len=100, stop="train", stop_error=0.01,
                                              log_every=100), False),
}
CHILD = r"""
import json, statistics, sys, time
import numpy as np
from lstmlab.training.runtime import configure_worker
configure_worker()
from lstmlab.core.config import RunConfig
from lstmlab.training.train import train
cases, updates, passes = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
out = {}
for name, fields in cases.items():
    config = RunConfig(**fields, steps=updates, record_every=updates)
    train(config.replace(steps=100, record_every=100))
    t0, c0 = time.perf_counter(), time.process_time()
    train(config)
    out[name] = ((time.perf_counter() - t0) / updates, (time.process_time() - c0) / updates)
if passes:
    from lstmlab.core.model import bptt
    from lstmlab.core.tasks import get_task
    from lstmlab.runs.records import initial_params, model_spec
    config = RunConfig(**cases[next(n for n in cases if "hs97" in n)])
    task = get_task(config)
    spec = model_spec(config, task)
    params = initial_params(config, spec)
    batch = task.draw(np.random.default_rng(0), 1)
    for check in (True, False):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(updates):
            bptt(spec, params, batch.x, batch.y, loss=task.loss, mask=batch.mask, check=check)
        out[f"bptt pass{'' if check else ', check=False'}"] = ((time.perf_counter() - t0) / updates,
                                                               (time.process_time() - c0) / updates)
print(json.dumps(out))
"""


def measure(tree: Path, cases: dict, updates: int, passes: bool) -> dict[str, list[float]]:
    """(wall, CPU) seconds per update of each case in a fresh process importing ``tree``'s lstmlab."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases), str(updates), "1" if passes else "0"],
                         env=env, cwd=str(tree), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="another lstmlab tree to measure the lab's adding problem with")
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    results_path(ap)
    args = ap.parse_args()
    results = Results("online", "Online training")
    ours = {name: {**BASE, **fields} for name, (fields, _) in CASES.items()}
    theirs = {name: {**BASE, **fields} for name, (fields, both) in CASES.items() if both}
    runs: dict[str, list[list[float]]] = {}
    for _ in range(args.rounds):
        if args.before is not None:
            for name, s in measure(args.before, theirs, args.updates, False).items():
                runs.setdefault(f"{name} (before)", []).append(s)
        for name, s in measure(ROOT, ours, args.updates, True).items():
            runs.setdefault(name, []).append(s)
    wall = {name: statistics.median(w for w, _ in v) for name, v in runs.items()}
    cpu = {name: statistics.median(c for _, c in v) for name, v in runs.items()}
    results.note(f"Median over {args.rounds} processes of one run of {args.updates:,} updates each"
                 + (f"; before = {args.before}" if args.before else "")
                 + ". CPU time is the process's: on a loaded machine wall time is mostly waiting for a core.")
    per_update = results.table("Per update (batch 1, T = 100, compiled engine, LSTM H = 8, SGD)",
                               ["what", "CPU µs per update", "updates per CPU second", "wall µs per update"])
    for name in runs:
        per_update.add(name, cpu[name] * 1e6, 1 / cpu[name], wall[name] * 1e6)
    if args.before is not None:
        before = "adding, every update recorded (before)"
        ratios = results.table("CPU time per update against the --before tree's", ["what", "ratio"])
        for name in ("adding, every update recorded", "adding, log_every 100"):
            ratios.add(name, cpu[name] / cpu[before])
    pass_s = cpu["bptt pass, check=False"]
    cost = results.table(f"HS97's adding problem at T = 100: {HS97_SEQUENCES:,} sequences (Table 7)",
                         ["what", "CPU µs per update besides the pass", "CPU minutes for the sequences"])
    for name in ("hs97-adding + ST3, every update recorded", "hs97-adding + ST3, log_every 100"):
        cost.add(name, (cpu[name] - pass_s) * 1e6, HS97_SEQUENCES * cpu[name] / 60)
    results.save(args.results)


if __name__ == "__main__":
    main()
