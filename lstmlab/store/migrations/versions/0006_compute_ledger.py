"""The compute ledger, lstmlab_compute: one row per job attempt that started (run id, attempt, owner, started_at,
seconds used, ended_at), kept when its run is deleted. Runs trained before it have no rows."""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lstmlab_compute",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("attempt", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("seconds", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double, nullable=True),
    )
    op.create_index("ix_lstmlab_compute_owner_started_at", "lstmlab_compute", ["owner", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_lstmlab_compute_owner_started_at", table_name="lstmlab_compute")
    op.drop_table("lstmlab_compute")
