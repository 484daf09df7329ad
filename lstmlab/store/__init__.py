"""Persistent run store: runs, their configs and their three tables in one SQL database, and the job queue.

The database is an embedded SQLite file by default; ``LSTMLAB_DB`` (or ``RunStore(url)``) may name another path or
any SQLAlchemy URL, e.g. a PostgreSQL database a team shares. All SQL goes through SQLAlchemy Core with
dialect-neutral types. ``RunStore`` is the one public class; its modules, one per concern:

- ``base``: the engine, read and write transactions (one snapshot per read, serialised writers, SQLite pragmas,
  PostgreSQL advisory locks) and the schema upgrade on opening;
- ``location``: where the store is, shown without its password; ``errors``: ``StoreError`` and the driver's errors
  told without a password;
- ``schema``: the tables; ``migrations``: their Alembic revisions; ``codec``: runs, tables and parameters to rows
  and back;
- ``permissions``: who may change a run (``Actor``); ``labels``: names and tags;
- ``runs``: saving, changing and reading runs; ``lost``: when a run reads as "lost";
- ``queue``: queueing, stopping and resubmitting runs as jobs; ``attempts``: what a job writes into its run;
  ``ledger``: the compute ledger and what a user holds; ``sweeps``: named sweeps.

Every failure to open or use the database is a ``StoreError`` whose message is fit to show as is; no message, repr
or log line of the store contains the password of its URL (``display_location``).
"""
from lstmlab.runs.status import ATTACHING_STATUSES
from lstmlab.store import migrations
from lstmlab.store.base import SQLITE_BUSY_TIMEOUT_MS
from lstmlab.store.codec import ENGINE_FIELDS, RUN_EXTRAS, list_columns, scalar_config_fields
from lstmlab.store.errors import StaleAttempt, StoreError, StoreUnavailable
from lstmlab.store.labels import MAX_TAGS, NAME_MAX_CHARS, TAG_MAX_CHARS, check_labels
from lstmlab.store.ledger import Attempt, Holdings
from lstmlab.store.location import DEFAULT_DB, ENV_VAR, default_url, display_location, to_sqlalchemy_url
from lstmlab.store.lost import LOST_AFTER_ENV, LOST_AFTER_S, PROCESS_QUEUES
from lstmlab.store.permissions import Actor, may_change, normalise_email
from lstmlab.store.queue import Admit
from lstmlab.store.run_store import RunStore
from lstmlab.store.schema import (
    FILTER_FIELDS,
    TABLES,
    compute_table,
    data_tables,
    metadata,
    params_table,
    runs_table,
    sweeps_table,
    values_table,
)

__all__ = [
    "ATTACHING_STATUSES", "DEFAULT_DB", "ENGINE_FIELDS", "ENV_VAR", "FILTER_FIELDS", "LOST_AFTER_ENV", "LOST_AFTER_S",
    "MAX_TAGS", "NAME_MAX_CHARS", "PROCESS_QUEUES", "RUN_EXTRAS", "SQLITE_BUSY_TIMEOUT_MS", "TABLES",
    "TAG_MAX_CHARS", "Actor", "Admit", "Attempt", "Holdings", "RunStore", "StaleAttempt", "StoreError",
    "StoreUnavailable",
    "check_labels", "compute_table", "data_tables", "default_url", "display_location", "list_columns", "may_change",
    "metadata", "migrations", "normalise_email", "params_table", "runs_table", "scalar_config_fields",
    "sweeps_table", "to_sqlalchemy_url", "values_table",
]
