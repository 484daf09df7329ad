"""Streamlit dashboard helpers: widgets, charts, caching and URL state.

This is the only part of lstmlab that imports streamlit. Pages in ``pages/`` import it; the rest of the library
never does.
"""
