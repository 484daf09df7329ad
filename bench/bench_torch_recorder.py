"""What recording costs a PyTorch training loop: lstmlab.torch.watch on a 2-layer nn.LSTM.

A user's loop (nn.LSTM, 2 layers, H = 128 and H = 32, T = 100, batch 64, float32, a linear head on the last output,
MSE, Adam) trains on the lab's adding problem (60 steps a run at H = 128, 400 at H = 32), in four variants
interleaved over ``--repeats`` rounds: without a recorder, with ``watch(every=10)``, with ``watch(every=1)`` and
recorded once, at step 0 (a SQLite store in a temporary folder; the time includes ``close()``, which waits for the
last recordings to be stored). Torch runs at one thread and at its default (``--torch-threads``): the recorder
computes its recordings on its own thread while torch leaves a core free, else in ``rec.step`` between steps
(``Recorder.beside``). Reported per torch threads and hidden size: the median wall time and the median CPU
time of the whole process (every thread: torch's, the recorder's, any thread spinning) of each variant, and the
extra time of the recorded ones as a percentage of the plain loop's, from medians of the same run. The target is at
most 10 % extra wall time at H = 128 with every = 10.

    python bench/bench_torch_recorder.py
    python bench/bench_torch_recorder.py --quick     # fewer steps and rounds

Results: bench/results/torch_recorder.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import Results, load, machine, results_path  # noqa: E402
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
    parser.add_argument("--quick", action="store_true", help="a third of the steps, two rounds")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the four variants (default 3)")
    parser.add_argument("--torch-threads", default=f"1,{torch.get_num_threads()}",
                        help="torch's intra-op threads, comma-separated, one measurement each (default: 1 and "
                             "torch's default here)")
    results_path(parser)
    args = parser.parse_args()
    scale, repeats = (0.3, 2) if args.quick else (1.0, args.repeats)
    results = Results("torch_recorder", "Recording a PyTorch training loop", libraries=("torch",))
    times = results.table("Median times of a training run (s): wall, and CPU of the whole process",
                          ["torch threads", "H", "steps", "plain", "every 10", "every 1", "once", "plain CPU",
                           "every 10 CPU", "every 1 CPU", "once CPU"])
    extra = results.table("Extra time of the recorded runs over the plain one (%), from the medians above",
                          ["torch threads", "H", "plain step ms", "every 10", "every 1", "once", "every 10 CPU",
                           "every 1 CPU", "once CPU"])
    for threads in dict.fromkeys(int(t) for t in args.torch_threads.split(",")):
        torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory() as store_dir:
            for H, steps in SIZES.items():
                steps = max(2, round(steps * scale))
                data = batches(steps)
                # "once": recorded at step 0 only, the recorder's cost per run (store, run row, thread, close) and
                # one recording, which a long run spreads over its steps
                variants = [loop(H, data, store_dir, None), *(loop(H, data, store_dir, e) for e in (*EVERY, steps))]
                wall, cpu = wall_and_cpu(variants, repeats)
                times.add(threads, H, steps, *wall, *cpu)
                extra.add(threads, H, 1000 * wall[0] / steps, *(100 * (t / wall[0] - 1) for t in wall[1:]),
                          *(100 * (t / cpu[0] - 1) for t in cpu[1:]))
        results.note(f"Load average after torch at {threads} thread(s): {load()}.")
    results.note(f"Machine: {machine()}.")
    results.save(args.results)


if __name__ == "__main__":
    main()
