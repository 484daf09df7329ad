"""The owner of a run: the signed-in email of whoever saved it first, "" for runs made without sign-in."""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lstmlab_runs", sa.Column("owner", sa.Text, nullable=False, server_default=""))
    op.create_index("ix_lstmlab_runs_owner", "lstmlab_runs", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_lstmlab_runs_owner", table_name="lstmlab_runs")
    with op.batch_alter_table("lstmlab_runs") as batch:
        batch.drop_column("owner")
