"""Sign-in for a hosted dashboard, through Streamlit's OpenID Connect (``st.login``, ``st.user``, ``st.logout``).

Sign-in is on when the app's secrets (``.streamlit/secrets.toml``, or the files of ``secrets.files``) have an
``[auth]`` section; then every page needs a signed-in user, and the acting ``store.Actor`` is that user's email.
Without it the dashboard is anonymous, as locally: the actor is None and every run may be changed.

Admins are listed in the same secrets: ``[lstmlab] admins = ["ada@lab.example", ...]`` (emails, compared without
regard to case). An admin may change every run (``store.Actor.is_admin``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from lstmlab.store import Actor
from lstmlab.text import escape_markdown

SECTION, LAB_SECTION, ADMINS_KEY = "auth", "lstmlab", "admins"


def _secrets() -> Mapping[str, Any]:
    """The app's secrets, or {} when it has none (a local dashboard)."""
    return st.secrets if st.secrets.load_if_toml_exists() else {}


def required() -> bool:
    """True when the secrets configure sign-in (an ``[auth]`` section)."""
    return SECTION in _secrets()


def parse_admins(lab: Mapping[str, Any]) -> frozenset[str]:
    """The admins' emails (lower case) from the ``[lstmlab]`` secrets section; ValueError naming the setting when
    ``admins`` is not a list of emails."""
    value = lab.get(ADMINS_KEY, [])
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and "@" in v for v in value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ValueError(f"secrets [{LAB_SECTION}] {ADMINS_KEY} = {shown}: expected a list of emails such as "
                         f"[\"ada@lab.example\"]")
    return frozenset(v.strip().lower() for v in value)


def admins() -> frozenset[str]:
    """Emails of the lab's admins (see the module docstring)."""
    return parse_admins(_secrets().get(LAB_SECTION, {}))


def actor() -> Actor | None:
    """Who acts in this session: None without sign-in, else the signed-in user (``store.Actor``)."""
    if not required() or not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "")
    return Actor(email, is_admin=email.strip().lower() in admins())


def sign_in_view() -> None:
    """The only page a signed-out visitor sees: what the lab is and a sign-in button. No run is shown."""
    st.title("lstmlab")
    st.markdown("See why a vanilla RNN cannot learn long time lags and an LSTM can. This lab is shared by a team: "
                "sign in to train, compare and keep runs.")
    if st.button("Sign in", type="primary", icon=":material/login:"):
        st.login()


def missing_email_view() -> None:
    """Shown when the identity provider signed the user in without an email, which names a run's owner."""
    st.error("Your identity provider signed you in but did not share your email address, which this lab uses to "
             "name the owner of each run. Ask the lab's host to request the `email` scope.",
             icon=":material/error:")
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()


def _config_error_view(message: str) -> None:
    st.error(f"This lab's sign-in is misconfigured: {escape_markdown(message)}", icon=":material/error:")


def gate_page() -> st.Page | None:
    """The page to show instead of the lab when sign-in is required and the visitor may not enter yet (or the admins
    setting is wrong), else None."""
    if not required():
        return None
    try:
        admins()
    except ValueError as e:
        message = str(e)
        return _gate(lambda: _config_error_view(message))
    if not st.user.is_logged_in:
        return _gate(sign_in_view)
    if not str(st.user.get("email") or "").strip():
        return _gate(missing_email_view)
    return None


def _gate(view) -> st.Page:
    return st.Page(view, title="Sign in", icon=":material/login:", default=True, url_path="sign-in")


def account_ui() -> None:
    """Sidebar: who is signed in (and whether as admin) and the sign-out button; nothing without sign-in."""
    who = actor()
    if who is None:
        return
    with st.sidebar:
        role = " (admin)" if who.is_admin else ""
        st.caption(f"Signed in as {escape_markdown(who.email)}{role}")
        if st.button("Sign out", icon=":material/logout:", key="auth.sign_out"):
            st.logout()
