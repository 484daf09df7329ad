"""One forward + BPTT pass of lstmlab (with all error-flow capture) against PyTorch CPU nn.LSTM.

Both run in this process with the same thread count; each cell of the table is
the median of several repeats, and the ratio torch_time / lstmlab_time is
computed from the two medians of the same row (> 1: lstmlab is faster).

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


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
    ap.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: as configured)")
    args = ap.parse_args()
    import torch

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
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
                t_lab = median_time(lambda: bptt(spec, params, x, y, "mse"), repeats)

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

                t_torch = median_time(torch_step, repeats)
                print(f"| {T} | {B} | {H} | {dtype} | {t_lab * 1e3:.2f} | {t_torch * 1e3:.2f} | {t_torch / t_lab:.2f} |", flush=True)


if __name__ == "__main__":
    main()
