"""One forward + BPTT pass of lstmlab (with all error-flow capture) against PyTorch CPU nn.LSTM.

Both run in this process, one thread each by default (lstmlab's passes always
use one BLAS thread, see lstmlab/threads.py); the two are timed in turns, each
cell of the table is the median of several repeats, and the ratio
torch_time / lstmlab_time comes from the two medians of the same row
(> 1: lstmlab is faster).

    python bench/bench_core.py            # the full grid
    python bench/bench_core.py --quick    # T = 100 only
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from lstmlab import ModelSpec, bptt, init_params


def median_times(fns, repeats: int) -> list[float]:
    """Median wall time of each function, their runs interleaved so that load changes hit all alike."""
    for _ in range(2):  # warm-up: the first passes of a new shape grow the heap and fill the caches
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (lstmlab's passes use one BLAS thread)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"machine: {machine()}")
    print(f"numpy {np.__version__}, torch {torch.__version__} ({threads} threads)")
    print("| T | B | H | dtype | lstmlab ms | torch ms | torch / lstmlab |")
    print("|---|---|---|---|---|---|---|")
    I, O, B = 2, 1, 32
    for T in (100,) if args.quick else (100, 1000):
        for H in (32, 64, 128, 256):
            for dtype in ("float64", "float32"):
                rng = np.random.default_rng(0)
                spec = ModelSpec(cell="lstm", input_size=I, hidden_size=H, output_size=O, dtype=dtype)
                params = init_params(spec, seed=0)
                x = rng.standard_normal((T, B, I)).astype(dtype)
                y = rng.standard_normal((B, O)).astype(dtype)
                repeats = args.repeats if T * H <= 100 * 256 else max(3, args.repeats // 2)

                tdt = getattr(torch, dtype)
                lstm = torch.nn.LSTM(I, H).to(tdt)
                head = torch.nn.Linear(H, O).to(tdt)
                xt, yt = torch.from_numpy(x), torch.from_numpy(y)

                def torch_step():
                    lstm.zero_grad(set_to_none=True)
                    head.zero_grad(set_to_none=True)
                    out, _ = lstm(xt)
                    loss = torch.nn.functional.mse_loss(head(out[-1]), yt)
                    loss.backward()

                t_lab, t_torch = median_times([lambda: bptt(spec, params, x, y, "mse"), torch_step], repeats)
                print(f"| {T} | {B} | {H} | {dtype} | {t_lab * 1e3:.2f} | {t_torch * 1e3:.2f} | {t_torch / t_lab:.2f} |", flush=True)


if __name__ == "__main__":
    main()
