"""Shared pytest fixtures."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
