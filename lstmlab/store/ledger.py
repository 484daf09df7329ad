"""The compute ledger (``lstmlab_compute``) and what a user holds, which quota rules read.

One row per job attempt that started: opened when the job starts (``open_charge``), brought up to date at each of
its beats and closed when it ends (``charge``). Deleting a run leaves its rows, so a user's compute quota still
counts them.
"""
from __future__ import annotations

import dataclasses
import time

import sqlalchemy as sa

from lstmlab.runs.status import ACTIVE_STATUSES, Status
from lstmlab.store.base import StoreBase
from lstmlab.store.lost import shown_status
from lstmlab.store.permissions import normalise_email
from lstmlab.store.schema import FLOAT, compute_table, runs_table

_IDS_PER_QUERY = 500  # ids bound in one IN (...) list, below every dialect's limit on parameters


@dataclasses.dataclass(frozen=True)
class Holdings:
    """What one user holds in the store at one moment (``RunStore.holdings``).

    ``running``, ``queued``: their runs with that status as shown (a silent one reads as lost and is neither);
    ``compute``: ``(started_at, seconds)`` of their jobs' attempts started in the window asked for, oldest first,
    from the compute ledger (``lstmlab_compute``), which deleting a run does not change.
    """

    running: int
    queued: int
    compute: tuple[tuple[float, float], ...]


def open_charge(conn: sa.Connection, run_id: str, attempt: int) -> None:
    """Open the compute ledger's row of a job's attempt as it starts (a retried job keeps the row it has)."""
    c = compute_table.c
    if conn.execute(sa.select(c.run_id).where(c.run_id == run_id, c.attempt == attempt)).first() is None:
        owner = conn.execute(sa.select(runs_table.c.owner).where(runs_table.c.id == run_id)).scalar_one()
        conn.execute(compute_table.insert().values(run_id=run_id, attempt=attempt, owner=normalise_email(owner),
                                                   started_at=time.time(), seconds=0.0, ended_at=None))


def charge(conn: sa.Connection, run_id: str, attempt: int, end: bool = False) -> None:
    """Bring the compute ledger's row of a running attempt up to now (at its beat), and close it (``end``)."""
    c, now = compute_table.c, time.time()
    conn.execute(compute_table.update().where(c.run_id == run_id, c.attempt == attempt, c.ended_at.is_(None))
                 .values(seconds=sa.literal(now, FLOAT) - c.started_at, **({"ended_at": now} if end else {})))


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One started attempt of a job (``RunStore.attempts_of``): its run, where it was queued ("KIND PLACE", the
    run's ``queued_on``: "pool HOST:PID" or "dask ADDRESS", "" for a run trained in the caller's process), the worker
    that ran the run last, and its start and end in epoch seconds (``ended_at`` None while it runs or if it
    vanished)."""

    run_id: str
    queued_on: str
    worker: str
    started_at: float
    ended_at: float | None


class LedgerMixin(StoreBase):
    """Reading what a user holds: runs in flight and the compute ledger."""

    lost_after: float

    def holdings(self, owner: str, since: float, conn: sa.Connection | None = None) -> Holdings:
        """What ``owner`` (an email) holds now: runs running and queued, and the compute ledger's attempts started
        after ``since`` (epoch seconds). With ``conn``, read in that (write) transaction, as an ``admit`` rule
        does; else in a read transaction of its own."""
        if conn is None:
            with self._reading() as own:
                return self.holdings(owner, since, own)
        cols, c = runs_table.c, compute_table.c
        owner = normalise_email(owner)
        with self._translated():
            # runs in flight are few: compared normalised here, so an owner an earlier version stored in another
            # case still counts; the ledger is written in the normalised form only
            flight = conn.execute(sa.select(cols.status, cols.heartbeat, cols.queued_on, cols.owner).where(
                cols.status.in_(ACTIVE_STATUSES))).mappings().all()
            spent = conn.execute(sa.select(c.started_at, c.seconds).where(c.owner == owner, c.started_at > since)
                                 .order_by(c.started_at, c.run_id, c.attempt)).all()
        now = time.time()
        shown = [shown_status(r, self.lost_after, now) for r in flight if normalise_email(r["owner"]) == owner]
        return Holdings(shown.count(Status.RUNNING), shown.count(Status.QUEUED),
                        tuple((float(t), max(float(s), 0.0)) for t, s in spent))

    def attempts_of(self, run_ids: list[str]) -> list[Attempt]:
        """The compute ledger's attempts of these runs, oldest first, with where each run was queued and ran."""
        cols, c = runs_table.c, compute_table.c
        out: list[Attempt] = []
        with self._reading() as conn, self._translated():
            for i in range(0, len(run_ids), _IDS_PER_QUERY):
                rows = conn.execute(sa.select(c.run_id, cols.queued_on, cols.worker, c.started_at, c.ended_at)
                                    .join(runs_table, cols.id == c.run_id)
                                    .where(c.run_id.in_(run_ids[i : i + _IDS_PER_QUERY]))).all()
                out += [Attempt(r, q or "", w or "", float(s), None if e is None else float(e))
                        for r, q, w, s, e in rows]
        return sorted(out, key=lambda a: (a.started_at, a.run_id))
