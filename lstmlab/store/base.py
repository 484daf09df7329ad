"""The run store's connection to its database: the engine, read and write transactions, locks, the schema upgrade.

A write is one transaction, and concurrent writers serialise on the database: SQLite's write lock, taken at the
start of every write transaction (``BEGIN IMMEDIATE``), or on PostgreSQL a transaction-scoped advisory lock per
name (``_lock``: a run id, a config key, a user, a sweep). A crash mid-write leaves nothing of it. A read is one
snapshot (SQLite: one read transaction; PostgreSQL: ``REPEATABLE READ``): a run being replaced or deleted meanwhile
reads whole as before, whole as after, or not at all.

Opening a store upgrades its schema to the newest revision (``lstmlab.store.migrations``) under a lock, so
processes opening a new database at once all succeed. Opening reads only when the store is current, so a
read-only SQLite file lists and loads. A store newer than this code is refused, untouched. Every database error
leaves as a ``StoreError`` whose message is fit to show (``lstmlab.store.errors``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
import time
import urllib.parse
from typing import Any, Iterator, Self

import sqlalchemy as sa
from sqlalchemy import event

from lstmlab.store import migrations
from lstmlab.store.errors import StoreError, scrub, translated_error
from lstmlab.store.location import ENV_VAR, default_url, display_location, sqlite_file, to_sqlalchemy_url, url_secrets

SQLITE_BUSY_TIMEOUT_MS = 60_000


def lock_key(name: str) -> int:
    """A PostgreSQL advisory-lock key (signed 64-bit) for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any, wal: bool = True) -> None:
    # Transactions are begun explicitly (_sqlite_on_begin), so that a read is one snapshot. WAL lets readers
    # work during a write; the busy timeout makes concurrent writers wait, not fail.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    if wal:
        _enter_wal(cur)
    cur.close()


def _enter_wal(cur: sqlite3.Cursor) -> None:
    # Entering WAL upgrades a shared lock to an exclusive one; SQLite answers "locked" at once, without the busy
    # handler, when another connection is doing the same (the two would deadlock), as happens when several open a
    # new database together. So it is retried here, within the busy timeout.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.05)


def _sqlite_on_begin(conn: sa.Connection) -> None:
    # A writer takes the write lock up front (waiting up to the busy timeout); a reader a deferred snapshot.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("lstmlab_write") else "BEGIN")


def _sqlite_read_only_connect(path: str) -> sqlite3.Connection:
    """A read-only connection to a SQLite file this process may not write.

    A WAL database needs its shared-memory file (``-shm``), which SQLite cannot create in a folder we may not
    write; when there is no ``-wal`` file either, every committed page is in the main file, so it is read as
    immutable (no locks, no shared memory).
    """
    uri = f"file:{urllib.parse.quote(path)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        if os.path.exists(f"{path}-wal"):
            raise
        conn = sqlite3.connect(f"{uri}&immutable=1", uri=True, check_same_thread=False)
    return conn


class StoreBase:
    """A database opened as a run store: ``url`` (a SQLAlchemy URL), ``location`` (the URL as safe to show),
    ``read_only`` (an existing SQLite file this process may not write: reads work, a write raises
    ``StoreError``), ``engine``; its schema is current once the constructor returns."""

    def __init__(self, url: str | os.PathLike | sa.URL | None = None) -> None:
        self.url = to_sqlalchemy_url(default_url() if url is None else url)
        self.location = display_location(self.url)
        self._secrets = url_secrets(self.url)
        path = sqlite_file(self.url)
        self.read_only = path is not None and os.path.exists(path) and not os.access(path, os.W_OK)
        self.engine = self._create_engine(path)
        self._postgres = self.engine.dialect.name == "postgresql"
        try:
            self._upgrade_schema()
        except BaseException:
            self.engine.dispose()
            raise

    def _create_engine(self, path: str | None) -> sa.Engine:
        try:
            if self.read_only:
                engine = sa.create_engine(self.url, creator=functools.partial(_sqlite_read_only_connect, path))
            elif path is not None or self.url.get_backend_name() == "sqlite":
                engine = sa.create_engine(self.url)
            else:  # a server may restart: a pooled connection is tested before use, and replaced if it died
                engine = sa.create_engine(self.url, pool_pre_ping=True)
        except ImportError as e:
            raise StoreError(f"{self.location}: its database driver {e.name or ''} is not installed (for "
                             f"PostgreSQL: pip install 'psycopg[binary]')") from None
        except sa.exc.ArgumentError as e:
            raise StoreError(f"{self.location}: {scrub(str(e), self._secrets)}") from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", functools.partial(_sqlite_on_connect, wal=not self.read_only))
            event.listen(engine, "begin", _sqlite_on_begin)
        return engine

    def _upgrade_schema(self) -> None:
        """Bring the schema to ``migrations.HEAD``; reads only when it is there already.

        The upgrade runs in one transaction holding the schema lock (SQLite's write lock; a PostgreSQL advisory
        lock) and re-reads the revision under it, so of several processes opening a new database at once one
        creates the tables and the others find them.
        """
        with self._reading() as conn:
            found = migrations.current_revision(conn)
        self._check_revision(found)
        if found == migrations.HEAD:
            return
        if self.read_only:
            raise StoreError(f"{self.location} is read-only and at schema revision {found or '0001'}, older "
                             f"than this lstmlab's {migrations.HEAD}: open it once with write access to upgrade it")
        with self._writing() as conn:
            self._lock(conn, "lstmlab schema")
            found = migrations.current_revision(conn)
            self._check_revision(found)
            if found != migrations.HEAD:
                migrations.upgrade(conn)

    def _check_revision(self, found: str | None) -> None:
        if not migrations.is_known(found):
            raise StoreError(f"{self.location} has schema revision {found}, newer than this lstmlab knows (its "
                             f"newest is {migrations.HEAD}): upgrade lstmlab to use this store; nothing was changed")

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Database errors -> ``StoreError`` with a clear, password-free message."""
        try:
            yield
        except sa.exc.DBAPIError as e:
            raise translated_error(e, self.url, self.location, self._secrets, SQLITE_BUSY_TIMEOUT_MS,
                                   ENV_VAR) from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A connection in one read transaction: every query sees the same snapshot of the store."""
        with self._translated(), self.engine.connect() as conn:
            if self._postgres:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _writing(self, run_id: str | None = None) -> Iterator[sa.Connection]:
        """A connection in one write transaction; with ``run_id``, serialised with every other writer of it."""
        if self.read_only:
            raise StoreError(f"{self.location} is read-only: runs can be listed and loaded, not saved or changed")
        with self._translated(), self.engine.connect() as conn:
            conn.execution_options(lstmlab_write=True)
            with conn.begin():
                if run_id is not None:
                    self._lock(conn, f"lstmlab run {run_id}")
                yield conn

    def _lock(self, conn: sa.Connection, name: str) -> None:
        """Serialise the rest of this write transaction with every other one that locks ``name``. PostgreSQL: a
        transaction-scoped advisory lock; SQLite: nothing to do, since every write transaction holds the
        database's write lock from its start (``BEGIN IMMEDIATE``)."""
        if self._postgres:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(name))))

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
