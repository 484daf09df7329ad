"""The dashboard's Streamlit components: the study form, the run pickers, the upload box, chart builders, URL state
and the cached calls into the core. Pages in ``pages/`` own their views and import these; this is the only part of
lstmlab that imports streamlit.
"""
