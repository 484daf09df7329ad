"""Jobs on real executors: tiny configs, polling, table comparisons, and the Dask schedulers the tests run them on."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from lstmlab.jobs import executors

TINY = dict(cell="lstm", task="adding", seq_len=10, hidden_size=8, batch_size=8, eval_size=16, record_every=10)

WALL = ["wall_time"]  # the only column that differs between two trainings of one config

SCHEDULER_ENV = "LSTMLAB_TEST_SCHEDULER"


@pytest.fixture(scope="module")
def dask_scheduler():
    """The address of a Dask scheduler with 2 one-thread workers: $LSTMLAB_TEST_SCHEDULER (started by
    scripts/with_services.sh), else a LocalCluster on loopback for this module."""
    address = os.environ.get(SCHEDULER_ENV)
    if address:
        yield address
        return
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module", autouse=True)
def _shutdown_executors():
    yield
    executors.shutdown()


def assert_same_tables(got, want, rows: dict[str, int] | None = None) -> None:
    """got's tables equal want's (or their first ``rows[name]`` rows), wall_time aside."""
    for name in ("steps", "flow", "eval"):
        expected = getattr(want, name)
        if rows is not None:
            expected = expected.iloc[: rows[name]]
        a, b = getattr(got, name), expected.reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns=[c for c in WALL if c in a]),
                                      b.drop(columns=[c for c in WALL if c in b]), check_exact=True)


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def idle_scheduler():
    """The address of a real Dask scheduler with no worker: the jobs queued on it wait there. This process's
    clients of it are closed before it stops."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0") as cluster:
        yield cluster.scheduler_address
        executors.shutdown()
