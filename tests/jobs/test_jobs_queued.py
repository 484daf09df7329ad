"""No run waits for ever: the runs queued in a process's local pool read as lost once that process is gone, and
a resubmission finishes them; the pool's workers finish the job they run, then exit. A resubmission is held to
the user's quotas like a submission. On the real pool, on a SQLite file and a PostgreSQL database."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.jobs import limits as L
from lstmlab.jobs import quotas
from lstmlab.store import LOST_AFTER_ENV, Actor, RunStore
from tests.support.jobs import TINY, wait_until

ROOT = Path(__file__).resolve().parents[2]
LOST_AFTER = 3.0

# A process that submits long jobs, one per worker of its pool (one per core), waits until they run, submits five
# short ones (which wait in its pool), prints the run ids and sleeps until it is killed.
SUBMITTER = """
import json, os, sys, time
from lstmlab.jobs import api as jobs
from lstmlab.core.config import RunConfig
from lstmlab.store import RunStore
url, tiny = sys.argv[1], json.loads(sys.argv[2])
store = RunStore(url)
long = [jobs.submit(RunConfig(**tiny, steps=1_000_000, seed=s), store_url=url) for s in range(os.cpu_count())]
while any(store.progress(i)["status"] != "running" for i in long):
    time.sleep(0.05)
short = [jobs.submit(RunConfig(**tiny, steps=20, seed=s), store_url=url) for s in range(10, 15)]
print(json.dumps({"long": long, "short": short}), flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaps counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_queued_runs_of_a_killed_process_become_lost_and_resubmission_finishes_them(store_url, monkeypatch):
    monkeypatch.setenv(LOST_AFTER_ENV, str(LOST_AFTER))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", SUBMITTER, store_url, json.dumps(TINY)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        ids = json.loads(proc.stdout.readline())
        store = RunStore(store_url)
        time.sleep(LOST_AFTER + 1)  # longer than LOST_AFTER: the submitter keeps its queued runs' heartbeat fresh
        assert [store.progress(i)["status"] for i in ids["short"]] == ["queued"] * 5
        assert all(store.progress(i)["status"] == "running" for i in ids["long"])
        workers = [int(store.progress(i)["worker"].rsplit(":", 1)[1]) for i in ids["long"]]
    finally:
        proc.kill()
        proc.wait()
    # the pool's workers outlive it: each finishes its running job (stopped here), starts no other, and exits
    try:
        wait_until(lambda: all(store.progress(i)["status"] == "lost" for i in ids["short"]),
                   timeout=LOST_AFTER + 30, what="the queued runs to read as lost")
        assert all(store.progress(i)["status"] == "running" for i in ids["long"])
    finally:  # whatever failed above, the long jobs stop, so the dead pool's workers do not train on for hours
        for run_id in ids["long"]:
            jobs.stop(run_id, store_url=store_url)
    for run_id in ids["long"]:
        assert jobs.wait(run_id, store_url=store_url, timeout=60) == "stopped"
    wait_until(lambda: all(_gone(pid) for pid in workers), timeout=30, what="the dead pool's workers to exit")
    assert [store.progress(i)["status"] for i in ids["short"]] == ["lost"] * 5  # no orphan worker took one
    assert all(store.progress(i)["records"] == 0 for i in ids["short"])
    for run_id in ids["short"]:
        assert jobs.resubmit(run_id, store_url=store_url) == run_id
    for run_id in ids["short"]:
        assert jobs.wait(run_id, store_url=store_url, timeout=300) == "finished"
        assert store.progress(run_id)["step"] == 20


def test_resubmission_over_a_quota_is_refused_and_changes_nothing(store_url):
    alice, admin = Actor("alice@lab.example"), Actor("root@lab.example", is_admin=True)
    store = RunStore(store_url)
    stopped, _, _ = store.queue(RunConfig(**TINY, steps=5, seed=30), actor=alice)
    assert jobs.stop(stopped, store_url=store_url, actor=alice) == "stopped"  # queued: stopped at once
    for i in range(L.USER_MAX_QUEUED):  # then alice fills her queue (runs never handed to a worker)
        store.queue(RunConfig(**TINY, steps=5, seed=40 + i), actor=alice)
    before = store.progress(stopped)
    with pytest.raises(quotas.QuotaExceeded, match=f"alice@lab.example has {L.USER_MAX_QUEUED} jobs queued"):
        jobs.resubmit(stopped, store_url=store_url, actor=alice)
    assert store.progress(stopped) == before  # nothing changed: status, message, heartbeat, where it waits
    # an admin is not held by the quota: the same resubmission is queued and trains
    assert jobs.resubmit(stopped, store_url=store_url, actor=admin) == stopped
    assert jobs.wait(stopped, store_url=store_url, timeout=120) == "finished"
