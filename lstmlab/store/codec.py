"""Runs to rows and back: a run's row, its three tables (fixed columns plus the long values table) and its
parameters, and the configs in listings.

NaN is stored as NULL (SQLite cannot store NaN); a run's ``layout`` says which columns are float, so a load maps
NULL back to NaN and restores every column's dtype and the column order.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
import uuid
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from lstmlab.core.config import RunConfig
from lstmlab.runs.records import Run, table_layout
from lstmlab.runs.status import Status
from lstmlab.store.schema import (
    CORE_COLUMNS,
    FILTER_FIELDS,
    TABLES,
    data_tables,
    params_table,
    runs_table,
    values_table,
)

ENGINE_FIELDS = ("engine", "engine_version")
# Columns of lstmlab_runs a load gives back as attributes of the Run besides its own fields.
RUN_EXTRAS = (*ENGINE_FIELDS, "owner")
# Kinds of numpy dtype a parameter array may have: bool, signed/unsigned int, float, complex.
_PARAM_KINDS = "biufc"
VALUE_COLUMNS = ("run_id", "tbl", "pos", "name", "value")


class Rows(NamedTuple):
    """Rows for one table, as the driver takes them: column names and one tuple per row."""

    columns: tuple[str, ...]
    rows: list[tuple]


# ---- a run's row ----------------------------------------------------------------------------------------

def _config_columns(config: RunConfig) -> dict[str, Any]:
    return {"config_key": config.key, "config_json": json.dumps(config.to_dict(), sort_keys=True),
            **{f: getattr(config, f) for f in FILTER_FIELDS}}


def run_layout(run: Any) -> dict[str, list[list[str]]]:
    """The layout of ``run``'s three tables (``table_columns``); TypeError / ValueError naming the table or column
    when one cannot be stored."""
    return {t: table_columns(t, getattr(run, t)) for t in TABLES}


def run_row(run: Any, layout: dict[str, list[list[str]]], name: str, tags: tuple[str, ...]) -> dict[str, Any]:
    """The lstmlab_runs row of a whole ``run`` (``RunStore.save``), owner aside, with its checked ``name`` and
    ``tags``."""
    return {
        "id": str(run.run_id), "name": name, "tags": json.dumps(list(tags)),
        "status": str(run.status), "message": str(run.message or ""),
        "created_at": float(run.created_at), "wall_time": float(run.wall_time),
        **_config_columns(run.config), "layout": json.dumps(layout),
        **engine_columns(run), "step": steps_done(run.steps), "heartbeat": time.time(),
    }


def queued_row(config: RunConfig, owner: str, name: str, tags: list[str], sweep: str, queued_on: str,
               now: float) -> dict[str, Any]:
    """The lstmlab_runs row of a new queued run of ``config``, waiting on ``queued_on``."""
    return {
        "id": uuid.uuid4().hex, "name": str(name or ""), "tags": json.dumps(tags),
        "status": Status.QUEUED.value, "message": "", "created_at": now, "wall_time": 0.0,
        **_config_columns(config), "layout": json.dumps(table_layout(config)),
        "owner": owner, "step": 0, "heartbeat": now, "stop_requested": False,
        "attempt": 0, "sweep": str(sweep or ""), "queued_on": str(queued_on),
    }


def engine_columns(run: Any) -> dict[str, str]:
    """The code that trained ``run`` ("" where it does not say)."""
    return {f: str(getattr(run, f, "") or "") for f in ENGINE_FIELDS}


def to_run(row: Any, tables: dict[str, pd.DataFrame], params: dict[str, np.ndarray] | None, status: str,
           message: str) -> Run:
    """The ``Run`` of a stored row with its tables and parameters, shown with ``status`` and ``message``."""
    declared = {f.name for f in dataclasses.fields(Run)}
    extras = {f: row[f] for f in RUN_EXTRAS}
    run = Run(
        run_id=row["id"], config=RunConfig.from_dict(json.loads(row["config_json"])),
        status=status, message=message, created_at=row["created_at"],
        wall_time=row["wall_time"], name=row["name"], tags=tuple(json.loads(row["tags"])), **tables,
        params=params, **{f: v for f, v in extras.items() if f in declared},
    )
    for f, v in extras.items():
        if f not in declared:  # a Run class without these fields still carries them
            setattr(run, f, v)
    return run


# ---- listings -------------------------------------------------------------------------------------------

def scalar_config_fields() -> list[str]:
    """The ``RunConfig`` fields that hold one value (all but ``series``), in declaration order."""
    return [f.name for f in dataclasses.fields(RunConfig) if f.name != "series"]


def list_columns() -> list[str]:
    """Columns of ``RunStore.list()``."""
    return ["id", "name", "tags", "status", "message", "created_at", "wall_time", "config_key",
            *scalar_config_fields(), "owner", "step", "sweep"]


def scalar_config(config: dict[str, Any]) -> dict[str, Any]:
    """The scalar fields of a stored config dict, a field stored before it existed at its default."""
    defaults = RunConfig().to_dict()
    return {f: config.get(f, defaults[f]) for f in scalar_config_fields()}


# ---- a run's tables -------------------------------------------------------------------------------------

def table_columns(name: str, df: pd.DataFrame) -> list[list[str]]:
    """The layout of table ``name``: ``[column, dtype]`` per column; extra columns must be numeric."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"run.{name}: expected a pandas DataFrame, got {type(df).__name__}")
    if not df.columns.is_unique:
        raise ValueError(f"run.{name}: duplicate column names")
    layout = []
    for col in df.columns:
        dtype = df[col].dtype
        if col not in CORE_COLUMNS[name] and not (pd.api.types.is_numeric_dtype(dtype)
                                                  or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(f"run.{name}[{col!r}]: extra columns must be numeric, got dtype {dtype}")
        layout.append([str(col), str(dtype)])
    return layout


def split_rows(run_id: str, name: str, df: pd.DataFrame, start: int = 0) -> tuple[Rows, Rows]:
    """Rows of the core table and of the long values table for one DataFrame (NaN -> None), at positions
    ``start``, ``start + 1``, ..."""
    core = [c for c in df.columns if c in CORE_COLUMNS[name]]
    extra = [c for c in df.columns if c not in CORE_COLUMNS[name]]
    columns = [[None if v != v else v for v in df[c].tolist()] for c in core]  # tolist: Python scalars
    positions = range(start, start + len(df))
    core_rows = Rows(("run_id", "pos", *core), [(run_id, i, *values) for i, *values in zip(positions, *columns)])
    value_rows = []
    for col in extra:
        values = df[col].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
        value_rows.extend((run_id, name, i, str(col), None if v != v else v) for i, v in zip(positions, values))
    return core_rows, Rows(VALUE_COLUMNS, value_rows)


def insert(conn: sa.Connection, table: sa.Table, rows: Rows) -> None:
    """Insert ``rows`` into ``table`` with one executemany of the driver, past SQLAlchemy's per-row parameter
    processing, which a record's hundreds of rows would pay row by row."""
    if not rows.rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[conn.dialect.paramstyle]
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, rows.columns))}) "
                         f"VALUES ({', '.join([mark] * len(rows.columns))})", rows.rows)


