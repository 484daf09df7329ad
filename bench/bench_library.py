"""Library calls against configured processes: ``bptt`` from a plain script, as fast as from the CLI or a worker?

A plain script or notebook calls ``bptt`` without :func:`lstmlab.training.runtime.configure_worker`, so every BLAS
library in it keeps its default threads. Per source tree (``--tree``, this one by default; give main's to
measure before and after in one run) and with or without ``import torch`` first, child processes time an LSTM
pass (T = 100, batch 32, medians) in two kinds of process, in turns over ``--rounds`` rounds:

- ``plain``: the library as a script uses it; each pass timed also inside ``threadpool_limits(1, "blas")``
  (interleaved, the limit set outside the timer): "BLAS at one thread", in the same process;
- ``configured``: after ``configure_worker()`` (what the CLI, the dashboard and the job workers run).

Each ratio is taken from medians of the same run: plain / configured (the target) and plain / one thread, in
wall time, and plain / configured in the CPU time of the whole process (every thread: BLAS threads spinning
count), which a busy machine distorts less.

    python bench/bench_library.py
    python bench/bench_library.py --tree /work/main --tree .     # before and after

Results: bench/results/library.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--child" not in sys.argv:  # a child imports the lstmlab of its tree (PYTHONPATH), never this one's
    sys.path.insert(0, str(ROOT))
    from bench.common import Results, git_commit, load, machine  # noqa: E402

T, B, I, O = 100, 32, 2, 1
# (H, dtype, layers, head, input size): the first five are one-layer adding-problem shapes; the last has big
# products outside the kernels (head at every step, a second layer's inject and its input gradients).
SHAPES = [(32, "float64", 1, "last", I), (64, "float64", 1, "last", I), (64, "float32", 1, "last", I),
          (128, "float64", 1, "last", I), (256, "float32", 1, "last", I), (128, "float64", 2, "all", 32)]


def child(mode: str, with_torch: bool, repeats: int) -> dict:
    """Times of every shape's pass in this process: {"H dtype L head I": {"default": [...], "one_thread": [...]}}."""
    if with_torch:
        import torch  # noqa: F401
    import numpy as np
    from threadpoolctl import threadpool_limits

    import lstmlab
    from lstmlab.core.model import bptt
    from lstmlab.core.params import init_params
    from lstmlab.core.spec import ModelSpec
    from lstmlab.training.runtime import configure_worker

    assert Path(lstmlab.__file__).resolve().is_relative_to(Path.cwd().resolve()), lstmlab.__file__

    if mode == "configured":
        configure_worker(warm="now")
    out = {}
    for H, dtype, layers, head, inputs in SHAPES:
        rng = np.random.default_rng(0)
        spec = ModelSpec(cell="lstm", input_size=inputs, hidden_size=H, output_size=O, layers=layers, head=head,
                         dtype=dtype)
        params = init_params(spec, seed=0)
        x = rng.standard_normal((T, B, inputs)).astype(dtype)
        y = rng.standard_normal((B, O) if head == "last" else (T, B, O)).astype(dtype)
        times = {"default": []} if mode == "configured" else {"default": [], "one_thread": []}
        for r in range(repeats + 2):  # two warm-up rounds: compile or load, grow the heap
            for kind, ts in times.items():
                limit = threadpool_limits(1, user_api="blas") if kind == "one_thread" else None
                t0, c0 = time.perf_counter(), time.process_time()
                bptt(spec, params, x, y, "mse")
                dt = (time.perf_counter() - t0, time.process_time() - c0)
                if limit is not None:
                    limit.restore_original_limits()
                if r >= 2:
                    ts.append(dt)
        out[f"{H} {dtype} {layers} {head} {inputs}"] = times
    return out


def run_child(tree: str, mode: str, with_torch: bool, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--repeats", str(repeats)]
    if with_torch:
        cmd.append("--torch")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", help="source tree whose lstmlab the children import (repeatable)")
    ap.add_argument("--repeats", type=int, default=7, help="timed passes per shape and child")
    ap.add_argument("--rounds", type=int, default=2, help="children per tree, torch and mode, in turns")
    ap.add_argument("--child", choices=("plain", "configured"), help=argparse.SUPPRESS)
    ap.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--results", help="write the results file here instead of bench/results/library.json")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.torch, args.repeats)))
        return
    trees = args.tree or [str(ROOT)]
    results = Results("library", "Library calls", libraries=("torch", "threadpoolctl"))
    print(f"machine: {machine()}; load average {load()}")
    runs: dict = {}
    for _ in range(args.rounds):
        for tree in trees:
            for with_torch in (False, True):
                for mode in ("plain", "configured"):
                    res = run_child(tree, mode, with_torch, args.repeats)
                    for shape, times in res.items():
                        for kind, ts in times.items():
                            runs.setdefault((tree, with_torch, shape, mode, kind), []).extend(ts)
    for tree in trees:
        commit = git_commit(Path(tree))
        for with_torch in (False, True):
            where = "this tree" if Path(tree).resolve() == ROOT else f"{tree} at {commit}"
            table = results.table(f"An LSTM pass (T = {T}, batch {B}) from {where}, "
                              f"{'torch imported' if with_torch else 'no torch'}: medians of "
                              f"{args.rounds * args.repeats} passes, ms",
                              ["H", "dtype", "layers, head, inputs", "plain ms", "configured ms",
                               "plain, BLAS at one thread ms", "plain / configured", "plain / one thread",
                               "CPU: plain / configured"])
            for H, dtype, layers, head, inputs in SHAPES:
                shape = f"{H} {dtype} {layers} {head} {inputs}"
                (plain, conf, one), (cplain, cconf, _) = (
                    [statistics.median(t[i] for t in runs[(tree, with_torch, shape, m, k)]) for m, k in
                     (("plain", "default"), ("configured", "default"), ("plain", "one_thread"))] for i in (0, 1))
                table.add(H, dtype, f"{layers}, {head}, {inputs}", plain * 1e3, conf * 1e3, one * 1e3,
                          plain / conf, plain / one, cplain / cconf)
    print(f"\nload average at the end: {load()}")
    results.save(args.results)


if __name__ == "__main__":
    main()
