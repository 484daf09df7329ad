"""One forward + BPTT pass of every cell, full and truncated gradient, on the compiled engine.

Per cell and gradient, a one-layer network (T = 100, B = 32, H in {32, 64}, float64, one BLAS thread as
runtime.configure_worker sets) on random data, every pass timed in turns in this process; medians of the repeats
in CPU time of the calling thread (a pass runs in one thread at B = 32, and CPU time is what a busy shared machine
distorts least). Ratios are to the tanh RNN's (plain RNNs) or the LSTM's (the rest) full pass of the same row.

    python bench/bench_cells.py                  # this checkout
    python bench/bench_cells.py --tree PATH      # the lstmlab of another checkout (the cells it has), to compare
                                                 # kernels before and after a change; run both in one session
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

T, B, I, O = 100, 32, 2, 1
CELLS = ("rnn", "rnn_relu", "rnn_logistic", "lstm", "lstm97", "gru")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose lstmlab is timed (default: this one)")
    parser.add_argument("--repeats", type=int, default=41)
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree))
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
    from bench.common import load, machine, median_times

    lstmlab = importlib.import_module("lstmlab")
    configure = importlib.import_module("lstmlab.training.runtime").configure_worker
    configure()
    have = [c for c in CELLS if c in lstmlab.GATES]
    spec_fields = lstmlab.ModelSpec.__dataclass_fields__
    gradients = ("full", "truncated") if "gradient" in spec_fields else ("full",)
    print(f"machine: {machine()}; load before: {load()}")
    print(f"lstmlab from {args.tree}; T={T}, B={B}, float64, compiled engine, median of {args.repeats} "
          "(CPU ms of the calling thread)")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((T, B, I)), rng.standard_normal((B, O))
    for H in (32, 64):
        runs, names = [], []
        for cell in have:
            for gradient in gradients:
                extra = {"gradient": gradient} if "gradient" in spec_fields else {}
                spec = lstmlab.ModelSpec(cell=cell, input_size=I, hidden_size=H, output_size=O, **extra)
                params = lstmlab.init_params(spec, weight_scale=1.0, seed=0)
                runs.append(lambda spec=spec, params=params: lstmlab.bptt(spec, params, x, y, engine="compiled"))
                names.append((cell, gradient))
        times = dict(zip(names, median_times(runs, args.repeats, warmup=3, clock=time.thread_time)))
        print(f"\nH={H}")
        print(f"{'cell':<14}{'gradient':<11}{'ms':>8}{'ratio':>8}")
        for (cell, gradient), t in times.items():
            base = times[("rnn" if cell.startswith("rnn") else "lstm", "full")]
            print(f"{cell:<14}{gradient:<11}{1e3 * t:>8.3f}{t / base:>8.2f}")
    print(f"\nload after: {load()}")


if __name__ == "__main__":
    main()
