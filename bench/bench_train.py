"""Training at the engines' speed: one default training step split by part, and the default story.

- Step profile: each part of one step of the default run (LSTM, adding, T = 100, H = 32, batch 64, Adam,
  clipping at 1), timed on its own, medians, with the held-out snapshot (bptt on the eval batch of 256 and the
  flow rows) counted at its share, one in ``record_every`` steps.
- Default story: an LSTM on adding T = 100 until its held-out MSE is below 0.01 (checked at every snapshot,
  every 25 steps), then the RNN for as many steps; wall time and steps/s of both, per engine, the compiled
  one in one thread and in two (its batch's shards side by side; the same runs), ``--stories`` times each.
- Side by side: the dashboard's default study on this machine, the RNN and the LSTM trained at the same
  time in two processes (as two workers of the local pool run them), in one thread each and in two.
- Start: a new process importing the compiled engine and readying its kernels for both dtypes
  (``compiled.warm``), cold (an empty disk cache: every kernel compiled) and then with the cache filled.

    python bench/bench_train.py
    python bench/bench_train.py --quick     # 10 repeats, one story per variant

Results: bench/results/train.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Results, load, machine, median_times, results_path  # noqa: E402
from bench.floor import pass_floor  # noqa: E402
from lstmlab.core.analysis import sigma_max  # noqa: E402
from lstmlab.core.config import RunConfig  # noqa: E402
from lstmlab.core.engines import ENGINES
from lstmlab.core.model import bptt  # noqa: E402
from lstmlab.core.optim import clip_by_global_norm, l2_norm, make_optimizer  # noqa: E402
from lstmlab.core.tasks import get_task  # noqa: E402
from lstmlab.runs.records import initial_params, model_spec  # noqa: E402
from lstmlab.training.runtime import configure_worker  # noqa: E402
from lstmlab.training.train import flow_block, train

TARGET_MSE = 0.01
TARGET_S = 5.0  # the LSTM's wall time the default story should take
ROOT = Path(__file__).resolve().parents[1]
START = """
import time
t0 = time.perf_counter()
from lstmlab.core.engines import compiled
t1 = time.perf_counter()
compiled.warm()
print(t1 - t0, time.perf_counter() - t1, time.process_time())
"""


def step_profile(engine: str, repeats: int = 30, clock=time.perf_counter) -> dict[str, float]:
    """Seconds per step of each part of a default training step (wall, or CPU with ``time.thread_time``)."""
    config = RunConfig()
    task, spec = get_task(config), model_spec(config)
    params = initial_params(config, spec)
    rng = np.random.default_rng(0)
    x, y = task.sample(rng, config.batch_size)
    x_eval, y_eval = task.sample(rng, config.eval_size)
    res = bptt(spec, params, x, y, task.loss, engine=engine)
    names = sorted(params)
    opt = make_optimizer(config.optimizer, config.lr, config.momentum)
    state = opt.init(params)
    grads, _, _ = clip_by_global_norm(res.grads, config.clip)

    def snapshot():
        r = bptt(spec, params, x_eval, y_eval, task.loss, engine=engine, weight_grads=False)
        task.metric(r.y_hat, y_eval)
        flow_block(0, r, spec)

    parts = {
        "task batch": lambda: task.sample(rng, config.batch_size),
        "bptt (engine pass)": lambda: bptt(spec, params, x, y, task.loss, engine=engine),
        "metric and gradient norms": lambda: (task.metric(res.y_hat, y), math.hypot(*[l2_norm(res.grads[k])
                                                                                      for k in names])),
        "sigma_max of Wh": lambda: sigma_max(params["l0.Wh"]),
        "clipping": lambda: clip_by_global_norm(res.grads, config.clip),
        "optimiser (Adam)": lambda: opt.update(params, grads, state),
        "snapshot (eval bptt + flow rows) / record_every": snapshot,
    }
    times = dict(zip(parts, median_times(list(parts.values()), repeats, clock=clock)))
    times["snapshot (eval bptt + flow rows) / record_every"] /= config.record_every
    return times


def step_floor(repeats: int = 30) -> dict[str, float]:
    """Seconds per default training step that no engine on one thread of this machine goes below: its pass's
    floor (bench.floor: products and activations at the step's shapes) plus the held-out snapshot's (batch
    eval_size, no weight gradients) at its share of one in record_every steps."""
    config = RunConfig()
    T, H = config.seq_len, config.hidden_size
    floor = pass_floor(T, config.batch_size, H, config.dtype, repeats)
    snapshot = pass_floor(T, config.eval_size, H, config.dtype, repeats, weight_grads=False)
    floor["snapshot's products and activations / record_every"] = sum(snapshot.values()) / config.record_every
    return floor


SIDE = """
import math, sys, time
from lstmlab.training.runtime import configure_worker
configure_worker(threads=int(sys.argv[2]))
from lstmlab.core.config import RunConfig
from lstmlab.training.train import train
latest = {"eval_loss": math.inf}
stop = (lambda: latest["eval_loss"] < %r) if sys.argv[1] == "lstm" else None
t0 = time.perf_counter()
train(RunConfig(cell=sys.argv[1], steps=int(sys.argv[3])), progress=lambda d, n, m: latest.update(m), should_stop=stop)
print(time.perf_counter() - t0)
""" % TARGET_MSE


def side_by_side(threads: int, steps: int) -> tuple[float, float]:
    """Wall seconds of the LSTM story and of ``steps`` RNN steps trained at once in two processes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen([sys.executable, "-c", SIDE, cell, str(threads), str(n)], env=env,
                              stdout=subprocess.PIPE, text=True) for cell, n in (("lstm", 3000), ("rnn", steps))]
    lstm, rnn = (float(p.communicate()[0]) for p in procs)
    return lstm, rnn


