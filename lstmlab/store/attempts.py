"""What a job writes into its run, attempt by attempt: it starts, beats, appends records, finishes or fails.

Each resubmission of a run is a new attempt; every write names its attempt and is refused (``StaleAttempt``) once
a newer attempt owns the run or the run ended, so a worker thought dead cannot write into a resumed run. Each
write is one transaction: ``append`` adds one whole record (the steps rows since the last one, the flow snapshot,
the eval row), so a reader sees whole records only; ``beat`` refreshes the heartbeat and reads the stop request;
``finish`` writes the rest, the parameters and the final status. A retried write whose first commit went through
unacknowledged changes nothing twice. The compute ledger follows the attempt (``lstmlab.store.ledger``).
"""
from __future__ import annotations

import os
import socket
import time
from typing import Any

import sqlalchemy as sa

from lstmlab.runs.records import Record
from lstmlab.runs.status import ACTIVE_STATUSES, Status
from lstmlab.store import codec
from lstmlab.store.base import StoreBase
from lstmlab.store.errors import StaleAttempt
from lstmlab.store.ledger import charge, open_charge
from lstmlab.store.schema import TABLES, runs_table


class AttemptsMixin(StoreBase):
    """The job's side of a run: ``start``, ``beat``, ``append``, ``finish``, ``fail``."""

    def start(self, run_id: str, attempt: int) -> int | None:
        """Mark a queued (or, when a job is retried, running) run as running for ``attempt``; returns the step of
        its last stored record (-1: none), which a resumed job skips up to. None: nothing to do (the run is
        gone, finished, stopped, or belongs to a newer attempt)."""
        cols = runs_table.c
        with self._writing(run_id) as conn:
            found = conn.execute(sa.select(cols.status, cols.attempt, cols.stop_requested)
                                 .where(cols.id == run_id)).first()
            if found is None or found.attempt != attempt or found.status not in ACTIVE_STATUSES:
                return None
            where = runs_table.update().where(cols.id == run_id)
            if found.stop_requested:
                conn.execute(where.values(status=Status.STOPPED.value, message="stopped before it started"))
                return None
            conn.execute(where.values(status=Status.RUNNING.value, heartbeat=time.time(), message="",
                                      worker=f"{socket.gethostname()}:{os.getpid()}"))
            open_charge(conn, run_id, attempt)
            last = codec.last_record_step(conn, run_id)
        return -1 if last is None else int(last)

    @staticmethod
    def _claim(conn: sa.Connection, run_id: str, attempt: int) -> bool:
        """Check that ``attempt`` still owns the running run; returns its stop request, else ``StaleAttempt``."""
        cols = runs_table.c
        found = conn.execute(sa.select(cols.status, cols.attempt, cols.stop_requested)
                             .where(cols.id == run_id)).first()
        if found is None or found.attempt != attempt or found.status != Status.RUNNING:
            raise StaleAttempt(f"run {run_id} attempt {attempt} no longer owns the run")
        return bool(found.stop_requested)

    def beat(self, run_id: str, attempt: int, step: int) -> bool:
        """A running job's heartbeat with its progress; returns whether a stop was requested."""
        with self._writing(run_id) as conn:
            stop = self._claim(conn, run_id, attempt)
            conn.execute(runs_table.update().where(runs_table.c.id == run_id)
                         .values(heartbeat=time.time(), step=int(step)))
            charge(conn, run_id, attempt)
        return stop

    def append(self, run_id: str, attempt: int, record: Record) -> bool:
        """Add one record (its steps rows, flow rows and eval row) in one transaction; returns whether a stop
        was requested. Readers see the whole record or none of it. A record the run holds already (its step is
        not past the last stored eval row: a retried append whose first commit went through unacknowledged)
        only refreshes the heartbeat."""
        with self._writing(run_id) as conn:
            stop = self._claim(conn, run_id, attempt)
            last = codec.last_record_step(conn, run_id)
            values = {"heartbeat": time.time()}
            if last is None or record.step > last:
                codec.append_rows(conn, run_id, {name: getattr(record, name) for name in TABLES})
                if len(record.steps):
                    values["step"] = codec.steps_done(record.steps)
            conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(**values))
        return stop

    def finish(self, run_id: str, attempt: int, run: Any) -> None:
        """End a job: the rows of ``run``'s tables not streamed yet, its parameters, status, message and wall
        time, in one transaction."""
        param_rows = codec.param_rows(run_id, getattr(run, "params", None))
        cols = runs_table.c
        with self._writing(run_id) as conn:
            found = conn.execute(sa.select(cols.status, cols.attempt).where(cols.id == run_id)).first()
            if found is not None and (found.status, found.attempt) == (str(run.status), attempt):
                return  # a retried finish whose first commit went through unacknowledged
            self._claim(conn, run_id, attempt)
            held = codec.counts(conn, run_id)
            codec.append_rows(conn, run_id, {name: getattr(run, name).iloc[held[name]:] for name in TABLES})
            codec.replace_params(conn, run_id, param_rows)
            conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(
                status=str(run.status), message=str(run.message or ""), wall_time=float(run.wall_time),
                step=codec.steps_done(run.steps), heartbeat=time.time(), **codec.engine_columns(run)))
            charge(conn, run_id, attempt, end=True)

    def fail(self, run_id: str, attempt: int, message: str) -> None:
        """End a job that raised: status "failed" with ``message`` (records written so far stay)."""
        cols = runs_table.c
        with self._writing(run_id) as conn:
            conn.execute(runs_table.update().where(cols.id == run_id, cols.attempt == attempt,
                                                   cols.status.in_(ACTIVE_STATUSES))
                         .values(status=Status.FAILED.value, message=str(message), heartbeat=time.time()))
            charge(conn, run_id, attempt, end=True)
