"""Jobs: per-job overhead on the local process pool and on Dask, and sweep throughput on 2 Dask workers.

- Overhead: wall time from ``jobs.submit`` to the job's first record (step 0) readable in the store, for a tiny
  config, split where the run turns "running" (before: the run row written, the hand-over, a worker taking it
  and marking it running; after: the worker training up to its first record and writing it). Warm: every worker
  of the executor has run a job before (the dashboard starts its pool's workers when it starts); beside it the
  time the same first record takes in this process (``train`` to its first ``on_record``), so the difference is
  what the job machinery costs. Cold: the first job of a fresh local pool (what a ``submit`` command pays: its
  pool's worker starts, imports lstmlab and loads the compiled kernels).
- Throughput: the same configs (distinct seeds) trained one after the other in this process, then as jobs on a
  Dask cluster of 2 one-thread workers; ratio = serial time / Dask time, from the medians of the rounds, serial
  and Dask rounds interleaved so that load changes hit both alike. Beside them, what the machine itself allows:
  the same configs split over 2 plain processes (each trains its half in a loop, as the serial baseline does, with
  no store, scheduler or job around it), and the CPU time the serial baseline used, so that a speed-up short of
  2× can be told apart into the machine's two cores not scaling and the job machinery's cost. The serial
  baseline is measured twice: in memory only, and with each run saved to a store when it has trained (what
  ``lstmlab run`` does), since the jobs' output is the same runs in a store.

    python bench/bench_jobs.py                  # LocalCluster on loopback
    python bench/bench_jobs.py --quick          # fewer repeats and runs
    LSTMLAB_SCHEDULER=tcp://host:8786 python bench/bench_jobs.py   # an existing cluster

Results: bench/results/jobs.json (see bench/report.py).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Results, Table, load, machine, results_path  # noqa: E402 - after the path set-up above
from lstmlab.core.config import RunConfig  # noqa: E402
from lstmlab.jobs import api as jobs  # noqa: E402
from lstmlab.jobs import executors  # noqa: E402
from lstmlab.jobs.limits import SCHEDULER_ENV
from lstmlab.store import RunStore  # noqa: E402
from lstmlab.training.runtime import configure_worker  # noqa: E402
from lstmlab.training.train import train  # noqa: E402

TINY = RunConfig(cell="lstm", task="adding", seq_len=20, hidden_size=8, batch_size=8, eval_size=16, steps=1)
SWEEP = RunConfig(cell="lstm", task="adding", seq_len=50, hidden_size=32, batch_size=32, eval_size=64, steps=100,
                  record_every=25)
POLL_S = 0.002


def first_record_s(config: RunConfig, store: RunStore, scheduler: str | None) -> tuple[float, float]:
    """(seconds from submit to the run reading "running", to its first record readable in the store)."""
    url = store.url.render_as_string(hide_password=False)
    t0 = time.perf_counter()
    run_id = jobs.submit(config, store_url=url, scheduler=scheduler)
    running = None
    while (p := store.progress(run_id))["records"] < 1:
        if running is None and p["status"] != "queued":
            running = time.perf_counter() - t0
        time.sleep(POLL_S)
    first = time.perf_counter() - t0
    jobs.wait(run_id, store_url=url)
    return first if running is None else running, first


def in_process_first_record_s(config: RunConfig) -> float:
    t0 = time.perf_counter()
    seen = []

    class First(Exception):
        pass

    def on_record(record):
        seen.append(time.perf_counter() - t0)
        raise First

    try:
        train(config, on_record=on_record)
    except First:
        pass
    return seen[0]


def warm(store: RunStore, scheduler: str | None, seed: int) -> None:
    """Run one job on every worker of the executor at once (a worker's first job loads what it needs)."""
    url = store.url.render_as_string(hide_password=False)
    ids = [jobs.submit(TINY.replace(seed=seed + i, steps=30), store_url=url, scheduler=scheduler)
           for i in range(2 if scheduler else os.cpu_count() or 1)]
    for run_id in ids:
        jobs.wait(run_id, store_url=url)


def overhead(table: Table, scheduler: str | None, label: str, repeats: int, tmp: Path) -> None:
    store = RunStore(tmp / f"overhead-{label}.db")
    warm(store, scheduler, 900)
    times = [first_record_s(TINY.replace(seed=1000 + i), store, scheduler) for i in range(repeats)]
    local = statistics.median(in_process_first_record_s(TINY.replace(seed=i)) for i in range(repeats))
    running, first = (statistics.median(t) for t in zip(*times))
    table.add(f"{label}, warm workers", running * 1000, (first - running) * 1000, first * 1000, local * 1000,
              (first - local) * 1000)


def cold_pool(table: Table, repeats: int, tmp: Path) -> None:
    """The first job of a fresh local pool, each time in a new pool."""
    store = RunStore(tmp / "cold.db")
    times = []
    for i in range(repeats):
        executors.shutdown()
        times.append(first_record_s(TINY.replace(seed=2000 + i), store, None))
    running, first = (statistics.median(t) for t in zip(*times))
    table.add("local pool, its first job", running * 1000, (first - running) * 1000, first * 1000, None, None)


def train_all(configs: list[RunConfig], db: str | None = None) -> tuple[float, float]:
    """(wall, CPU seconds) to train ``configs`` one after the other in this process, each saved to the store at
    ``db`` when it has trained (as ``lstmlab run`` does), or kept in memory only (``db`` None)."""
    configure_worker()
    store = RunStore(db) if db else None
    t0, cpu0 = time.perf_counter(), time.process_time()
    for c in configs:
        run = train(c)
        if store is not None:
            store.save(run)
    return time.perf_counter() - t0, time.process_time() - cpu0


def throughput(table: Table, scheduler: str, steps: int, runs: int, rounds: int, tmp: Path) -> None:
    configs = [SWEEP.replace(seed=s, steps=steps) for s in range(runs)]
    serial, saved, cpu, plain, dask = [], [], [], [], []
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        list(pool.map(train_all, [configs[:1], configs[1:2]]))  # each process imports and loads its kernels
        for r in range(rounds):
            wall, used = train_all(configs)
            serial.append(wall)
            cpu.append(used)
            saved.append(train_all(configs, str(tmp / f"serial-{steps}-{r}.db"))[0])
            t0 = time.perf_counter()
            list(pool.map(train_all, [configs[0::2], configs[1::2]]))
            plain.append(time.perf_counter() - t0)
            db = str(tmp / f"sweep-{steps}-{r}.db")
            t0 = time.perf_counter()
            ids = [jobs.submit(c, store_url=db, scheduler=scheduler) for c in configs]
            for run_id in ids:
                jobs.wait(run_id, store_url=db)
            dask.append(time.perf_counter() - t0)
            print(f"round {r + 1}: serial {serial[-1]:.2f} s (CPU {cpu[-1]:.2f} s), serial and saved "
                  f"{saved[-1]:.2f} s, 2 plain processes {plain[-1]:.2f} s, Dask {dask[-1]:.2f} s (load {load()})",
                  file=sys.stderr, flush=True)
    s, v, c, p, d = (statistics.median(x) for x in (serial, saved, cpu, plain, dask))
    table.add(f"{runs} × {SWEEP.cell.upper()}, T = {SWEEP.seq_len}, H = {SWEEP.hidden_size}, B = {SWEEP.batch_size}, "
              f"{steps} steps", s, c, v, p, s / p, d, s / d, v / d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", default="100,400",
                        help="training steps of the sweep's runs, one throughput row each (comma-separated)")
    parser.add_argument("--throughput-only", action="store_true", help="skip the per-job overhead")
    results_path(parser)
    args = parser.parse_args()
    repeats, runs, rounds = (5, 6, 2) if args.quick else (11, 12, 3)
    configure_worker()  # this process trains the serial baseline, as a worker would
    res = Results("jobs", "Jobs", libraries=("distributed",))
    print(f"machine: {machine()}; load average at start: {load()}")
    address = os.environ.get(SCHEDULER_ENV)
    cluster = None
    if not address:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        address = cluster.scheduler_address
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if not args.throughput_only:
                table = res.table(f"Per-job overhead: from submit to the job's first record readable in the store, "
                                  f"a tiny config, medians of {repeats} jobs (the cold row: of {max(repeats // 2, 3)})",
                                  ["executor", "submit → running ms", "running → first record ms",
                                   "submit → first record ms", "same record in process ms", "overhead ms"])
                overhead(table, None, "local pool", repeats, Path(tmp))
                overhead(table, address, "Dask", repeats, Path(tmp))
                cold_pool(table, max(repeats // 2, 3), Path(tmp))
            table = res.table(f"Sweep throughput: the same configs one after the other in this process, on 2 plain "
                              f"processes and as jobs on 2 Dask workers streaming every record into a SQLite store, "
                              f"medians of {rounds} rounds",
                              ["runs", "serial, in memory s", "serial CPU s", "serial, each run saved s",
                               "2 plain processes s", "2 plain processes: speed-up", "2 Dask workers s",
                               "Dask speed-up vs in memory", "Dask speed-up vs saved"])
            for steps in (int(n) for n in args.steps.split(",")):
                throughput(table, address, steps, runs, rounds, Path(tmp))
    finally:
        executors.shutdown()
        if cluster is not None:
            cluster.close()
    print(f"\nload average at end: {load()}")
    res.save(args.results)


if __name__ == "__main__":
    main()
