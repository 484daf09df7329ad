"""What recording costs a PyTorch training loop: lstmlab.torch.watch on a 2-layer nn.LSTM.

A user's loop (nn.LSTM, 2 layers, H = 128 and H = 32, T = 100, batch 64, float32, a linear head on the last output,
MSE, Adam) trains on the lab's adding problem (60 steps a run at H = 128, 400 at H = 32), in four variants
interleaved over ``--repeats`` rounds: without a recorder, with ``watch(every=10)``, with ``watch(every=1)`` and
recorded once, at step 0 (a SQLite store in a temporary folder; the time includes ``close()``, which waits for the
last recordings to be stored), torch at ``--torch-threads`` (1 by default) and the recorder's own thread beside
it. Reported per hidden size: the median wall time of each variant and the extra time of the recorded ones as a ratio to
the plain loop, and the same for the CPU time of the whole process (the work recording adds, which load from others
moves less), from medians of the same run. Writes bench/results/torch_recorder.json (the machine and its load before
and after named).

    python bench/bench_torch_recorder.py
    python bench/bench_torch_recorder.py --scale 0.3 --repeats 2     # quicker
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import load, machine  # noqa: E402
from lstmlab.core.config import RunConfig  # noqa: E402
from lstmlab.core.tasks import get_task  # noqa: E402
from lstmlab.torch import watch  # noqa: E402

T, B, LAYERS = 100, 64, 2
SIZES = {128: 60, 32: 400}  # H -> steps per run: about 10 s of plain training each on a quiet 2-core machine
EVERY = (10, 1)


def batches(steps: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The adding problem's batches (batch-first float32 tensors), drawn once and shared by every variant."""
    task = get_task(RunConfig(task="adding", seq_len=T, dtype="float32"))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        x, y = task.sample(rng, B)  # (T, B, 2), (B, 1)
        out.append((torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2))), torch.from_numpy(y)))
    return out


def loop(H: int, data, store_dir: str, every: int | None):
    """One training run of ``len(data)`` steps from the same initial weights, recorded every ``every`` steps (None:
    not recorded)."""
    def run() -> None:
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(2, H, num_layers=LAYERS, batch_first=True)
        head = torch.nn.Linear(H, 1)
        opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
        rec = None if every is None else watch(lstm, store=f"{store_dir}/runs.db", every=every, name=f"bench H={H}")
        for x, y in data:
            out, _ = lstm(x)
            loss = torch.nn.functional.mse_loss(head(out[:, -1]), y)
            loss.backward()
            if rec is not None:
                rec.step(loss)
            opt.step()
            opt.zero_grad()
        if rec is not None:
            rec.close()
            assert not rec.missing, rec.missing
    return run


def wall_and_cpu(fns, repeats: int, warmup: int = 1) -> tuple[list[float], list[float]]:
    """Median wall time and median CPU time of the whole process (every thread: torch's, the recorder's, any BLAS
    thread spinning) of each function, their runs interleaved so that load changes hit all alike. The CPU time is
    the work a variant adds, which other work on a shared machine moves much less than the wall time."""
    for _ in range(warmup):  # the first recording in a process loads the engine's kernels
        for fn in fns:
            fn()
    wall, cpu = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for fn, w, c in zip(fns, wall, cpu):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            w.append(time.perf_counter() - w0)
            c.append(time.process_time() - c0)
    return [statistics.median(w) for w in wall], [statistics.median(c) for c in cpu]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the steps per run (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the four variants (default 5)")
    parser.add_argument("--torch-threads", default="1",
                        help="torch's intra-op threads, comma-separated, one measurement each (default 1: with two, "
                             "torch's OpenMP threads wait actively, and on a busy 2-core machine a step took 5-10 "
                             "times as long, which swamps what is measured)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "torch_recorder.json"))
    args = parser.parse_args()
    result = {"benchmark": "bench/bench_torch_recorder.py", "machine": machine(), "load_before": load(),
              "torch": torch.__version__,
              "setup": {"module": f"torch.nn.LSTM(2, H, num_layers={LAYERS}, batch_first=True)", "T": T, "batch": B,
                        "dtype": "float32", "optimizer": "Adam", "repeats": args.repeats,
                        "store": "SQLite file in a temporary folder"},
              "torch_threads": {}}
    started = time.time()
    for threads in (int(t) for t in args.torch_threads.split(",")):
        torch.set_num_threads(threads)
        result["torch_threads"][str(threads)] = measure(args, threads)
        result[f"load_after_{threads}_threads"] = load()
    result["wall_s"] = round(time.time() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"machine: {result['machine']}; load before {result['load_before']}; written to {out}")


def measure(args, threads: int) -> dict:
    """Every size's variants with torch at ``threads`` threads: {"H=...": {...}}."""
    sizes = {}
    with tempfile.TemporaryDirectory() as store_dir:
        for H, steps in SIZES.items():
            steps = max(2, round(steps * args.scale))
            data = batches(steps)
            # "once": recorded at step 0 only, the recorder's cost per run (store, run row, thread, close) and one
            # recording, which a long run spreads over its steps
            variants = [loop(H, data, store_dir, None), *(loop(H, data, store_dir, e) for e in (*EVERY, steps))]
            (plain, *recorded), (plain_cpu, *recorded_cpu) = wall_and_cpu(variants, args.repeats)
            names = [*(f"every_{e}" for e in EVERY), "once"]
            sizes[f"H={H}"] = {
                "steps_per_run": steps, "plain_s": round(plain, 4), "plain_step_ms": round(1000 * plain / steps, 2),
                **{f"{n}_s": round(t, 4) for n, t in zip(names, recorded)},
                **{f"{n}_extra": round(t / plain - 1, 4) for n, t in zip(names, recorded)},
                "plain_cpu_s": round(plain_cpu, 4),
                **{f"{n}_cpu_extra": round(t / plain_cpu - 1, 4) for n, t in zip(names, recorded_cpu)},
            }
            print(f"torch threads {threads}, H={H}: " + json.dumps(sizes[f"H={H}"]), flush=True)
    return sizes


if __name__ == "__main__":
    main()
