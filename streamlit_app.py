"""lstmlab dashboard: page configuration, sign-in when configured, navigation and the shared sidebar."""

import streamlit as st

from lstmlab.runtime import configure_worker
from lstmlab.ui import auth, nav, state, widgets

configure_worker(warm="background")  # once per server process; later reruns return at once
st.set_page_config(page_title="lstmlab · error flow in recurrent networks", page_icon=":material/timeline:",
                   layout="wide")
state.init_session()
gate = auth.gate_page()  # a signed-out visitor of a lab with sign-in sees only this page
page = st.navigation([gate] if gate is not None else
                     [st.Page(path, title=title, icon=icon, default=(i == 0))
                      for i, (path, title, icon) in enumerate(nav.PAGES)])
if gate is None:
    widgets.sidebar_ui()
    auth.account_ui()
page.run()
