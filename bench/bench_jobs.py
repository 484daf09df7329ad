"""Jobs: per-job overhead on the local process pool and on Dask, and sweep throughput on 2 Dask workers.

- Overhead: wall time from ``jobs.submit`` to the job's first record (step 0) readable in the store, for a tiny
  config, after one warm-up job (the pool's processes and the Dask workers are up); beside it the time the
  same first record takes in this process (``train`` to its first ``on_record``), so the difference is what
  the job machinery costs.
- Throughput: the same configs (distinct seeds) trained one after the other in this process, then as jobs on a
  Dask cluster of 2 one-thread workers; ratio = serial time / Dask time, from the medians of the rounds, serial
  and Dask rounds interleaved so that load changes hit both alike.

    python bench/bench_jobs.py                  # LocalCluster on loopback
    python bench/bench_jobs.py --quick          # fewer repeats and runs
    LSTMLAB_SCHEDULER=tcp://host:8786 python bench/bench_jobs.py   # an existing cluster
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import machine  # noqa: E402 - after the path set-up above
from lstmlab import jobs  # noqa: E402
from lstmlab.config import SCHEDULER_ENV, RunConfig  # noqa: E402
from lstmlab.runtime import configure_worker  # noqa: E402
from lstmlab.store import RunStore  # noqa: E402
from lstmlab.train import train  # noqa: E402

TINY = RunConfig(cell="lstm", task="adding", seq_len=20, hidden_size=8, batch_size=8, eval_size=16, steps=1)
SWEEP = RunConfig(cell="lstm", task="adding", seq_len=50, hidden_size=32, batch_size=32, eval_size=64, steps=100,
                  record_every=25)


def first_record_s(config: RunConfig, db: str, scheduler: str | None) -> float:
    """Seconds from submit to the first record being readable in the store."""
    store = RunStore(db)
    t0 = time.perf_counter()
    run_id = jobs.submit(config, store_url=db, scheduler=scheduler)
    while store.progress(run_id)["records"] < 1:
        time.sleep(0.002)
    elapsed = time.perf_counter() - t0
    jobs.wait(run_id, store_url=db)
    store.close()
    return elapsed


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


def overhead(scheduler: str | None, label: str, repeats: int, tmp: Path) -> None:
    times = []
    for i in range(repeats + 1):
        t = first_record_s(TINY.replace(seed=1000 + i), str(tmp / f"overhead-{label}.db"), scheduler)
        if i:  # the first job starts the pool's processes / warms the workers
            times.append(t)
    local = statistics.median(in_process_first_record_s(TINY.replace(seed=i)) for i in range(repeats))
    med = statistics.median(times)
    print(f"| {label} | {med * 1000:.0f} | {local * 1000:.0f} | {(med - local) * 1000:.0f} |")


def throughput(scheduler: str, runs: int, rounds: int, tmp: Path) -> None:
    configs = [SWEEP.replace(seed=s) for s in range(runs)]
    serial, dask = [], []
    for r in range(rounds):
        t0 = time.perf_counter()
        for c in configs:
            train(c)
        serial.append(time.perf_counter() - t0)
        db = str(tmp / f"sweep-{r}.db")
        t0 = time.perf_counter()
        ids = [jobs.submit(c, store_url=db, scheduler=scheduler) for c in configs]
        for run_id in ids:
            jobs.wait(run_id, store_url=db)
        dask.append(time.perf_counter() - t0)
    s, d = statistics.median(serial), statistics.median(dask)
    print(f"| {runs} x {SWEEP.cell} T={SWEEP.seq_len} H={SWEEP.hidden_size} B={SWEEP.batch_size}, "
          f"{SWEEP.steps} steps | {s:.2f} | {d:.2f} | {s / d:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats, runs, rounds = (5, 6, 2) if args.quick else (11, 12, 3)
    configure_worker()  # this process trains the serial baseline, as a worker would
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    address = os.environ.get(SCHEDULER_ENV)
    cluster = None
    if not address:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        address = cluster.scheduler_address
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print("\n| executor | submit -> first record ms | same record in process ms | overhead ms |")
            print("|---|---|---|---|")
            overhead(None, "local pool", repeats, Path(tmp))
            overhead(address, "Dask", repeats, Path(tmp))
            print("\n| runs | serial s | 2 Dask workers s | speed-up |")
            print("|---|---|---|---|")
            throughput(address, runs, rounds, Path(tmp))
    finally:
        jobs.shutdown()
        if cluster is not None:
            cluster.close()
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
