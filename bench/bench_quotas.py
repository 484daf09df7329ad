"""Quotas: what checking a user's quotas in the transaction that queues costs, and what the compute ledger adds to
a job's heartbeat, on a SQLite file and (with a URL) a PostgreSQL database.

- Queue: ``RunStore.queue`` of a new config by a signed-in user with the quota rule (``quotas.admission``: a lock on
  the user, their runs in flight and their ledger rows of the last day read in the write transaction) against the
  same call without a rule; each queued row is removed again (``discard``), so every call creates a run. The user
  holds ``--held`` finished runs and as many ledger rows of the last day (what the rule reads).
- Study: ``queue_many`` of a three-cell study with the rule against three ``queue`` calls with it.
- Beat: ``RunStore.beat`` of a running job, which brings its ledger row up to date, against the same beat with the
  ledger write left out.

Medians of interleaved rounds; ratios from one run.

    python bench/bench_quotas.py
    python bench/bench_quotas.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench

Results: bench/results/quotas.json (see bench/report.py).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Results, Table, load, machine, median_times, results_path  # noqa: E402
from lstmlab.core.config import RunConfig  # noqa: E402
from lstmlab.jobs import quotas  # noqa: E402
from lstmlab.store import Actor, RunStore, attempts, compute_table, runs_table  # noqa: E402

USER = Actor("bench@lab.example")


def prepare(store: RunStore, held: int) -> str:
    """``held`` finished runs of USER, each with a ledger row of the last day; returns a running run's id."""
    now = time.time()
    ids = [store.queue(RunConfig(seed=10_000 + i, steps=1), actor=USER)[0] for i in range(held)]
    with store.engine.begin() as conn:
        if ids:
            conn.execute(runs_table.update().where(runs_table.c.id.in_(ids)).values(status="finished"))
            conn.execute(compute_table.insert(), [
                dict(run_id=run_id, attempt=0, owner=USER.email, started_at=now - 60.0 * i, seconds=30.0,
                     ended_at=now - 60.0 * i + 30.0) for i, run_id in enumerate(ids)])
    running, _, _ = store.queue(RunConfig(seed=99_999, steps=10**6), actor=USER)
    store.start(running, 0)
    return running


def measure(table: Table, url: str, held: int, repeats: int) -> None:
    store = RunStore(url)
    running = prepare(store, held)
    rule = quotas.admission(store, USER)
    seeds = iter(range(1_000_000))

    def queue(admit) -> None:
        run_id, attempt, created = store.queue(RunConfig(seed=next(seeds), steps=1), actor=USER, admit=admit)
        assert created
        store.discard(run_id, attempt)

    def study_many() -> None:
        s = next(seeds)
        out = store.queue_many([RunConfig(cell=c, seed=s, steps=1) for c in ("rnn", "lstm", "gru")], actor=USER,
                               admit=rule)
        for run_id, attempt, _ in out:
            store.discard(run_id, attempt)

    def study_one_by_one() -> None:
        s = next(seeds)
        for c in ("rnn", "lstm", "gru"):
            run_id, attempt, _ = store.queue(RunConfig(cell=c, seed=s, steps=1), actor=USER, admit=rule)
            store.discard(run_id, attempt)

    charge = attempts.charge  # the ledger write of a beat, to put back

    def beat(ledger: bool) -> None:
        if not ledger:
            attempts.charge = lambda *a, **k: None
        try:
            store.beat(running, 0, 1)
        finally:
            attempts.charge = charge

    plain, ruled = median_times([lambda: queue(None), lambda: queue(rule)], repeats)
    many, single = median_times([study_many, study_one_by_one], repeats)
    without, with_ledger = median_times([lambda: beat(False), lambda: beat(True)], repeats)
    db = store.engine.dialect.name
    table.add(db, "queue a run: without a rule / with the quota rule", plain * 1e3, ruled * 1e3, ruled / plain)
    table.add(db, "a three-cell study with the rule: queue_many / three queue calls", many * 1e3, single * 1e3,
              single / many)
    table.add(db, "a running job's beat: without / with the ledger write", without * 1e3, with_ledger * 1e3,
              with_ledger / without)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also on this (empty) PostgreSQL database")
    parser.add_argument("--held", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=41)
    results_path(parser)
    args = parser.parse_args()
    res = Results("quotas", "Quotas", libraries=("psycopg",))
    print(machine())
    print(f"load average before: {load()}")
    table = res.table(f"What the quotas cost, {args.held} runs and ledger rows held by the user, medians of "
                      f"{args.repeats} interleaved rounds; ratio = the second / the first",
                      ["store", "call", "first ms", "second ms", "ratio"])
    with tempfile.TemporaryDirectory() as tmp:
        measure(table, str(Path(tmp) / "runs.db"), args.held, args.repeats)
    if args.postgres:
        measure(table, args.postgres, args.held, args.repeats)
    print(f"load average after: {load()}")
    res.save(args.results)


if __name__ == "__main__":
    main()
