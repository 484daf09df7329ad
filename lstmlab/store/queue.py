"""The job queue as the store keeps it: runs queued, attached to, stopped, resubmitted, let go.

``queue`` writes a run's row first (status "queued", waiting on ``queued_on``), de-duplicated by config key under
a lock: of two processes queueing one config at once, one creates the run and the other attaches to it. A quota
rule (``admit``) given to ``queue``, ``queue_many`` or ``requeue`` runs in their write transaction under a lock on
the acting user, so the check and the write are one step. A queued run waiting in a process's own queue stays
queued while that process beats it (``beat_queued``); which queued runs read as lost is ``lstmlab.store.lost``'s
rule. What the job then writes into its run is ``lstmlab.store.attempts``.
"""
from __future__ import annotations

import json
import time
from typing import Callable, Iterable

import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.runs.status import ATTACHING_STATUSES, RESUBMITTABLE_STATUSES, Status
from lstmlab.store import codec
from lstmlab.store.labels import check_labels
from lstmlab.store.lost import shown_status
from lstmlab.store.permissions import Actor, may_change
from lstmlab.store.runs import RunsMixin
from lstmlab.store.schema import data_tables, runs_table

# A rule that admits new jobs, or refuses them by raising: called by queue, queue_many and requeue with the write
# transaction's connection and how many runs it would add, under a lock on the acting user (lstmlab.jobs.quotas).
Admit = Callable[[sa.Connection, int], None]


