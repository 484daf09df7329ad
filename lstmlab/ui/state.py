"""The dashboard's session and URL state: reading and writing a page's settings (lstmlab.views.settings declares them),
seeding its widgets from them, and the session keys every page relies on, all created here.

Widgets are keyed ``"<page>.<field>"`` and seeded from the URL by :func:`seed_widgets`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from lstmlab.views.settings import FIELDS, STUDY_PAGES, format_params, parse_params


def read_params(page: str) -> dict[str, Any]:
    """Settings of ``page`` from the URL; shows an ``st.warning`` for every value it had to replace, and again on the
    page's later runs while its settings stay those the warnings led to (the page puts them in the URL, and a rerun
    when its jobs end must not take the warnings away).

    Study pages (Error flow, Training) opened without settings in the URL continue the last study of the
    session, so moving between them keeps what is on screen.
    """
    query = {k: st.query_params[k] for k in st.query_params}
    if not query and page in STUDY_PAGES and st.session_state.get("last_study"):
        return dict(st.session_state["last_study"])
    values, warnings = parse_params(page, query)
    kept = _warned_key(page)
    if warnings:
        st.session_state[kept] = (values, warnings)
    elif (st.session_state.get(kept) or (None,))[0] == values:
        warnings = st.session_state[kept][1]
    else:
        st.session_state[kept] = None
    for w in warnings:
        st.warning(w, icon=":material/link_off:")
    return values


def remember_study(values: dict[str, Any]) -> None:
    """Make ``values`` the session's current study (shared by the study pages)."""
    st.session_state["last_study"] = dict(values)


def write_params(page: str, values: dict[str, Any]) -> None:
    """Put the applied settings of ``page`` in the URL (only the fields ``values`` has), and remember as applied
    what the next read_params will find there, so an omitted field does not count as a change of the URL."""
    query = format_params(page, values)
    st.query_params.from_dict(query)
    st.session_state[_applied_key(page)] = parse_params(page, query)[0]


def widget_key(page: str, name: str) -> str:
    """Session key of the widget that edits field ``name`` of ``page``."""
    return f"{page}.{name}"


def _applied_key(page: str) -> str:
    return f"_applied.{page}"


def _warned_key(page: str) -> str:
    return f"_warned.{page}"


def seed_widgets(page: str, values: dict[str, Any]) -> None:
    """Make the page's widgets show ``values`` when they differ from what the widgets were last seeded with.

    Call before drawing the widgets. A URL that changed under the page (a link, st.switch_page, the back button)
    re-seeds them; otherwise the widgets keep what the person is editing, and only a widget without state (first
    visit, or not drawn in the last run, which makes Streamlit drop its state) gets its value from ``values``.
    """
    ss = st.session_state
    changed = ss.get(_applied_key(page)) != values
    for f in FIELDS[page]:
        key = widget_key(page, f.name)
        if f.name in values and (changed or key not in ss):
            v = values[f.name]
            ss[key] = list(v) if isinstance(v, list) else v
    ss[_applied_key(page)] = dict(values)


def init_session() -> None:
    """Initialise the session keys every page relies on (the one place they are created)."""
    ss = st.session_state
    ss.setdefault("last_study", None)  # settings of the last study shown on Error flow / Training
    ss.setdefault("forecast_series", None)  # (name, tuple of floats) uploaded for the forecast task
    ss.setdefault("_forecast_sig", None)  # (file id, column, seq_len) of the upload last accepted
    ss.setdefault("runs_selected", [])  # run ids ticked on the Runs page
    ss.setdefault("job_ids", set())  # ids of the runs this session submitted (its limits count those in flight)
    ss.setdefault("job_notice", None)  # (kind, Markdown) of the last refused Stop or Resubmit (lstmlab.ui.live)
    ss.setdefault("repro_notice", {})  # {recipe id: (kind, Markdown)} of the last Start (lstmlab.ui.reproductions)
    for page in FIELDS:
        ss.setdefault(_applied_key(page), None)  # settings the page's widgets were last seeded with
        ss.setdefault(_warned_key(page), None)  # (settings, warnings) of the last URL the page had to correct
