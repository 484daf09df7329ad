"""Persistent run store: runs, their configs and their three tables in one SQL database.

The database is an embedded SQLite file by default; ``LSTMLAB_DB`` (or ``RunStore(url)``) may name another
path or any SQLAlchemy URL. All SQL goes through SQLAlchemy Core with dialect-neutral types, so the same code
serves a hosted PostgreSQL later.

Layout (tables prefixed ``lstmlab_`` so a shared database stays tidy):

- ``lstmlab_runs``: one row per run: id, name, tags (JSON list), status, message, created_at, wall_time,
  config_json, config_key, the distinguishing config fields as real columns (``FILTER_FIELDS``) and
  ``layout`` (JSON: column names and dtypes of the three tables, so a load restores them exactly).
- ``lstmlab_steps``, ``lstmlab_flow``, ``lstmlab_eval``: one row per DataFrame row, keyed by
  (run_id, pos) where pos is the row's position; the contract's fixed columns are real columns.
- ``lstmlab_values``: long side table (run_id, tbl, pos, name, value) for every other numeric column,
  e.g. the model-dependent ``gnorm:<param>`` and ``sigma_max:l<k>`` columns of steps.
- ``lstmlab_params``: the run's final parameters (``Run.params``), one row per array: (run_id, name, pos,
  shape as a JSON list, dtype name, data) where data holds the array's raw little-endian bytes in C order
  (a BLOB in SQLite, bytea in PostgreSQL). A run saved without parameters has no rows and loads with
  ``params=None``; stores created before this table existed get it on their next open (``create_all``).

NaN is stored as NULL (SQLite cannot store NaN); the layout says which columns are float, so a load maps
NULL back to NaN. A save is one transaction: concurrent writers serialise on the database, and a crash
mid-save leaves the half-written run absent.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event

from lstmlab.cells import GATES
from lstmlab.train import STEPS_FIXED_COLUMNS

DEFAULT_DB = os.path.join("lstmlab-data", "runs.db")
ENV_VAR = "LSTMLAB_DB"
FILTER_FIELDS = (
    "cell", "task", "seq_len", "hidden_size", "layers", "weight_scale", "init",
    "optimizer", "lr", "steps", "seed", "dtype",
)
TABLES = ("steps", "flow", "eval")
SQLITE_BUSY_TIMEOUT_MS = 60_000

_INT = sa.BigInteger
_FLOAT = sa.Double
_FILTER_TYPES = {
    "cell": sa.String(16), "task": sa.String(16), "seq_len": _INT, "hidden_size": _INT, "layers": _INT,
    "weight_scale": _FLOAT, "init": sa.String(16), "optimizer": sa.String(16), "lr": _FLOAT, "steps": _INT,
    "seed": _INT, "dtype": sa.String(16),
}
# Fixed columns of each table (from the contract); anything else goes to lstmlab_values.
_CORE = {
    "steps": {c: {"step": _INT, "clipped": sa.Boolean}.get(c, _FLOAT) for c in STEPS_FIXED_COLUMNS},
    "flow": {"step": _INT, "layer": _INT, "t": _INT, "lag": _INT, "dh_norm": _FLOAT, "dc_norm": _FLOAT,
             **{f"dg_{g}": _FLOAT for g in dict.fromkeys(g for gates in GATES.values() for g in gates)}},
    "eval": {"step": _INT, "loss": _FLOAT, "metric": _FLOAT},
}

metadata = sa.MetaData()
runs_table = sa.Table(
    "lstmlab_runs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", _FLOAT, nullable=False),
    sa.Column("wall_time", _FLOAT, nullable=False),
    sa.Column("config_key", sa.String(64), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("layout", sa.Text, nullable=False),
    *(sa.Column(name, typ) for name, typ in _FILTER_TYPES.items()),
    sa.Index("ix_lstmlab_runs_config_key", "config_key"),
    sa.Index("ix_lstmlab_runs_created_at", "created_at"),
)
data_tables = {
    name: sa.Table(
        f"lstmlab_{name}", metadata,
        sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
        sa.Column("pos", _INT, primary_key=True, autoincrement=False),
        *(sa.Column(col, typ, nullable=True) for col, typ in cols.items()),
    )
    for name, cols in _CORE.items()
}
values_table = sa.Table(
    "lstmlab_values", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
    sa.Column("tbl", sa.String(16), primary_key=True),
    sa.Column("pos", _INT, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", _FLOAT, nullable=True),
)
params_table = sa.Table(
    "lstmlab_params", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("pos", _INT, nullable=False),  # position in the params dict, so a load keeps its order
    sa.Column("shape", sa.Text, nullable=False),  # JSON list of ints
    sa.Column("dtype", sa.String(32), nullable=False),  # numpy dtype name, e.g. "float64"
    sa.Column("data", sa.LargeBinary, nullable=False),  # raw little-endian bytes, C order
)
# Kinds of numpy dtype a parameter array may have: bool, signed/unsigned int, float, complex.
_PARAM_KINDS = "biufc"


def default_url() -> str:
    """The store location: ``$LSTMLAB_DB`` if set, else ``./lstmlab-data/runs.db``."""
    return os.environ.get(ENV_VAR) or DEFAULT_DB


def to_sqlalchemy_url(location: str | os.PathLike) -> sa.URL:
    """A path or SQLAlchemy URL -> URL; for SQLite files the parent directory is created."""
    text = os.fspath(location)
    if "://" in text:
        url = sa.make_url(text)
    else:
        url = sa.URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not url.database.startswith("file:"):
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return url


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers work during a write; the busy timeout makes concurrent writers wait, not fail.
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.close()


class RunStore:
    """Saves, loads, lists and edits runs in a SQL database.

    ``url``: a file path or SQLAlchemy URL; None -> ``$LSTMLAB_DB`` or ``./lstmlab-data/runs.db``.
    One store per process (do not share it across ``fork``); threads may share it.
    """

    def __init__(self, url: str | os.PathLike | None = None) -> None:
        self.url = to_sqlalchemy_url(default_url() if url is None else url)
        self.engine = sa.create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)
        self._create_schema()

    def _create_schema(self) -> None:
        """Create the missing tables; safe when several processes open a new database at once.

        create_all checks, then creates, table by table: a process can lose that race once per table (each
        loss means another process created one more table), so as many retries as tables always suffice.
        """
        tries = len(metadata.tables) + 1
        for attempt in range(tries):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except sa.exc.DBAPIError:
                if attempt == tries - 1:
                    raise

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url.render_as_string(hide_password=True)!r})"

    # ---- writing -------------------------------------------------------------------------------------

    def save(self, run: Any) -> str:
        """Store ``run`` in one transaction (replacing any run with the same id); returns its id."""
        layout = {name: _layout(name, getattr(run, name)) for name in TABLES}
        config = run.config
        row = {
            "id": str(run.run_id), "name": str(run.name or ""), "tags": json.dumps(list(run.tags or ())),
            "status": str(run.status), "message": str(run.message or ""),
            "created_at": float(run.created_at), "wall_time": float(run.wall_time),
            "config_key": config.key, "config_json": json.dumps(config.to_dict(), sort_keys=True),
            "layout": json.dumps(layout),
            **{f: getattr(config, f) for f in FILTER_FIELDS},
        }
        core_rows, value_rows = {}, []
        for name in TABLES:
            core_rows[name], values = _split_rows(row["id"], name, getattr(run, name))
            value_rows.extend(values)
        param_rows = _param_rows(row["id"], getattr(run, "params", None))
        with self.engine.begin() as conn:
            self._delete_rows(conn, row["id"])  # a write first, so SQLite takes the write lock up front
            conn.execute(runs_table.insert(), [row])
            for name in TABLES:
                if core_rows[name]:
                    conn.execute(data_tables[name].insert(), core_rows[name])
            if value_rows:
                conn.execute(values_table.insert(), value_rows)
            if param_rows:
                conn.execute(params_table.insert(), param_rows)
        return row["id"]

    def rename(self, run_id: str, name: str) -> str:
        """Set a run's display name; returns the full run id."""
        return self._update(run_id, name=str(name))

    def tag(self, run_id: str, tags: Iterable[str]) -> str:
        """Replace a run's tags; returns the full run id."""
        if isinstance(tags, str):
            tags = [tags]
        return self._update(run_id, tags=json.dumps([str(t) for t in tags]))

    def delete(self, run_id: str) -> str:
        """Remove a run and its tables; returns the full run id."""
        full = self.resolve(run_id)
        with self.engine.begin() as conn:
            self._delete_rows(conn, full)
        return full

    def _update(self, run_id: str, **values: Any) -> str:
        full = self.resolve(run_id)
        with self.engine.begin() as conn:
            done = conn.execute(runs_table.update().where(runs_table.c.id == full).values(**values))
        if done.rowcount != 1:
            raise KeyError(f"no run with id {full!r} in {self!r}")
        return full

    @staticmethod
    def _delete_rows(conn: sa.Connection, run_id: str) -> None:
        for table in (params_table, values_table, *data_tables.values()):
            conn.execute(table.delete().where(table.c.run_id == run_id))
        conn.execute(runs_table.delete().where(runs_table.c.id == run_id))

    # ---- reading -------------------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """Full id for an id or unique id prefix (as git does); unknown or ambiguous -> ``KeyError``."""
        text = str(run_id).strip()
        if not text:
            raise KeyError("empty run id")
        with self.engine.connect() as conn:
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
        whose ``params`` equal the saved arrays (dtype, shape and order; ``None`` if saved without)."""
        from lstmlab.config import RunConfig
        from lstmlab.train import Run

        full = self.resolve(run_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.id == full)).mappings().first()
            if row is None:
                raise KeyError(f"no run with id {full!r} in {self!r} (deleted meanwhile)")
            layout = json.loads(row["layout"])
            tables = {name: _read_table(conn, full, name, layout[name]) for name in TABLES}
            params = _read_params(conn, full)
        return Run(
            run_id=row["id"], config=RunConfig.from_dict(json.loads(row["config_json"])),
            status=row["status"], message=row["message"], created_at=row["created_at"],
            wall_time=row["wall_time"], name=row["name"], tags=tuple(json.loads(row["tags"])), **tables,
            params=params,
        )

    def load_params(self, run_id: str) -> dict[str, np.ndarray] | None:
        """Only the stored parameters of a run (``None`` if it was saved without); ``KeyError`` if unknown."""
        full = self.resolve(run_id)
        with self.engine.connect() as conn:
            return _read_params(conn, full)

    def find(self, config_or_key: Any, status: str | None = None) -> list[str]:
        """Ids of the runs of a config (a ``RunConfig`` or its ``.key``), newest first; for de-duplication."""
        key = getattr(config_or_key, "key", config_or_key)
        query = sa.select(runs_table.c.id).where(runs_table.c.config_key == str(key))
        if status is not None:
            query = query.where(runs_table.c.status == status)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query.order_by(runs_table.c.created_at.desc()))]

    def list(self, tag: str | None = None, name: str | None = None, with_params: bool | None = None,
             **filters: Any) -> pd.DataFrame:
        """One row per run, newest first: id, name, tags (comma-separated), status, message, created_at,
        wall_time, config_key and every scalar ``RunConfig`` field.

        Filters: ``status`` and any of ``FILTER_FIELDS`` (a value or a list of accepted values) run in SQL;
        ``tag`` keeps runs carrying that tag, ``name`` runs whose name contains that text; ``with_params``
        True keeps runs stored with their parameters, False those without.
        """
        unknown = sorted(set(filters) - set(FILTER_FIELDS) - {"status", "config_key"})
        if unknown:
            raise ValueError(f"unknown run filter(s) {unknown}: expected some of "
                             f"{['status', 'tag', 'name', *FILTER_FIELDS]}")
        cols = runs_table.c
        query = sa.select(cols.id, cols.name, cols.tags, cols.status, cols.message, cols.created_at,
                          cols.wall_time, cols.config_key, cols.config_json)
        for field, value in filters.items():
            if value is None:
                continue
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            query = query.where(cols[field].in_(values))
        if with_params is not None:
            stored = sa.exists().where(params_table.c.run_id == cols.id)
            query = query.where(stored if with_params else ~stored)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(cols.created_at.desc(), cols.id)).mappings().all()
        records = []
        for r in rows:
            tags = json.loads(r["tags"])
            if tag is not None and tag not in tags:
                continue
            if name is not None and name.lower() not in r["name"].lower():
                continue
            config = json.loads(r["config_json"])
            records.append({
                "id": r["id"], "name": r["name"], "tags": ",".join(tags), "status": r["status"],
                "message": r["message"], "created_at": r["created_at"], "wall_time": r["wall_time"],
                "config_key": r["config_key"], **_scalar_config(config),
            })
        return pd.DataFrame.from_records(records, columns=list_columns())


def list_columns() -> list[str]:
    """Columns of ``RunStore.list()``."""
    return ["id", "name", "tags", "status", "message", "created_at", "wall_time", "config_key",
            *scalar_config_fields()]


def scalar_config_fields() -> list[str]:
    """The ``RunConfig`` fields that hold one value (all but ``series``), in declaration order."""
    from lstmlab.config import RunConfig

    return [f.name for f in dataclasses.fields(RunConfig) if f.name != "series"]


def _scalar_config(config: dict[str, Any]) -> dict[str, Any]:
    from lstmlab.config import RunConfig

    defaults = RunConfig().to_dict()
    return {f: config.get(f, defaults[f]) for f in scalar_config_fields()}


def _layout(name: str, df: pd.DataFrame) -> list[list[str]]:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"run.{name}: expected a pandas DataFrame, got {type(df).__name__}")
    if not df.columns.is_unique:
        raise ValueError(f"run.{name}: duplicate column names")
    layout = []
    for col in df.columns:
        dtype = df[col].dtype
        if col not in _CORE[name] and not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(f"run.{name}[{col!r}]: extra columns must be numeric, got dtype {dtype}")
        layout.append([str(col), str(dtype)])
    return layout


def _split_rows(run_id: str, name: str, df: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Rows of the core table and of the long values table for one DataFrame (NaN -> None)."""
    core = [c for c in df.columns if c in _CORE[name]]
    extra = [c for c in df.columns if c not in _CORE[name]]
    n = len(df)
    columns = [[None if v != v else v for v in df[c].tolist()] for c in core]  # tolist: Python scalars
    keys = ["run_id", "pos", *core]
    core_rows = [dict(zip(keys, (run_id, i, *values))) for i, values in enumerate(zip(*columns))] if core else [
        {"run_id": run_id, "pos": i} for i in range(n)]
    value_rows = []
    for col in extra:
        values = df[col].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
        value_rows.extend({"run_id": run_id, "tbl": name, "pos": i, "name": str(col), "value": None if v != v else v}
                          for i, v in enumerate(values))
    return core_rows, value_rows


def _param_rows(run_id: str, params: Any) -> list[dict]:
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


def _read_params(conn: sa.Connection, run_id: str) -> dict[str, np.ndarray] | None:
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


def _read_table(conn: sa.Connection, run_id: str, name: str, layout: list[list[str]]) -> pd.DataFrame:
    table = data_tables[name]
    core = [c for c, _ in layout if c in _CORE[name]]
    extra = [c for c, _ in layout if c not in _CORE[name]]
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
        if pd.api.types.is_float_dtype(dtype) and not isinstance(values, np.ndarray):
            values = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
        out[col] = pd.Series(values, dtype=None if len(values) else object).astype(dtype)
    return pd.DataFrame(out, columns=[c for c, _ in layout], index=pd.RangeIndex(n))