class QueueMixin(RunsMixin):
    """Queueing runs, and the changes to a queued run before and after its job."""

    def queue(self, config: RunConfig, actor: Actor | None = None, name: str = "", tags: Iterable[str] = (),
              sweep: str = "", attach: Iterable[str] = ATTACHING_STATUSES,
              queued_on: str = "", admit: Admit | None = None) -> tuple[str, int, bool]:
        """The run of ``config`` a job should fill: ``(run_id, attempt, created)``; a new run waits on
        ``queued_on`` ("KIND PLACE" of its queue; "" waits nowhere, see ``lstmlab.store.lost``).

        Under a lock on ``config.key`` (SQLite's write lock; a PostgreSQL advisory lock), the newest run of the
        key whose status is in ``attach`` is returned (created False); if there is none a new run row is
        written with status "queued" (created True). So of two processes queueing one config at once, one
        creates the run and the other attaches to it. Before a new run is written, ``admit(conn, 1)`` may refuse
        it by raising (nothing is written then); it runs in the same transaction, under a lock on ``actor``
        (``_lock_user``), so two submissions of one user are checked one after the other.
        """
        if not isinstance(config, RunConfig):
            raise ValueError(f"config: expected a RunConfig, got {type(config).__name__}")
        name, tags = check_labels(name, tags)
        attach = tuple(attach)
        cols = runs_table.c
        now = time.time()
        row = codec.queued_row(config, _owner(actor), name, list(tags), sweep, queued_on, now)
        with self._writing() as conn:
            self._lock_user(conn, actor, admit)
            self._lock(conn, f"lstmlab key {config.key}")
            found = conn.execute(
                sa.select(cols.id, cols.status, cols.heartbeat, cols.attempt, cols.queued_on)
                .where(cols.config_key == config.key).order_by(cols.created_at.desc())
            ).mappings().all()
            for r in found:
                if shown_status(r, self.lost_after, now) in attach:
                    return r["id"], r["attempt"], False
            if admit is not None:
                admit(conn, 1)
            conn.execute(runs_table.insert(), [row])
        return row["id"], 0, True

    def queue_many(self, configs: Iterable[RunConfig], actor: Actor | None = None, name: str = "",
                   tags: Iterable[str] = (), sweep: str = "", attach: Iterable[str] = ATTACHING_STATUSES,
                   queued_on: str = "", admit: Admit | None = None) -> list[tuple[str, int, bool]]:
        """``queue`` for several configs in one transaction: all of them are queued or none is.

        Returns ``(run_id, attempt, created)`` per config, in order; a config attaches as in ``queue`` (also to a
        run queued earlier in the same call). ``admit(conn, n)``, with ``n`` the runs it would create, is asked
        once, under the lock on ``actor`` and the locks on every config's key (taken in one order), before any is
        written: a refusal writes nothing.
        """
        configs = list(configs)
        for i, config in enumerate(configs):
            if not isinstance(config, RunConfig):
                raise ValueError(f"configs[{i}]: expected a RunConfig, got {type(config).__name__}")
        name, tags = check_labels(name, tags)
        tags, attach, now = list(tags), tuple(attach), time.time()
        cols = runs_table.c
        out: list[tuple[str, int, bool]] = []
        rows: list[dict] = []
        with self._writing() as conn:
            self._lock_user(conn, actor, admit)
            keys = sorted({c.key for c in configs})
            for key in keys:
                self._lock(conn, f"lstmlab key {key}")
            found: dict[str, tuple[str, int, bool]] = {}
            for r in conn.execute(sa.select(cols.id, cols.status, cols.heartbeat, cols.attempt, cols.queued_on,
                                            cols.config_key)
                                  .where(cols.config_key.in_(keys)).order_by(cols.created_at.desc())).mappings():
                if r["config_key"] not in found and shown_status(r, self.lost_after, now) in attach:
                    found[r["config_key"]] = (r["id"], int(r["attempt"]), False)
            for config in configs:
                if config.key not in found:
                    rows.append(codec.queued_row(config, _owner(actor), name, tags, sweep, queued_on, now))
                    found[config.key] = (rows[-1]["id"], 0, True)
                    out.append(found[config.key])
                else:
                    out.append((*found[config.key][:2], False))
            if rows and admit is not None:
                admit(conn, len(rows))
            if rows:
                conn.execute(runs_table.insert(), rows)
        return out

    def _lock_user(self, conn: sa.Connection, actor: Actor | None, admit: Admit | None) -> None:
        """Before a quota-checked write (``admit`` given) of a signed-in ``actor``: serialise it with every other
        one of theirs (``_lock``)."""
        if admit is not None and actor is not None:
            self._lock(conn, f"lstmlab user {actor.email}")

    def run_for(self, config: RunConfig, actor: Actor | None = None) -> str | None:
        """The run a page shows for ``config`` when ``actor`` asks for it: the newest run of its key a submission
        attaches to (queued, running, finished or diverged: anyone's), else the newest one ``actor`` may change
        (their own stopped, failed or lost run, which they may resubmit; in anonymous mode anyone's), else None:
        a submission trains a new run of theirs. Another user's stopped run never stands in their way."""
        cols = runs_table.c
        with self._reading() as conn:
            rows = conn.execute(sa.select(cols.id, cols.status, cols.heartbeat, cols.queued_on, cols.owner)
                                .where(cols.config_key == config.key)
                                .order_by(cols.created_at.desc(), cols.id)).mappings().all()
        now = time.time()
        shown = [(r, shown_status(r, self.lost_after, now)) for r in rows]
        for r, status in shown:
            if status in ATTACHING_STATUSES:
                return r["id"]
        return next((r["id"] for r, _ in shown if may_change(actor, r["owner"])), None)

    def discard(self, run_id: str, attempt: int) -> None:
        """Remove a queued run no job ever took (its hand-over to an executor failed)."""
        cols = runs_table.c
        with self._writing(run_id) as conn:
            found = conn.execute(sa.select(cols.status, cols.attempt).where(cols.id == run_id)).first()
            if found is not None and found.status == Status.QUEUED and found.attempt == attempt:
                if attempt == 0:
                    codec.delete_run(conn, run_id)
                else:
                    conn.execute(runs_table.update().where(cols.id == run_id).values(
                        status=Status.FAILED.value, message="could not be handed to a worker: resubmit it"))

    def fail_queued(self, run_id: str, attempt: int, message: str) -> None:
        """Mark a run failed if ``attempt`` is still queued (its worker went away before starting it)."""
        cols = runs_table.c
        with self._writing(run_id) as conn:
            conn.execute(runs_table.update()
                         .where(cols.id == run_id, cols.attempt == attempt, cols.status == Status.QUEUED.value)
                         .values(status=Status.FAILED.value, message=str(message)))

    def beat_queued(self, queued_on: str) -> int:
        """Refresh the heartbeat of every run still queued on ``queued_on``; returns how many there are."""
        cols = runs_table.c
        with self._writing() as conn:
            return conn.execute(runs_table.update()
                                .where(cols.status == Status.QUEUED.value, cols.queued_on == queued_on)
                                .values(heartbeat=time.time())).rowcount

    def waiting(self, queued_on: str, older_than: float = 0.0) -> list[tuple[str, int]]:
        """(run id, attempt) of the runs queued on ``queued_on`` whose heartbeat is older than ``older_than`` s."""
        cols = runs_table.c
        with self._reading() as conn:
            rows = conn.execute(sa.select(cols.id, cols.attempt).where(
                cols.status == Status.QUEUED.value, cols.queued_on == queued_on,
                cols.heartbeat < time.time() - older_than).order_by(cols.created_at)).all()
        return [(r.id, int(r.attempt)) for r in rows]

    def release_queued(self, run_id: str, attempt: int) -> None:
        """Let go of ``attempt`` of a queued run whose queue no longer holds it: it then waits nowhere (queued_on
        ""), so it reads as lost once its heartbeat is older than ``lost_after``."""
        cols = runs_table.c
        with self._writing(run_id) as conn:
            conn.execute(runs_table.update().where(cols.id == run_id, cols.attempt == attempt,
                                                   cols.status == Status.QUEUED.value).values(queued_on=""))

    def request_stop(self, run_id: str, actor: Actor | None = None) -> tuple[str, str]:
        """Ask a run to stop: a running job stops at its next step; a queued or lost run is stopped at once.
        Returns (full id, status after the request). ``PermissionError`` if ``actor`` may not."""
        cols = runs_table.c
        with self._changing(run_id, actor, "stop") as (conn, full):
            row = conn.execute(sa.select(cols.status, cols.heartbeat, cols.queued_on, cols.step)
                               .where(cols.id == full)).mappings().one()
            status = shown_status(row, self.lost_after)
            where = runs_table.update().where(cols.id == full)
            if status == Status.RUNNING:
                conn.execute(where.values(stop_requested=True))
            elif status in (Status.QUEUED, Status.LOST):
                status = Status.STOPPED.value
                conn.execute(where.values(status=status, stop_requested=True,
                                          message=f"stopped after {row['step']} steps"))
        return full, status

    def requeue(self, run_id: str, actor: Actor | None = None, queued_on: str = "",
                admit: Admit | None = None) -> tuple[str, int]:
        """Queue a lost, stopped or failed run again, to wait on ``queued_on`` (as ``queue``): returns (full id,
        the new attempt).

        The run keeps its records up to the last one a job writes in any case (step 0, every
        ``record_every`` steps); a stopped run's final snapshot off that grid and its parameters go. The job
        then resumes after the kept records. ``ValueError`` for other statuses; ``PermissionError`` if
        ``actor`` may not; ``admit(conn, 1)`` (as in ``queue``) may refuse it, and nothing changes then.
        """
        cols = runs_table.c
        with self._changing(run_id, actor, "resubmit") as (conn, full):
            row = conn.execute(sa.select(runs_table).where(cols.id == full)).mappings().one()
            status = shown_status(row, self.lost_after)
            if status not in RESUBMITTABLE_STATUSES:
                raise ValueError(f"run {full} is {status}: only {', '.join(RESUBMITTABLE_STATUSES)} runs can be "
                                 "resubmitted")
            if admit is not None:
                self._lock_user(conn, actor, admit)
                admit(conn, 1)
            config = RunConfig.from_dict(json.loads(row["config_json"]))
            ev = data_tables["eval"].c
            kept = -1
            for (step,) in conn.execute(sa.select(ev.step).where(ev.run_id == full).order_by(ev.pos)):
                if not (step == 0 or step % config.record_every == 0 or step == config.steps):
                    break
                kept = step
            codec.truncate(conn, full, kept)
            codec.replace_params(conn, full, [])
            attempt = row["attempt"] + 1
            conn.execute(runs_table.update().where(cols.id == full).values(
                status=Status.QUEUED.value, message="", attempt=attempt, stop_requested=False,
                heartbeat=time.time(), step=max(kept, 0), queued_on=str(queued_on)))
        return full, attempt


def _owner(actor: Actor | None) -> str:
    """The owner a new run of ``actor`` gets: their email, "" in anonymous mode."""
    return actor.email if actor else ""
