"""The dashboard's pages, in navigation order, and the guard that keeps every visit on st.navigation."""

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager  # private: the flag below has no public API

PAGES = (
    ("pages/why.py", "Why gradients vanish", ":material/trending_down:"),
    ("pages/error_flow.py", "Error flow", ":material/stacked_line_chart:"),
    ("pages/training.py", "Training", ":material/show_chart:"),
    ("pages/inside_lstm.py", "Inside the LSTM", ":material/memory:"),
    ("pages/phase_map.py", "Phase map", ":material/grid_on:"),
    ("pages/runs.py", "Runs", ":material/inventory_2:"),
    ("pages/sweeps.py", "Sweeps", ":material/view_module:"),
    ("pages/reproductions.py", "Reproductions", ":material/fact_check:"),
)


def ensure_router() -> None:
    """Call first in every page file: the dashboard's one work-around, guarded by
    tests/browser/test_browser.py::test_first_visit_by_deep_link_uses_the_navigation.

    Streamlit (1.67) has no supported switch for this: it treats an app with a ``pages/`` folder beside the
    entrypoint as a legacy multipage app (PagesManager.uses_pages_directory, set from the folder's existence)
    until the entrypoint has called st.navigation once in the process (and AppTest resets that before every
    run). A visit that goes straight to a page's URL would then run the page file alone: Streamlit's
    folder-listing sidebar, no page config, no session set-up. In that case run the entrypoint here, in this
    same script run (so widget events such as a form submission are kept): it calls st.navigation, which
    resolves the URL to this page and runs it; then stop the outer execution. Renaming ``pages/`` would make
    this unnecessary.
    """
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    entry = Path(__file__).resolve().parents[2] / "streamlit_app.py"
    code = compile(entry.read_text(encoding="utf-8"), str(entry), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(entry)})  # noqa: S102 - our own entrypoint
    st.stop()
