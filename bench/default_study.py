"""The Error flow page's default study over several seeds: does the LSTM solve the adding problem at T = 100 while
the RNN stays at the baseline, and when does the LSTM's first-step error recover?

Trains the default study (lstmlab.views.settings, page "flow") for each seed, with --steps and --record-every overriding
the defaults to try other choices, on a spawn process pool (one BLAS thread per worker), and keeps the runs in a
SQLite store so a second call only reads them. Prints, per seed and cell: the wall time, the held-out loss at the end
against the baseline, the first-step ratio ||dL/dh_1|| / ||dL/dh_T|| at the last recording, and the collapse and
recovery found by lstmlab.core.analysis.recovery. A benchmark and a measurement, not a test.

    python bench/default_study.py [--seeds 0,1,2,3] [--steps N] [--record-every N] [--weight-scale W] [--db PATH]
                                  [--workers 2]

Results: bench/results/default_study.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Results, load, machine, results_path  # noqa: E402
from lstmlab.core import analysis  # noqa: E402
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
    results_path(p)
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    res = Results("default_study", "Default study")
    print(f"machine: {machine()}; load average {load()}")
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
    table = res.table(f"The default study: {c0.task} T = {c0.seq_len}, H = {c0.hidden_size}, w = {c0.weight_scale:g}, "
                      f"batch {c0.batch_size}, {c0.steps} steps, recorded every {c0.record_every} on a held-out batch "
                      f"of {c0.eval_size}; ratio = ||dL/dh_1|| / ||dL/dh_T||",
                      ["seed", "cell", "wall s", "held-out loss", "baseline", "ratio at the end", "collapse step",
                       "collapse ratio", "recovery step", "recovery ratio", "left the baseline at step"])
    for c in configs:
        run = store.load(store.find(c, status="finished")[0])
        baseline = analysis.task_info(c)["baseline"]
        last = int(run.flow["step"].max())
        rec = analysis.recovery(run.flow, run.eval, baseline)
        recovered = rec is not None and rec.recovery_step is not None
        table.add(c.seed, c.cell, run.wall_time, run.eval["loss"].iloc[-1], baseline,
                  analysis.flow_ratio(run.flow, last, 0), rec.collapse_step if rec else None,
                  rec.collapse_ratio if rec else None, rec.recovery_step if recovered else None,
                  rec.recovery_ratio if recovered else None, rec.left_baseline_step if rec else None)
    res.save(args.results)


if __name__ == "__main__":
    main()
