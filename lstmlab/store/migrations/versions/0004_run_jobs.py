"""Runs as jobs: progress, heartbeat, stop request, attempt, sweep and worker on lstmlab_runs ("" / 0 for older
runs); lstmlab_sweeps, one row per named sweep with its grid (JSON)."""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column, ...]:
    return (
        sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("heartbeat", sa.Double, nullable=False, server_default="0"),
        sa.Column("stop_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attempt", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("sweep", sa.Text, nullable=False, server_default=""),
        sa.Column("worker", sa.Text, nullable=False, server_default=""),
    )


def upgrade() -> None:
    for column in _columns():
        op.add_column("lstmlab_runs", column)
    op.create_index("ix_lstmlab_runs_sweep", "lstmlab_runs", ["sweep"])
    op.create_index("ix_lstmlab_runs_status", "lstmlab_runs", ["status"])
    op.create_table(
        "lstmlab_sweeps",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lstmlab_sweeps")
    op.drop_index("ix_lstmlab_runs_status", table_name="lstmlab_runs")
    op.drop_index("ix_lstmlab_runs_sweep", table_name="lstmlab_runs")
    with op.batch_alter_table("lstmlab_runs") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
