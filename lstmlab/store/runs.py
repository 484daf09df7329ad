"""Runs in the store: saving a whole run, changing its labels, deleting it, and every way of reading runs.

A save is one transaction (a crash leaves the run as it was); a load, a listing or a progress read is one snapshot.
Every change checks the acting user in its write transaction (``lstmlab.store.permissions``). A run as read shows
the status "lost" when its heartbeat says so (``lstmlab.store.lost``).
"""
from __future__ import annotations

import contextlib
import json
import time
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.store import codec
from lstmlab.store.base import StoreBase
from lstmlab.store.labels import check_labels
from lstmlab.store.lost import shown_message, shown_status
from lstmlab.store.permissions import Actor, authorise, normalise_email
from lstmlab.store.schema import FILTER_FIELDS, TABLES, data_tables, params_table, runs_table, values_table

_LIST_FILTERS = ("status", "config_key", "owner", "sweep")  # filters of ``list`` besides FILTER_FIELDS


class RunsMixin(StoreBase):
    """Saving, changing and reading whole runs. ``lost_after``: seconds of heartbeat silence after which a run
    reads as "lost"."""

    lost_after: float

    # ---- writing -----------------------------------------------------------------------------------------

    def save(self, run: Any, actor: Actor | None = None) -> str:
        """Store ``run`` in one transaction (replacing any run with the same id); returns its id.

        A new run's owner is ``actor.email`` ("" for ``actor=None``); replacing a stored run (a new status, say)
        keeps its owner and needs the right to change it (``Actor``), else ``PermissionError``. A name or tag that
        ``check_labels`` refuses is a ``ValueError``, before anything is written (so for ``rename``, ``tag`` and
        ``queue``).
        """
        layout = codec.run_layout(run)
        row = codec.run_row(run, layout, *check_labels(run.name, run.tags))
        core_rows, value_rows = {}, codec.Rows(codec.VALUE_COLUMNS, [])
        for name in TABLES:
            core_rows[name], values = codec.split_rows(row["id"], name, getattr(run, name))
            value_rows.rows.extend(values.rows)
        param_rows = codec.param_rows(row["id"], getattr(run, "params", None))
        with self._writing(row["id"]) as conn:
            owner = authorise(conn, actor, row["id"], "replace")
            row["owner"] = (actor.email if actor else "") if owner is None else owner
            codec.delete_run(conn, row["id"])
            conn.execute(runs_table.insert(), [row])
            for name in TABLES:
                codec.insert(conn, data_tables[name], core_rows[name])
            codec.insert(conn, values_table, value_rows)
            if param_rows:
                conn.execute(params_table.insert(), param_rows)
        return row["id"]

    def rename(self, run_id: str, name: str, actor: Actor | None = None) -> str:
        """Set a run's display name; returns the full run id. ``PermissionError`` if ``actor`` may not."""
        name, _ = check_labels(name)
        with self._changing(run_id, actor, "rename") as (conn, full):
            conn.execute(runs_table.update().where(runs_table.c.id == full).values(name=name))
        return full

    def tag(self, run_id: str, tags: Iterable[str], actor: Actor | None = None) -> str:
        """Replace a run's tags; returns the full run id. ``PermissionError`` if ``actor`` may not."""
        text = json.dumps(list(check_labels(tags=tags)[1]))
        with self._changing(run_id, actor, "tag") as (conn, full):
            conn.execute(runs_table.update().where(runs_table.c.id == full).values(tags=text))
        return full

    def delete(self, run_id: str, actor: Actor | None = None) -> str:
        """Remove a run and its tables; returns the full run id. ``PermissionError`` if ``actor`` may not."""
        with self._changing(run_id, actor, "delete") as (conn, full):
            codec.delete_run(conn, full)
        return full

    @contextlib.contextmanager
    def _changing(self, run_id: str, actor: Actor | None, action: str) -> Iterator[tuple[sa.Connection, str]]:
        """A write transaction on one existing run that ``actor`` may change: yields (connection, full id)."""
        full = self.resolve(run_id)
        with self._writing(full) as conn:
            if authorise(conn, actor, full, action) is None:
                raise KeyError(f"no run with id {full!r} in {self!r} (deleted meanwhile)")
            yield conn, full

    # ---- reading -----------------------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """Full id for an id or unique id prefix (as git does); unknown or ambiguous -> ``KeyError``."""
        with self._reading() as conn:
            return self._resolve(conn, run_id)

    def _resolve(self, conn: sa.Connection, run_id: str) -> str:
        text = str(run_id).strip()
        if not text:
            raise KeyError("empty run id")
        exact = conn.execute(sa.select(runs_table.c.id).where(runs_table.c.id == text)).first()
        if exact is not None:
            return exact[0]
        query = sa.select(runs_table.c.id).where(runs_table.c.id.startswith(text, autoescape=True))
        found = [r[0] for r in conn.execute(query.limit(50)) if r[0].startswith(text)]
        if not found:
            raise KeyError(f"no run with id or id prefix {text!r} in {self!r}")
        if len(found) > 1:
            raise KeyError(f"run id prefix {text!r} is ambiguous: matches {', '.join(sorted(found)[:5])}"
                           + (", ..." if len(found) > 5 else ""))
        return found[0]

    def __contains__(self, run_id: str) -> bool:
        try:
            self.resolve(run_id)
        except KeyError:
            return False
        return True

    def load(self, run_id: str) -> Any:
        """The stored run as a ``Run`` whose tables equal the saved ones (dtypes and column order included) and
        whose ``params`` equal the saved arrays (dtype, shape and order; ``None`` if saved without).

        Read in one snapshot: a run replaced or deleted meanwhile loads whole or raises ``KeyError``; a job's
        run loads as streamed so far (whole records only), with status "lost" once its heartbeat is too old.
        """
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            row = conn.execute(sa.select(runs_table).where(runs_table.c.id == full)).mappings().one()
            layout = json.loads(row["layout"])
            tables = {name: codec.read_table(conn, full, name, layout[name]) for name in TABLES}
            params = codec.read_params(conn, full)
        shown = shown_status(row, self.lost_after)
        return codec.to_run(row, tables, params, shown, shown_message(row, shown, self.lost_after))

    def load_params(self, run_id: str) -> dict[str, np.ndarray] | None:
        """Only the stored parameters of a run (``None`` if it was saved without); ``KeyError`` if unknown."""
        with self._reading() as conn:
            return codec.read_params(conn, self._resolve(conn, run_id))

    def config(self, run_id: str) -> RunConfig:
        """The config of a run (id or unique prefix); ``KeyError`` if unknown."""
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            text = conn.execute(sa.select(runs_table.c.config_json).where(runs_table.c.id == full)).scalar_one()
        return RunConfig.from_dict(json.loads(text))

    def find(self, config_or_key: Any, status: str | None = None) -> list[str]:
        """Ids of the runs of a config (a ``RunConfig`` or its ``.key``), newest first; for de-duplication."""
        key = getattr(config_or_key, "key", config_or_key)
        query = sa.select(runs_table.c.id).where(runs_table.c.config_key == str(key))
        if status is not None:
            query = query.where(runs_table.c.status == status)
        with self._reading() as conn:
            return [r[0] for r in conn.execute(query.order_by(runs_table.c.created_at.desc()))]

    def list(self, tag: str | None = None, name: str | None = None, with_params: bool | None = None,
             **filters: Any) -> pd.DataFrame:
        """One row per run, newest first: id, name, tags (comma-separated), status, message, created_at,
        wall_time, config_key, every scalar ``RunConfig`` field, owner, step (steps done) and sweep. A running
        run whose heartbeat is older than ``lost_after`` is listed with status "lost".

        Filters: ``status`` (the shown one), ``owner`` (compared as ``normalise_email`` does), ``sweep`` and any
        of ``FILTER_FIELDS`` (a value or a list of accepted values) run in SQL; ``tag`` keeps runs carrying that
        tag, ``name`` runs whose name contains that text; ``with_params`` True keeps runs stored with their
        parameters, False those without.
        """
        unknown = sorted(set(filters) - set(FILTER_FIELDS) - set(_LIST_FILTERS))
        if unknown:
            raise ValueError(f"unknown run filter(s) {unknown}: expected some of "
                             f"{['status', 'tag', 'name', 'owner', *FILTER_FIELDS]}")
        cols = runs_table.c
        query = sa.select(cols.id, cols.name, cols.tags, cols.status, cols.message, cols.created_at,
                          cols.wall_time, cols.config_key, cols.config_json, cols.owner, cols.step, cols.heartbeat,
                          cols.sweep, cols.queued_on)
        status = filters.pop("status", None)  # "lost" is derived: filtered below
        statuses = None if status is None else set(status if isinstance(status, (list, tuple, set)) else [status])
        owners = _owners_wanted(filters.pop("owner", None))
        for field, value in filters.items():
            if value is None:
                continue
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            query = query.where(cols[field].in_(values))
        if with_params is not None:
            stored = sa.exists().where(params_table.c.run_id == cols.id)
            query = query.where(stored if with_params else ~stored)
        with self._reading() as conn:
            if owners is not None:  # every stored spelling of those owners (earlier versions kept the provider's)
                spellings = conn.execute(sa.select(cols.owner).distinct()).scalars()  # from the owner index
                query = query.where(cols.owner.in_([o for o in spellings if normalise_email(o) in owners]))
            rows = conn.execute(query.order_by(cols.created_at.desc(), cols.id)).mappings().all()
        records = []
        now = time.time()
        for r in rows:
            shown = shown_status(r, self.lost_after, now)
            if statuses is not None and shown not in statuses:
                continue
            tags = json.loads(r["tags"])
            if tag is not None and tag not in tags:
                continue
            if name is not None and name.lower() not in r["name"].lower():
                continue
            config = json.loads(r["config_json"])
            records.append({
                "id": r["id"], "name": r["name"], "tags": ",".join(tags), "status": shown,
                "message": shown_message(r, shown, self.lost_after), "created_at": r["created_at"],
                "wall_time": r["wall_time"], "config_key": r["config_key"], **codec.scalar_config(config),
                "owner": r["owner"], "step": r["step"], "sweep": r["sweep"],
            })
        return pd.DataFrame.from_records(records, columns=codec.list_columns())

    def progress(self, run_id: str) -> dict[str, Any]:
        """A cheap read for polling: id, name, status (with "lost"), message, step, steps, heartbeat,
        stop_requested, sweep, wall_time, worker (host:pid of the job's process), queued_on, records (eval rows
        stored). ``KeyError`` if unknown."""
        cols = runs_table.c
        with self._reading() as conn:
            full = self._resolve(conn, run_id)
            row = conn.execute(sa.select(cols.id, cols.name, cols.status, cols.message, cols.step, cols.steps,
                                         cols.heartbeat, cols.stop_requested, cols.sweep, cols.wall_time,
                                         cols.worker, cols.queued_on)
                               .where(cols.id == full)).mappings().one()
            ev = data_tables["eval"].c
            records = conn.execute(sa.select(sa.func.count()).select_from(data_tables["eval"])
                                   .where(ev.run_id == full)).scalar()
        shown = shown_status(row, self.lost_after)
        return {**row, "status": shown, "message": shown_message(row, shown, self.lost_after),
                "stop_requested": bool(row["stop_requested"]), "records": int(records)}


def _owners_wanted(owner: Any) -> set[str] | None:
    """The ``owner`` filter of ``RunStore.list`` (an email or a list of them; None: everyone's), normalised."""
    if owner is None:
        return None
    return {normalise_email(o) for o in (owner if isinstance(owner, (list, tuple, set)) else [owner])}
