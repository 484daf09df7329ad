"""The run store as first released: runs, steps, flow, eval, values and params.

Frozen here (not imported from lstmlab.store.schema, which describes the newest revision). Creates only the tables a
database lacks, so a store written before revisions were recorded (all of these tables, or all but
lstmlab_params, the last one added) upgrades through it without losing a row.
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_INT, _FLOAT = sa.BigInteger, sa.Double
_FILTER_TYPES = {
    "cell": sa.String(16), "task": sa.String(16), "seq_len": _INT, "hidden_size": _INT, "layers": _INT,
    "weight_scale": _FLOAT, "init": sa.String(16), "optimizer": sa.String(16), "lr": _FLOAT, "steps": _INT,
    "seed": _INT, "dtype": sa.String(16),
}
_CORE = {
    "steps": {"step": _INT, "loss": _FLOAT, "metric": _FLOAT, "grad_norm": _FLOAT, "clipped": sa.Boolean,
              "forget_mean": _FLOAT, "wall_time": _FLOAT},
    "flow": {"step": _INT, "layer": _INT, "t": _INT, "lag": _INT, "dh_norm": _FLOAT, "dc_norm": _FLOAT,
             **{f"dg_{g}": _FLOAT for g in ("h", "i", "f", "n", "o", "r", "z")}},
    "eval": {"step": _INT, "loss": _FLOAT, "metric": _FLOAT},
}


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
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
    for name, cols in _CORE.items():
        sa.Table(
            f"lstmlab_{name}", metadata,
            sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
            sa.Column("pos", _INT, primary_key=True, autoincrement=False),
            *(sa.Column(col, typ, nullable=True) for col, typ in cols.items()),
        )
    sa.Table(
        "lstmlab_values", metadata,
        sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
        sa.Column("tbl", sa.String(16), primary_key=True),
        sa.Column("pos", _INT, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", _FLOAT, nullable=True),
    )
    sa.Table(
        "lstmlab_params", metadata,
        sa.Column("run_id", sa.String(64), sa.ForeignKey("lstmlab_runs.id"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("pos", _INT, nullable=False),
        sa.Column("shape", sa.Text, nullable=False),
        sa.Column("dtype", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    return metadata


def upgrade() -> None:
    _metadata().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _metadata().drop_all(op.get_bind())
