"""The engine that trained a run and its version: two text columns on lstmlab_runs, "" for older runs."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("engine", "engine_version"):
        op.add_column("lstmlab_runs", sa.Column(name, sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("lstmlab_runs") as batch:
        batch.drop_column("engine_version")
        batch.drop_column("engine")
