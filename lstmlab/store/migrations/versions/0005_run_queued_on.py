"""Where a queued run waits, on lstmlab_runs: "KIND PLACE" of its queue (the kind and place as whoever queued it
names them), "" for older runs."""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lstmlab_runs", sa.Column("queued_on", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("lstmlab_runs") as batch:
        batch.drop_column("queued_on")