def story(engine: str) -> dict[str, float]:
    """The LSTM until held-out MSE < TARGET_MSE, then the RNN for as many steps."""
    latest = {"eval_loss": math.inf}

    def progress(done, total, metrics):
        latest.update(metrics)

    t0, c0 = time.perf_counter(), time.process_time()
    lstm = train(RunConfig(cell="lstm", steps=3000), progress=progress,
                 should_stop=lambda: latest["eval_loss"] < TARGET_MSE, engine=engine)
    t_lstm, c_lstm = time.perf_counter() - t0, time.process_time() - c0
    steps = int(lstm.steps["step"].iloc[-1])
    t0 = time.perf_counter()
    train(RunConfig(cell="rnn", steps=steps), engine=engine)
    t_rnn = time.perf_counter() - t0
    return {"steps": steps, "lstm_s": t_lstm, "lstm_cpu_s": c_lstm, "rnn_s": t_rnn,
            "final_mse": float(lstm.eval["loss"].iloc[-1])}


def start_times() -> dict[str, tuple[float, float, float, float]]:
    """(process wall s, import s, warm s, process CPU s) of a new process readying the compiled engine, with an
    empty disk cache ("cold") and then with the cache it filled ("warm cache"). On a busy machine the CPU
    seconds say what the wall times would be on an idle one."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        times = {}
        for name in ("cold", "warm cache"):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", START], env=env, capture_output=True, text=True, check=True)
            imported, warmed, cpu = map(float, out.stdout.split())
            times[name] = (time.perf_counter() - t0, imported, warmed, cpu)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--stories", type=int, default=3, help="default stories per compiled variant (medians)")
    ap.add_argument("--quick", action="store_true", help="--repeats 10 --stories 1")
    results_path(ap)
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.stories = 10, 1
    configure_worker(threads=1)
    res = Results("train", "Training")
    print(f"machine: {machine()}; load average {load()}")
    table = res.table("Start: a new process importing the compiled engine and readying every kernel for both dtypes",
                      ["compiled engine in a new process", "process wall s", "import s", "kernels ready (warm) s",
                       "process CPU s"])
    for name, (wall, imported, warmed, cpu) in start_times().items():
        table.add(name, wall, imported, warmed, cpu)
    profiles = {e: step_profile(e, args.repeats) for e in ENGINES}
    profiles["compiled CPU"] = step_profile("compiled", args.repeats, clock=time.thread_time)
    configure_worker(threads=2)
    profiles["compiled, 2 threads"] = step_profile("compiled", args.repeats)
    configure_worker(threads=1)
    table = res.table(f"One default training step (LSTM, adding T = 100, H = 32, batch 64, float64) by part, "
                      f"medians of {args.repeats}, ms (\"CPU\": thread CPU time, one thread)",
                      ["part of a default training step", *(f"{e} ms" for e in profiles)])
    for part in profiles[ENGINES[0]]:
        table.add(part, *(p[part] * 1e3 for p in profiles.values()))
    table.add("total", *(sum(p.values()) * 1e3 for p in profiles.values()))
    floor = step_floor(args.repeats)
    table = res.table("The step's floor on one thread: each part timed alone at the step's shapes (bench/floor.py)",
                      ["part", "ms"])
    for part, t in floor.items():
        table.add(part, t * 1e3)
    table.add("floor of a step", sum(floor.values()) * 1e3)
    table = res.table(f"Default story: the LSTM until its held-out MSE < {TARGET_MSE:g} (checked every 25 steps), "
                      f"then the RNN as many steps; compiled medians of {args.stories}",
                      ["engine", "threads", "LSTM steps", "LSTM held-out MSE", "LSTM wall s", "LSTM wall s, each run",
                       "LSTM CPU s", "LSTM steps/s", "RNN wall s", "RNN steps/s"])
    for e, threads, n in (("compiled", 1, args.stories), ("compiled", 2, args.stories), ("reference", 1, 1)):
        configure_worker(threads=threads)
        runs = [story(e) for _ in range(n)]
        s = sorted(runs, key=lambda r: r["lstm_s"])[len(runs) // 2]
        if e == "compiled" and threads == 1:
            floor_s = sum(floor.values()) * s["steps"]
            res.note(f"The floor of the compiled one-thread story's {s['steps']} LSTM steps: {floor_s:.1f} s; "
                     f"the target of {TARGET_S:g} s needs {TARGET_S / s['steps'] * 1e3:.1f} ms a step.")
        every = ", ".join(f"{r['lstm_s']:.1f}" for r in runs)
        table.add(e, threads, s["steps"], s["final_mse"], s["lstm_s"], every, s["lstm_cpu_s"],
                  s["steps"] / s["lstm_s"], s["rnn_s"], s["steps"] / s["rnn_s"])
    configure_worker(threads=1)
    table = res.table("Side by side: the dashboard's default study, the RNN and the LSTM trained at once in two "
                      "processes (as two workers of the local pool run them)",
                      ["threads each", "LSTM wall s", "RNN wall s"])
    for threads in (1, 2):
        lstm, rnn = side_by_side(threads, s["steps"])
        table.add(threads, lstm, rnn)
    print(f"\nload average at the end: {load()}")
    res.save(args.results)


if __name__ == "__main__":
    main()
