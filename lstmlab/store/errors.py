"""What goes wrong in the run store, and the driver's errors told as messages fit to show.

Every failure to open or use the database is a ``StoreError`` (``StoreUnavailable`` when it may pass by itself);
its message names the store by its shown location and never holds a password: the driver's text is scrubbed of
the URL's secrets, and the driver's exception is not chained, since it may carry the connection's password.
"""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa


class StoreError(Exception):
    """The run store cannot be opened or used: a bad location, an unreachable server, a refused login, a
    missing driver, an unreadable or foreign file, a read-only store, a schema newer than this code.

    The message is written for the person running lstmlab (show it without a traceback) and never holds a
    password; the driver's exception is not chained, since it may carry the connection's password.
    """


class StoreUnavailable(StoreError):
    """The store did not answer this time, and may a moment later: its server is unreachable, restarting or
    full of connections, it dropped the connection, a transaction lost a deadlock, a SQLite writer held the lock
    for the whole busy timeout. Worth retrying; every other ``StoreError`` (a refused login, a missing database,
    table or column, a refused permission) stays until someone fixes it."""


class StaleAttempt(Exception):
    """A job's write refused: its run was resubmitted (a newer attempt owns it) or ended meanwhile."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def is_transient(error: sa.exc.DBAPIError, dialect: str) -> bool:
    """Whether a database error may go away by itself (``StoreUnavailable``).

    SQLite: only a lock held past the busy timeout. PostgreSQL names most errors by SQLSTATE: class 08
    (connection exception), 57P01-57P03 (the server shutting down, crashed or starting up), 53300 (too many
    connections), 40001/40P01 (serialization failure, deadlock). A failed connection has no SQLSTATE: it is
    transient unless the server answered it with a FATAL refusal (a wrong password, an unknown role or database).
    """
    if error.connection_invalidated:
        return True
    low = str(error.orig).lower()
    if dialect == "sqlite":
        return "locked" in low
    state = getattr(error.orig, "sqlstate", None)
    if state:
        return state.startswith("08") or state in ("57P01", "57P02", "57P03", "53300", "40001", "40P01")
    if not isinstance(error, sa.exc.OperationalError):
        return False
    if "fatal:" in low:
        return any(s in low for s in ("starting up", "shutting down", "too many clients", "recovery mode"))
    return True


def explain(error: sa.exc.DBAPIError, url: sa.URL, shown: str, secrets: Iterable[str], busy_timeout_ms: int,
            setting: str) -> str:
    """One line saying what ``error`` means for the store at ``url`` (shown as ``shown``) and what to do.

    ``secrets``: the URL's passwords, scrubbed from the driver's text; ``busy_timeout_ms``: how long a SQLite
    writer waits for the lock; ``setting``: the environment variable that names the store.
    """
    detail = scrub(str(error.orig).strip(), secrets)
    first = detail.splitlines()[0] if detail else type(error.orig).__name__
    low = detail.lower()
    if url.get_backend_name() == "sqlite":
        if "not a database" in low or "malformed" in low:
            return f"{shown} is not a SQLite database, or it is corrupt ({first})"
        if "unable to open" in low:
            return f"cannot open {shown}: the file or its folder is missing or not readable"
        if "readonly" in low:
            return f"{shown} is read-only: runs can be listed and loaded, not saved or changed"
        if "locked" in low:
            return f"{shown} stayed locked by another writer for {busy_timeout_ms / 1000:g} s"
        return f"database error in {shown}: {first}"
    server = f"the database server at {url.host or 'localhost'}:{url.port or 'default port'}"
    if "database" in low and "does not exist" in low:
        return f"database {url.database!r} does not exist on {server}: create it or fix {setting}"
    if "password authentication failed" in low:
        return (f"{server} refused the password of user {url.username!r} (the password is not shown; "
                f"check PGPASSWORD or ~/.pgpass)")
    if "no password supplied" in low:
        return f"{server} wants a password for user {url.username!r}: set PGPASSWORD or add it to ~/.pgpass"
    if any(s in low for s in ("connection refused", "could not connect", "timeout expired", "no route to host",
                              "could not translate host name", "name or service not known")):
        return f"cannot reach {server}: is it running and accepting TCP/IP connections? ({first})"
    if any(s in low for s in ("terminating connection", "server closed the connection", "starting up",
                              "shutting down", "consuming input failed", "connection is lost")):
        return f"{server} dropped the connection or is restarting ({first})"
    return f"database error in {shown}: {first}"


def translated_error(error: sa.exc.DBAPIError, url: sa.URL, shown: str, secrets: Iterable[str],
                     busy_timeout_ms: int, setting: str) -> StoreError:
    """The ``StoreError`` (or ``StoreUnavailable``) to raise, ``from None``, in place of a driver error."""
    kind = StoreUnavailable if is_transient(error, url.get_backend_name()) else StoreError
    return kind(explain(error, url, shown, secrets, busy_timeout_ms, setting))
