"""Alembic environment: migrate the connection handed over in ``config.attributes`` (see lstmlab.store.migrations)."""
from alembic import context

from lstmlab.store.migrations import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("lstmlab migrations run through lstmlab.store.migrations.upgrade(connection), "
                       "not the alembic CLI")
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