def read_table(conn: sa.Connection, run_id: str, name: str, layout: list[list[str]]) -> pd.DataFrame:
    """Table ``name`` of ``run_id`` as it was saved: the columns and dtypes of ``layout``, NULL as NaN."""
    table = data_tables[name]
    core = [c for c, _ in layout if c in CORE_COLUMNS[name]]
    extra = [c for c, _ in layout if c not in CORE_COLUMNS[name]]
    rows = conn.execute(
        sa.select(*(table.c[c] for c in core)).where(table.c.run_id == run_id).order_by(table.c.pos)
    ).all()
    n = len(rows)
    data = dict(zip(core, zip(*rows))) if rows else {c: () for c in core}
    if extra:
        v = values_table.c
        long = conn.execute(
            sa.select(v.pos, v.name, v.value).where(v.run_id == run_id, v.tbl == name)
        ).all()
        columns = {c: np.full(n, np.nan) for c in extra}
        for pos, col, value in long:
            if col in columns and value is not None:
                columns[col][pos] = value
        data.update(columns)
    out = {}
    for col, dtype in layout:
        values = data[col]
        plain = _numpy_dtype(dtype)
        if plain is None:
            out[col] = pd.Series(values, dtype=None if len(values) else object).astype(dtype)
            continue
        if plain.kind == "f" and not isinstance(values, np.ndarray):
            values = [np.nan if x is None else x for x in values]
        out[col] = np.asarray(values, dtype=plain)
    return pd.DataFrame(out, columns=[c for c, _ in layout], index=pd.RangeIndex(n))


