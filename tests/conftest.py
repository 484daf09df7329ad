"""Shared pytest fixtures."""

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lstmlab.config import ENGINES  # noqa: E402  (after the path is set)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Each engine by name (tests that take it run once per engine)."""
    return request.param


@pytest.fixture
def app(tmp_path, monkeypatch):
    """Factory of AppTest instances of the dashboard, with empty Streamlit caches and a run store in tmp_path.

    ``app(page=None, **query)`` returns an AppTest not yet run; ``page`` is a file under pages/ to start on.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LSTMLAB_DB", str(tmp_path / "runs.db"))
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(page=None, **query):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
        for k, v in query.items():
            at.query_params[k] = str(v)
        if page is not None:
            at.switch_page(f"pages/{page}")
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


POSTGRES_ENV = "LSTMLAB_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server():
    """An AUTOCOMMIT engine on the test PostgreSQL server named by ``$LSTMLAB_TEST_POSTGRES_URL`` (set by
    scripts/with_services.sh). Without it the test fails under CI=true and is skipped otherwise."""
    import sqlalchemy as sa

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = (f"{POSTGRES_ENV} is not set: run the tests through "
                   "`bash scripts/with_services.sh .venv/bin/python -m pytest`, which starts a throwaway PostgreSQL")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL (str) of a fresh, empty database on the test server, dropped after the test."""
    name = f"lstmlab_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield postgres_server.url.set(database=name).render_as_string(hide_password=False)
    with postgres_server.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A run store location on each backend: a SQLite file in tmp_path, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return request.getfixturevalue("postgres_url")
