"""lstmlab dashboard: page configuration, navigation and the shared sidebar."""

import streamlit as st

from lstmlab.ui import nav, state, widgets

st.set_page_config(page_title="lstmlab · error flow in recurrent networks", page_icon=":material/timeline:",
                   layout="wide")
state.init_session()
page = st.navigation([st.Page(path, title=title, icon=icon, default=(i == 0))
                      for i, (path, title, icon) in enumerate(nav.PAGES)])
widgets.sidebar_ui()
page.run()
