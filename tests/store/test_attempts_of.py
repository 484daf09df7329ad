"""RunStore.attempts_of: the compute ledger's attempts of some runs, with where each run was queued and ran."""
from __future__ import annotations

import socket
import time

import pytest

from lstmlab.core.config import RunConfig
from lstmlab.store import Attempt, RunStore


@pytest.fixture
def store(store_url):
    with RunStore(store_url) as s:
        yield s


def test_attempts_of_runs_name_their_queue_worker_start_and_end(store):
    configs = [RunConfig(cell="rnn", seq_len=5, hidden_size=3, steps=2, batch_size=2, seed=s) for s in (1, 2, 3)]
    began = time.time()
    pooled, attempt, _ = store.queue(configs[0], queued_on="pool host:12")
    dasked, _, _ = store.queue(configs[1], queued_on="dask tcp://127.0.0.1:8786")
    never, _, _ = store.queue(configs[2], queued_on="pool host:12")  # queued, never started: no attempt
    store.start(pooled, attempt)
    store.fail(pooled, attempt, "stopped by the test")  # the attempt ends
    store.start(dasked, 0)  # still running: no end yet
    ended = time.time()
    found = store.attempts_of([pooled, dasked, never, "no-such-run"])
    assert [(a.run_id, a.queued_on, a.ended_at is None) for a in found] == [
        (pooled, "pool host:12", False), (dasked, "dask tcp://127.0.0.1:8786", True)]
    worker = f"{socket.gethostname()}:"
    assert all(isinstance(a, Attempt) and a.worker.startswith(worker) for a in found)
    assert began <= found[0].started_at <= found[0].ended_at <= ended and began <= found[1].started_at <= ended
    assert store.attempts_of([]) == []
