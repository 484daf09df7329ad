"""The dashboard's view models, without Streamlit: page settings and URL state (settings), sentences (text), chart
tables (tables), one-pass probes (probes), uploads (series_csv), sweep summaries, CSV export and the limits of an
interactive session (limits)."""
