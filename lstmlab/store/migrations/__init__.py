"""Schema revisions of the run store, applied with Alembic when a store is opened.

The revisions live in ``versions/`` inside the package (no alembic.ini: an installed lstmlab migrates its
own stores). The database records its revision in the table ``lstmlab_alembic_version`` (prefixed like every
lstmlab table, so another Alembic-managed application may share the database).

- ``0001``: the schema of the first release (runs, steps, flow, eval, values, params). A store written
  before revisions were recorded has lstmlab tables and no version table; upgrading it runs ``0001``,
  which creates only the tables it lacks, so such a store is recognised as revision 0001.
- ``0002``: ``engine`` and ``engine_version`` text columns on ``lstmlab_runs`` ("" for older runs).
- ``0003``: ``owner`` on ``lstmlab_runs`` (the signed-in email; "" for older runs and anonymous ones), indexed.
- ``0004``: runs as jobs: ``step``, ``heartbeat``, ``stop_requested``, ``attempt``, ``sweep`` and ``worker`` on
  ``lstmlab_runs`` (0 / "" for older runs), and the table ``lstmlab_sweeps`` (name, spec, owner, created_at).
- ``0005``: ``queued_on`` on ``lstmlab_runs``: where a queued run waits, "KIND PLACE" of its queue ("" for older
  runs).
- ``0006``: the compute ledger ``lstmlab_compute`` (one row per job attempt that started: owner, started_at,
  seconds, ended_at), which the quotas read and deleting a run leaves alone.

A new revision is a new file in ``versions/`` (the next number as ``revision``, the previous one as
``down_revision``); ``RunStore`` upgrades every store it opens to ``HEAD``.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

DIRECTORY = Path(__file__).resolve().parent
VERSION_TABLE = "lstmlab_alembic_version"


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(DIRECTORY))
    config.attributes["connection"] = connection
    return config


def script() -> ScriptDirectory:
    """The revisions shipped with this lstmlab."""
    return ScriptDirectory.from_config(_config())


HEAD: str = script().get_current_head()


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in the database (reads only); None if it records none."""
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def is_known(revision: str | None) -> bool:
    """Whether this lstmlab ships ``revision`` (None, an empty or unrecorded store, counts as known)."""
    if revision is None:
        return True
    try:
        return script().get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(conn: sa.Connection, target: str = "head") -> None:
    """Run the missing revisions up to ``target`` on ``conn``, inside the caller's transaction."""
    command.upgrade(_config(conn), target)
