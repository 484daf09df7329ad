"""The Error flow page's default study over several seeds: does the LSTM solve the adding problem at T = 100 while
the RNN stays at the baseline, and when does the LSTM's first-step error recover?

Trains the default study (lstmlab.views.settings, page "flow") for each seed, with --steps and --record-every overriding
the defaults to try other choices, on a spawn process pool (one BLAS thread per worker), and keeps the runs in a
SQLite store so a second call only reads them. Prints, per seed and cell: the wall time, the held-out loss at the end
against the baseline, the first-step ratio ||dL/dh_1|| / ||dL/dh_T|| at the last recording, and the collapse and
recovery found by lstmlab.core.analysis.recovery. A benchmark and a measurement, not a test.

    python bench/default_study.py [--seeds 0,1,2,3] [--steps N] [--record-every N] [--weight-scale W] [--db PATH]
                                  [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmlab.core import analysis
from lstmlab.store import RunStore  # noqa: E402
from lstmlab.training.runtime import configure_worker  # noqa: E402
from lstmlab.training.train import train  # noqa: E402
from lstmlab.views import settings  # noqa: E402 - after the path set-up above


def study_configs(seed: int, steps: int | None, record_every: int | None, weight_scale: float | None = None) -> list:
    """The default study's configs for one seed, with steps, record_every and the weight scale overridden when
    given (the Why page's button opens the default study at its w)."""
    values = settings.defaults("flow")
    values["seed"] = seed
    if weight_scale is not None:
        values["ws"] = weight_scale
    if steps is not None:
        values["steps"] = steps
    configs = settings.study(values).configs
    return [c.replace(record_every=record_every) if record_every else c for c in configs]


def _train_and_save(config, db: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    run = train(config)
    RunStore(db).save(run)
    return run.run_id, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--record-every", type=int, default=None)
    p.add_argument("--weight-scale", type=float, default=None)
    p.add_argument("--db", default=str(ROOT / "lstmlab-data" / "default_study.db"))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load {os.getloadavg()[0]:.2f}")
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    store = RunStore(args.db)
    configs = [c for s in seeds for c in study_configs(s, args.steps, args.record_every, args.weight_scale)]
    todo = [c for c in configs if not store.find(c, status="finished")]
    t0 = time.perf_counter()
    if todo:
        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=configure_worker) as pool:
            for c, (_, wall) in zip(todo, pool.map(_train_and_save, todo, [args.db] * len(todo))):
                print(f"trained {c.cell} seed {c.seed}: {wall:.1f} s", flush=True)
        print(f"all {len(todo)} runs on {args.workers} workers: {time.perf_counter() - t0:.1f} s wall")
    c0 = configs[0]
    print(f"\nstudy: {c0.task} T={c0.seq_len} H={c0.hidden_size} w={c0.weight_scale:g} batch {c0.batch_size} "
          f"steps {c0.steps} "
          f"record_every {c0.record_every} eval_size {c0.eval_size}")
    print("seed cell  wall_s  eval_loss  baseline  last_ratio  collapse(step: ratio)  recovery(step: ratio)  "
          "left_baseline_step")
    for c in configs:
        run = store.load(store.find(c, status="finished")[0])
        baseline = analysis.task_info(c)["baseline"]
        last = int(run.flow["step"].max())
        rec = analysis.recovery(run.flow, run.eval, baseline)
        collapse = f"{rec.collapse_step}: {rec.collapse_ratio:.2g}" if rec else "-"
        recovered = f"{rec.recovery_step}: {rec.recovery_ratio:.2g}" if rec and rec.recovery_step else "-"
        left = rec.left_baseline_step if rec else "-"
        print(f"{c.seed:>4} {c.cell:<5} {run.wall_time:6.1f}  {run.eval['loss'].iloc[-1]:9.4f}  {baseline:8.4f}  "
              f"{analysis.flow_ratio(run.flow, last, 0):10.2e}  {collapse:>21}  {recovered:>21}  {left}")


if __name__ == "__main__":
    main()
