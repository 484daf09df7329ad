"""lstmlab dashboard: page configuration, sign-in when configured, navigation and the shared sidebar."""

import importlib.machinery
import sys

import streamlit as st

from lstmlab.training.runtime import configure_server, configure_worker
from lstmlab.ui import auth, live, nav, state, widgets

# Streamlit runs this script as the process's __main__ module. A job worker process started meanwhile would re-run
# it by path as its own main module (multiprocessing re-imports the parent's __main__ in a spawned or forkserver
# child); a main module whose spec is named "__main__" is skipped instead.
sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("__main__", None)

# once per server process (later reruns return at once); its own passes are small probes, jobs train in the pool
configure_worker(warm="background", threads=1)
configure_server()
st.set_page_config(page_title="lstmlab · error flow in recurrent networks", page_icon=":material/timeline:",
                   layout="wide")
state.init_session()
live.warm_workers()
gate = auth.gate_pages()  # a visitor of a lab with sign-in who may not enter sees only this, at every address
page = st.navigation(gate if gate is not None else
                     [st.Page(path, title=title, icon=icon, default=(i == 0))
                      for i, (path, title, icon) in enumerate(nav.PAGES)],
                     position="hidden" if gate is not None else "sidebar")
if gate is None:
    widgets.sidebar_ui(show_store=auth.may_see_store_location())
    auth.account_ui()
page.run()
