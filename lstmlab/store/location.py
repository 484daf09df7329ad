"""Where the run store is: a file path or SQLAlchemy URL, how it is shown, and the secrets it holds.

A location is shown only through ``display_location``, which hides its password; ``url_secrets`` lists the
passwords so that a driver's message can be scrubbed of them (``errors.scrub``).
"""
from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import sqlalchemy as sa

from lstmlab.store.errors import StoreError

DEFAULT_DB = os.path.join("lstmlab-data", "runs.db")
ENV_VAR = "LSTMLAB_DB"


def default_url() -> str:
    """The store location: ``$LSTMLAB_DB`` if set, else ``./lstmlab-data/runs.db``."""
    return os.environ.get(ENV_VAR) or DEFAULT_DB


def parse_location(location: str | os.PathLike | sa.URL) -> sa.URL:
    """A path or SQLAlchemy URL -> URL (a path becomes an absolute SQLite file URL); nothing is created."""
    if isinstance(location, sa.URL):
        return location
    text = os.fspath(location)
    if "://" not in text:
        return sa.URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    try:
        return sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        scheme = text.split("://", 1)[0]
        raise StoreError(f"the store location is not a valid {scheme} URL (it is not shown, since it may "
                         f"hold a password): expected e.g. postgresql+psycopg://user@host:5432/dbname") from None


def to_sqlalchemy_url(location: str | os.PathLike | sa.URL) -> sa.URL:
    """A path or SQLAlchemy URL -> URL; for SQLite files the parent directory is created."""
    url = parse_location(location)
    if sqlite_file(url) is not None:
        try:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder of {display_location(url)}: {e.strerror}") from None
    return url


def display_location(location: str | os.PathLike | sa.URL) -> str:
    """The store location as safe to show anyone: its SQLAlchemy URL with the password (and any ``password``
    query parameter) replaced by ``***``, e.g. ``postgresql+psycopg://lab:***@db:5432/lstmlab``."""
    url = parse_location(location)
    hidden = {k: "***" for k in url.query if "password" in k.lower()}
    shown = (url.update_query_dict(hidden) if hidden else url).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", "=***")


def url_secrets(url: sa.URL) -> list[str]:
    """Every password of a URL, as given and URL-quoted, longest first, for scrubbing driver messages."""
    values = [url.password, *(v for k, v in url.query.items() if "password" in k.lower())]
    found = [str(v) for v in values if v and isinstance(v, str)]
    return sorted({*found, *(urllib.parse.quote(v, safe="") for v in found)}, key=len, reverse=True)


def sqlite_file(url: sa.URL) -> str | None:
    """The file path of a SQLite URL (None for other databases, memory databases and URI filenames)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return None if url.database.startswith("file:") else url.database
