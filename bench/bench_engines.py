"""One LSTM forward + BPTT pass with the error-flow capture: lstmlab's engines against PyTorch.

Per shape, all timed in turns in this process (medians of the repeats; each ratio from the medians of the
same row):

- ``compiled``, ``reference``: lstmlab's engines (one BLAS thread, as runtime.configure_worker sets); the
  compiled pass also in CPU time (one thread), the figure a busy machine distorts least;
- ``fused``: torch ``nn.LSTM`` forward + ``backward()`` (its default threads), no capture;
- ``capture``: a torch ``LSTMCell`` loop with ``retain_grad()`` on every h_t and c_t, which is what a user
  writes to get the histories lstmlab records.

Torch gets lstmlab's own weights through ``torch_interop.to_state_dict`` (its default init drives the float32
T = 1000 backward into denormals, 5x slower, which would flatter lstmlab). The script also measures this
machine's matrix-product speed (GFLOP/s, one thread) and the matmul work of a pass, giving the fastest a pass
could be at the speed of big products (the "limit" column), and the "floor": the pass's own products and
activations timed alone at its shapes on one thread (bench.floor).

    python bench/bench_engines.py            # the grid T in {100, 1000} x H in {32, 64, 128, 256} x {f64, f32}
    python bench/bench_engines.py --quick    # T = 100 only

Results: bench/results/engines.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Results, load, machine, median_times, results_path  # noqa: E402
from bench.floor import pass_floor  # noqa: E402
from lstmlab.core.model import bptt
from lstmlab.core.params import init_params  # noqa: E402
from lstmlab.core.spec import ModelSpec
from lstmlab.core.torch_interop import to_state_dict  # noqa: E402
from lstmlab.training.runtime import configure_worker  # noqa: E402

B, I, O = 32, 2, 1


def gflops(dtype: str, n: int = 1024, repeats: int = 5) -> float:
    """numpy's matrix-product speed, one thread, on (n, n) operands, per second of CPU time (what the machine
    can do, however busy)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    with threadpool_limits(1, user_api="blas"):
        t = median_times([lambda: a @ a], repeats, warmup=1, clock=time.thread_time)[0]
    return 2 * n**3 / t / 1e9


def pass_flops(T: int, H: int) -> float:
    """Matmul work of an LSTM pass: per step h Wh forward, da Wh^T backward, and dWh's share (8 B H^2 each)."""
    return 3 * T * 8 * B * H * H


def torch_fused(spec, params, x, y):
    sd = to_state_dict(spec, params, rnn_prefix="", head_prefix="head.")
    lstm = torch.nn.LSTM(I, spec.hidden_size).to(getattr(torch, spec.dtype))
    lstm.load_state_dict({k: v for k, v in sd.items() if not k.startswith("head.")})
    W, b = sd["head.weight"].requires_grad_(), sd["head.bias"].requires_grad_()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        lstm.zero_grad(set_to_none=True)
        W.grad = b.grad = None
        out, _ = lstm(xt)
        torch.nn.functional.mse_loss(torch.nn.functional.linear(out[-1], W, b), yt).backward()

    return step


def torch_capture(spec, params, x, y):
    sd = to_state_dict(spec, params, rnn_prefix="", head_prefix="head.")
    cell = torch.nn.LSTMCell(I, spec.hidden_size).to(getattr(torch, spec.dtype))
    cell.load_state_dict({k[: -len("_l0")]: v for k, v in sd.items() if k.endswith("_l0")})
    W, b = sd["head.weight"].requires_grad_(), sd["head.bias"].requires_grad_()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    T, H = x.shape[0], spec.hidden_size

    def step():
        cell.zero_grad(set_to_none=True)
        W.grad = b.grad = None
        h = torch.zeros(B, H, dtype=xt.dtype)
        c = torch.zeros(B, H, dtype=xt.dtype)
        hs, cs = [], []
        for t in range(T):
            h, c = cell(xt[t], (h, c))
            h.retain_grad()
            c.retain_grad()
            hs.append(h)
            cs.append(c)
        torch.nn.functional.mse_loss(torch.nn.functional.linear(h, W, b), yt).backward()
        return [v.grad for v in hs], [v.grad for v in cs]

    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="T = 100 only")
    ap.add_argument("--repeats", type=int, default=7)
    results_path(ap)
    args = ap.parse_args()
    configure_worker()
    res = Results("engines", "Engines", libraries=("torch",))
    print(f"machine: {machine()}; load average {load()}")
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    peak = {d: gflops(d) for d in ("float64", "float32")}
    res.note(f"One thread multiplies 1024² matrices at {peak['float64']:.0f} GFLOP/s in float64 and "
             f"{peak['float32']:.0f} GFLOP/s in float32 (CPU time); lstmlab runs one BLAS thread, PyTorch its "
             f"default {torch.get_num_threads()}.")
    table = res.table(f"One LSTM pass, forward + BPTT, batch {B}: medians of {args.repeats} (of "
                      f"{max(3, args.repeats // 2)} above T·H = 100·256), ms; ratios from the same row",
                      ["T", "H", "dtype", "compiled ms", "reference ms", "torch fused ms", "torch capture ms",
                       "reference / compiled", "fused / compiled", "capture / compiled", "matmul limit ms",
                       "floor ms", "compiled CPU ms"])
    for T in (100,) if args.quick else (100, 1000):
        for H in (32, 64, 128, 256):
            for dtype in ("float64", "float32"):
                rng = np.random.default_rng(0)
                spec = ModelSpec(cell="lstm", input_size=I, hidden_size=H, output_size=O, dtype=dtype)
                params = init_params(spec, seed=0)
                x = rng.standard_normal((T, B, I)).astype(dtype)
                y = rng.standard_normal((B, O)).astype(dtype)
                repeats = args.repeats if T * H <= 100 * 256 else max(3, args.repeats // 2)
                fns = [lambda: bptt(spec, params, x, y, "mse", engine="compiled"),
                       lambda: bptt(spec, params, x, y, "mse", engine="reference"),
                       torch_fused(spec, params, x, y), torch_capture(spec, params, x, y)]
                comp, ref, fused, capture = median_times(fns, repeats)
                cpu = median_times(fns[:1], repeats, warmup=0, clock=time.thread_time)[0]
                limit = pass_flops(T, H) / (peak[dtype] * 1e9)
                floor = sum(pass_floor(T, B, H, dtype, repeats).values())
                table.add(T, H, dtype, comp * 1e3, ref * 1e3, fused * 1e3, capture * 1e3, ref / comp,
                          fused / comp, capture / comp, limit * 1e3, floor * 1e3, cpu * 1e3)
    print(f"\nload average at the end: {load()}")
    res.save(args.results)


if __name__ == "__main__":
    main()