@functools.cache
def _numpy_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a saved column's dtype name when it is a plain number or bool (read without pandas'
    per-column conversion); None for any other (object, a pandas extension dtype)."""
    try:
        dtype = np.dtype(name)
    except TypeError:
        return None
    return dtype if dtype.kind in "biuf" else None


def counts(conn: sa.Connection, run_id: str) -> dict[str, int]:
    """Rows each table of ``run_id`` holds, in one query."""
    found = conn.execute(sa.select(*(
        sa.select(sa.func.count()).select_from(data_tables[name]).where(data_tables[name].c.run_id == run_id)
        .scalar_subquery().label(name) for name in TABLES))).one()
    return {name: int(found[i]) for i, name in enumerate(TABLES)}


def append_rows(conn: sa.Connection, run_id: str, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Insert DataFrame rows after the rows each table of ``run_id`` holds; returns the rows each holds now."""
    held = counts(conn, run_id)
    for name, df in frames.items():
        if len(df) == 0:
            continue
        core, values = split_rows(run_id, name, df, start=held[name])
        insert(conn, data_tables[name], core)
        insert(conn, values_table, values)
        held[name] += len(df)
    return held


def last_record_step(conn: sa.Connection, run_id: str) -> int | None:
    """The step of the last record (eval row) ``run_id`` holds; None: none."""
    ev = data_tables["eval"].c
    return conn.execute(sa.select(sa.func.max(ev.step)).where(ev.run_id == run_id)).scalar()


def truncate(conn: sa.Connection, run_id: str, last_step: int) -> None:
    """Drop every row after the record at ``last_step`` (-1: all rows)."""
    for name in TABLES:
        table = data_tables[name]
        first = conn.execute(sa.select(sa.func.min(table.c.pos))
                             .where(table.c.run_id == run_id, table.c.step > last_step)).scalar()
        if first is None:
            continue
        v = values_table.c
        conn.execute(values_table.delete().where(v.run_id == run_id, v.tbl == name, v.pos >= first))
        conn.execute(table.delete().where(table.c.run_id == run_id, table.c.pos >= first))


def delete_run(conn: sa.Connection, run_id: str) -> None:
    """Remove a run's row and every row of its tables and parameters (its compute ledger rows stay)."""
    for table in (params_table, values_table, *data_tables.values()):
        conn.execute(table.delete().where(table.c.run_id == run_id))
    conn.execute(runs_table.delete().where(runs_table.c.id == run_id))


# ---- parameters -----------------------------------------------------------------------------------------

def param_rows(run_id: str, params: Any) -> list[dict]:
    """Rows of lstmlab_params for a params dict (None -> no rows); arrays as raw little-endian C-order bytes."""
    if params is None:
        return []
    if not isinstance(params, dict):
        raise TypeError(f"run.params: expected a dict of numpy arrays or None, got {type(params).__name__}")
    rows = []
    for pos, (name, value) in enumerate(params.items()):
        a = np.asarray(value)
        if a.dtype.kind not in _PARAM_KINDS:
            raise ValueError(f"run.params[{name!r}]: expected a numeric array, got dtype {a.dtype}")
        little = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        rows.append({"run_id": run_id, "name": str(name), "pos": pos, "shape": json.dumps(list(a.shape)),
                     "dtype": a.dtype.name, "data": little.tobytes()})
    return rows


def replace_params(conn: sa.Connection, run_id: str, rows: list[dict]) -> None:
    """Replace the stored parameters of ``run_id`` by ``rows`` (``param_rows``; none: the run has none)."""
    conn.execute(params_table.delete().where(params_table.c.run_id == run_id))
    if rows:
        conn.execute(params_table.insert(), rows)


def read_params(conn: sa.Connection, run_id: str) -> dict[str, np.ndarray] | None:
    """The stored parameters of ``run_id`` in their saved order, dtype and shape; None if it has none."""
    p = params_table.c
    rows = conn.execute(
        sa.select(p.name, p.shape, p.dtype, p.data).where(p.run_id == run_id).order_by(p.pos)
    ).all()
    if not rows:
        return None
    out = {}
    for name, shape, dtype, data in rows:
        native = np.dtype(dtype)
        shape = tuple(json.loads(shape))
        data = bytes(data)
        if len(data) != native.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"stored parameter {name!r} of run {run_id}: {len(data)} bytes do not hold a "
                             f"{dtype} array of shape {shape}")
        # frombuffer gives a read-only view of the bytes: copy into a writable array in native byte order
        out[name] = np.frombuffer(data, dtype=native.newbyteorder("<")).astype(native).reshape(shape)
    return out


def steps_done(steps: pd.DataFrame) -> int:
    """Updates a steps table accounts for: its last row's step (a row may stand for several updates, ``log_every``)."""
    if not len(steps):
        return 0
    return int(steps["step"].iloc[-1]) if "step" in steps.columns else len(steps)
