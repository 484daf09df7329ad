"""The run store's tables as the newest schema revision has them (``lstmlab.store.migrations`` builds them).

Tables are prefixed ``lstmlab_`` so a shared database stays tidy; every type is dialect-neutral, so one schema
serves SQLite and PostgreSQL.

- ``lstmlab_runs``: one row per run: id, name, tags (JSON list), status, message, created_at, wall_time,
  config_json, config_key, the distinguishing config fields as real columns (``FILTER_FIELDS``), engine and
  engine_version (the code that trained it, "" if unknown), owner (the signed-in email of whoever saved it
  first, "" without sign-in), ``layout`` (JSON: column names and dtypes of the three tables, so a load restores
  them exactly) and the job columns: ``step`` (steps done), ``heartbeat``, ``stop_requested``, ``attempt``,
  ``sweep``, ``worker``, ``queued_on`` (where a queued run waits: "KIND PLACE", see ``lstmlab.store.lost``).
- ``lstmlab_steps``, ``lstmlab_flow``, ``lstmlab_eval``: one row per DataFrame row, keyed by (run_id, pos) where
  pos is the row's position; the contract's fixed columns (``CORE_COLUMNS``) are real columns.
- ``lstmlab_values``: long side table (run_id, tbl, pos, name, value) for every other numeric column, e.g. the
  model-dependent ``gnorm:<param>`` and ``sigma_max:l<k>`` columns of steps.
- ``lstmlab_params``: the run's final parameters (``Run.params``), one row per array: (run_id, name, pos, shape as
  a JSON list, dtype name, data) where data holds the array's raw little-endian bytes in C order (a BLOB in SQLite,
  bytea in PostgreSQL). A run saved without parameters has no rows and loads with ``params=None``.
- ``lstmlab_sweeps``: named sweeps with their spec.
- ``lstmlab_compute``: the compute ledger, one row per job attempt that started: (run_id, attempt, owner,
  started_at, seconds, ended_at); ``seconds`` grows with the job's heartbeat and is final when it ends. It has no
  foreign key: deleting a run leaves its rows, so a user's compute quota still counts them.
"""
from __future__ import annotations

import sqlalchemy as sa

from lstmlab.core.config import GATES
from lstmlab.runs.records import STEPS_FIXED_COLUMNS

TABLES = ("steps", "flow", "eval")  # a run's three tables, as Run attributes and table name suffixes
FILTER_FIELDS = (
    "cell", "task", "seq_len", "hidden_size", "layers", "weight_scale", "init",
    "optimizer", "lr", "steps", "seed", "dtype",
)

_INT = sa.BigInteger
FLOAT = sa.Double
_FILTER_TYPES = {
    "cell": sa.String(16), "task": sa.String(16), "seq_len": _INT, "hidden_size": _INT, "layers": _INT,
    "weight_scale": FLOAT, "init": sa.String(16), "optimizer": sa.String(16), "lr": FLOAT, "steps": _INT,
    "seed": _INT, "dtype": sa.String(16),
}
# Fixed columns of each table (from the contract); anything else goes to lstmlab_values.
CORE_COLUMNS = {
    "steps": {c: {"step": _INT, "clipped": sa.Boolean}.get(c, FLOAT) for c in STEPS_FIXED_COLUMNS},
    "flow": {"step": _INT, "layer": _INT, "t": _INT, "lag": _INT, "dh_norm": FLOAT, "dc_norm": FLOAT,
             **{f"dg_{g}": FLOAT for g in dict.fromkeys(g for gates in GATES.values() for g in gates)}},
    "eval": {"step": _INT, "loss": FLOAT, "metric": FLOAT},
}

metadata = sa.MetaData()
runs_table = sa.Table(
    "lstmlab_runs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", FLOAT, nullable=False),
    sa.Column("wall_time", FLOAT, nullable=False),
    sa.Column("config_key", sa.String(64), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("layout", sa.Text, nullable=False),
    *(sa.Column(name, typ) for name, typ in _FILTER_TYPES.items()),
    sa.Column("engine", sa.Text, nullable=False, server_default=""),
    sa.Column("engine_version", sa.Text, nullable=False, server_default=""),
    sa.Column("owner", sa.Text, nullable=False, server_default=""),
    sa.Column("step", _INT, nullable=False, server_default="0"),  # steps done so far
    sa.Column("heartbeat", FLOAT, nullable=False, server_default="0"),  # time.time() of the job's last beat
    sa.Column("stop_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempt", _INT, nullable=False, server_default="0"),  # bumped by a resubmission
    sa.Column("sweep", sa.Text, nullable=False, server_default=""),
    sa.Column("worker", sa.Text, nullable=False, server_default=""),  # host:pid of the job's process
    sa.Column("queued_on", sa.Text, nullable=False, server_default=""),  # "KIND PLACE" of its queue, "" nowhere
    sa.Index("ix_lstmlab_runs_config_key", "config_key"),
    sa.Index("ix_lstmlab_runs_created_at", "created_at"),
    sa.Index("ix_lstmlab_runs_owner", "owner"),
    sa.Index("ix_lstmlab_runs_sweep", "sweep"),
    sa.Index("ix_lstmlab_runs_status", "status"),
)
data_tables = {
    name: sa.Table(
        f"lstmlab_{name}", metadata,
        sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
        sa.Column("pos", _INT, primary_key=True, autoincrement=False),
        *(sa.Column(col, typ, nullable=True) for col, typ in cols.items()),
    )
    for name, cols in CORE_COLUMNS.items()
}
values_table = sa.Table(
    "lstmlab_values", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
    sa.Column("tbl", sa.String(16), primary_key=True),
    sa.Column("pos", _INT, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", FLOAT, nullable=True),
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
sweeps_table = sa.Table(
    "lstmlab_sweeps", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the grid, seeds and fixed fields the jobs layer sweeps
    sa.Column("owner", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", FLOAT, nullable=False),
)
compute_table = sa.Table(
    "lstmlab_compute", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),  # no foreign key: a deleted run's compute stays counted
    sa.Column("attempt", _INT, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("started_at", FLOAT, nullable=False),
    sa.Column("seconds", FLOAT, nullable=False),  # time since started_at at the job's last beat, or at its end
    sa.Column("ended_at", FLOAT, nullable=True),  # None while the job runs (or when it vanished)
    sa.Index("ix_lstmlab_compute_owner_started_at", "owner", "started_at"),
)
