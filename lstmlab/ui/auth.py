"""Sign-in for a hosted dashboard, through Streamlit's OpenID Connect (``st.login``, ``st.user``, ``st.logout``).

Sign-in is on when the app's secrets (``.streamlit/secrets.toml``, or the files of ``secrets.files``) have an
``[auth]`` section; then every page needs a signed-in member of the lab. Without it the dashboard is anonymous, as
locally: the actor is None and every run may be changed.

Who is signed in: the identity provider's issuer and subject (the ``iss`` and ``sub`` claims), with the email it
vouches for, which names the owner of runs and decides membership. The email must be verified: an identity whose
``email_verified`` claim is false, or that has no email, is refused. A provider that sends no ``email_verified``
claim at all (Microsoft Entra ID, for one) is refused too, unless the host writes ``assume_email_verified = true``
in the ``[lstmlab]`` section, saying that this provider hands out only addresses it controls.

The lab's people, in the same ``[lstmlab]`` section (emails compared in one form: ``store.normalise_email``):

- ``members = ["@lab.example", "ada@uni.example"]``: who may enter, by whole email or by ``@domain``; ``["*"]``
  admits everyone the provider signs in, and must be written on purpose: sign-in without ``members`` is a
  configuration error. Anyone else sees only a page saying they are not a member.
- ``admins = ["ada@lab.example"]``: members who may change every run (``store.Actor.is_admin``) and see where the
  run store is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from lstmlab.store import Actor, normalise_email
from lstmlab.ui.nav import PAGES
from lstmlab.views.text import escape_markdown

SECTION, LAB_SECTION, ADMINS_KEY = "auth", "lstmlab", "admins"
MEMBERS_KEY, ASSUME_VERIFIED_KEY, EVERYONE = "members", "assume_email_verified", "*"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_DOMAIN = re.compile(r"@[^@\s]+")


def _secrets() -> Mapping[str, Any]:
    """The app's secrets, or {} when it has none (a local dashboard)."""
    return st.secrets if st.secrets.load_if_toml_exists() else {}


def required() -> bool:
    """True when the secrets configure sign-in (an ``[auth]`` section)."""
    return SECTION in _secrets()


def _shown(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."


def parse_admins(lab: Mapping[str, Any]) -> frozenset[str]:
    """The admins' emails (normalised) from the ``[lstmlab]`` secrets section; ValueError naming the setting when
    ``admins`` is not a list of emails."""
    value = lab.get(ADMINS_KEY, [])
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _EMAIL.fullmatch(v.strip())
                                                        for v in value):
        raise ValueError(f"secrets [{LAB_SECTION}] {ADMINS_KEY} = {_shown(value)}: expected a list of emails such as "
                         f"[\"ada@lab.example\"]")
    return frozenset(normalise_email(v) for v in value)


def parse_members(lab: Mapping[str, Any]) -> frozenset[str]:
    """The lab's members from the ``[lstmlab]`` secrets section: normalised emails, ``@domain`` entries, or ``*``
    (everyone). ValueError naming the setting when it is missing (sign-in admits members only, so a lab that
    admits everyone says so) or is not such a list."""
    if MEMBERS_KEY not in lab:
        raise ValueError(f"secrets [{LAB_SECTION}] {MEMBERS_KEY} is not set: sign-in admits only the lab's members; "
                         f"list them as {MEMBERS_KEY} = [\"@lab.example\", \"ada@uni.example\"] (emails and "
                         f"@domains), or write {MEMBERS_KEY} = [\"*\"] to admit everyone the identity provider "
                         "signs in")
    value = lab[MEMBERS_KEY]
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and (v.strip() == EVERYONE or _EMAIL.fullmatch(v.strip())
                                    or _DOMAIN.fullmatch(v.strip())) for v in value):
        raise ValueError(f"secrets [{LAB_SECTION}] {MEMBERS_KEY} = {_shown(value)}: expected a list of emails and "
                         f"@domains such as [\"@lab.example\", \"ada@uni.example\"], or [\"*\"] for everyone the "
                         "identity provider signs in")
    return frozenset(normalise_email(v) for v in value)


def parse_assume_verified(lab: Mapping[str, Any]) -> bool:
    """``assume_email_verified`` from the ``[lstmlab]`` secrets section (default false); ValueError naming the
    setting when it is not true or false."""
    value = lab.get(ASSUME_VERIFIED_KEY, False)
    if not isinstance(value, bool):
        raise ValueError(f"secrets [{LAB_SECTION}] {ASSUME_VERIFIED_KEY} = {_shown(value)}: expected true or false")
    return value


@dataclasses.dataclass(frozen=True)
class LabPeople:
    """The ``[lstmlab]`` secrets section, parsed: admins, members and whether a missing ``email_verified`` claim
    counts as verified."""

    admins: frozenset[str]
    members: frozenset[str]
    assume_email_verified: bool = False

    @classmethod
    def parse(cls, lab: Mapping[str, Any]) -> LabPeople:
        """ValueError naming the first bad setting."""
        return cls(parse_admins(lab), parse_members(lab), parse_assume_verified(lab))

    def is_member(self, email: str) -> bool:
        """Whether ``email`` may enter: listed whole, by its domain, as an admin, or the lab admits everyone."""
        email = normalise_email(email)
        domain = "@" + email.rsplit("@", 1)[-1] if "@" in email else None
        return (EVERYONE in self.members or email in self.members or email in self.admins
                or domain is not None and domain in self.members)


def email_verified(claims: Mapping[str, Any], assume_verified: bool = False) -> bool | None:
    """Whether the provider vouches for the email in ``claims``: True (``email_verified`` true, or absent with
    ``assume_verified``), None (absent), False (false, or any other value). Some providers send the claim as the
    text "true"."""
    value = claims.get("email_verified")
    if value is None:
        return True if assume_verified else None
    return value is True or isinstance(value, str) and value.strip().lower() == "true"


def people() -> LabPeople:
    """Admins and members from the secrets (see the module docstring); ValueError naming a bad setting."""
    return LabPeople.parse(_secrets().get(LAB_SECTION, {}))


def admins() -> frozenset[str]:
    """Emails of the lab's admins (see the module docstring)."""
    return parse_admins(_secrets().get(LAB_SECTION, {}))


def _claims() -> Mapping[str, Any]:
    """The signed-in identity's claims (the provider's ID token, as Streamlit keeps them)."""
    return st.user


def _refusal(claims: Mapping[str, Any], lab: LabPeople) -> Callable[[], None] | None:
    """The page a signed-in identity sees instead of the lab, or None when it is a member with a verified email."""
    email = str(claims.get("email") or "").strip()
    if not email or not str(claims.get("sub") or "") or not str(claims.get("iss") or ""):
        return missing_email_view
    verified = email_verified(claims, lab.assume_email_verified)
    if not verified:
        return lambda: unverified_email_view(email, claimed=verified is False)
    if not lab.is_member(email):
        return lambda: not_member_view(email)
    return None


def actor() -> Actor | None:
    """Who acts in this session: None without sign-in, else the signed-in member (``store.Actor``: the verified
    email, admin or not, and the provider's issuer and subject). PermissionError for a visitor the gate refuses
    (pages are not run for them: see :func:`gate_pages`), so a refused identity never acts as the anonymous mode."""
    if not required():
        return None
    lab = people()
    claims = _claims() if st.user.is_logged_in else {}
    if not st.user.is_logged_in or _refusal(claims, lab) is not None:
        raise PermissionError("this lab admits only its signed-in members")
    email = str(claims["email"])
    return Actor(email, is_admin=normalise_email(email) in lab.admins, issuer=str(claims["iss"]),
                 subject=str(claims["sub"]))


def may_see_store_location() -> bool:
    """Whether the page may name where the run store is (a path, a database server): in the anonymous local mode
    and to admins; a member needs no map of the lab's infrastructure."""
    if not required():
        return True
    try:
        who = actor()
    except (PermissionError, ValueError):
        return False
    return who is not None and who.is_admin


def sign_in_view() -> None:
    """The only page a signed-out visitor sees: what the lab is and a sign-in button. No run is shown."""
    st.title("lstmlab")
    st.markdown("See why a vanilla RNN cannot learn long time lags and an LSTM can. This lab is shared by a team: "
                "sign in to train, compare and keep runs.")
    if st.button("Sign in", type="primary", icon=":material/login:"):
        st.login()


def _sign_out_button() -> None:
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()


def missing_email_view() -> None:
    """Shown when the identity provider signed the user in without an email (or without naming the user), which
    this lab needs to know who the user is."""
    st.error("Your identity provider signed you in but did not share your email address (or did not say who you "
             "are), which this lab uses to decide who may enter and to name the owner of each run. Ask the lab's "
             "host to request the `email` scope.", icon=":material/error:")
    _sign_out_button()


def unverified_email_view(email: str, claimed: bool) -> None:
    """Shown when the provider does not vouch for the user's email: it says it is not verified (``claimed``), or
    says nothing about it."""
    st.title("Email not verified")
    who = escape_markdown(email)
    if claimed:
        st.error(f"Your identity provider signed you in as {who} but says this email address is not verified, so "
                 "this lab cannot tell that it is yours. Verify the address with your provider, or sign in with "
                 "another account.", icon=":material/gpp_bad:")
    else:
        st.error(f"Your identity provider signed you in as {who} but does not say whether this email address is "
                 "verified, and this lab admits verified addresses only. If this provider hands out only addresses "
                 "it controls, the lab's host can say so in its settings.", icon=":material/gpp_bad:")
    _sign_out_button()


def not_member_view(email: str) -> None:
    """The only page a signed-in identity that is not a member of the lab sees."""
    st.title("Not a member of this lab")
    st.warning(f"You are signed in as {escape_markdown(email)}, which is not a member of this lab. Ask the lab's "
               "host to add you, or sign out and sign in with another account.", icon=":material/block:")
    _sign_out_button()


def _config_error_view(message: str) -> None:
    st.error(f"This lab's sign-in is misconfigured: {escape_markdown(message)}", icon=":material/error:")


def gate_pages() -> list[st.Page] | None:
    """The pages to navigate instead of the lab's when sign-in is required and the visitor may not enter (signed
    out, an email missing or not verified, not a member) or the lab's settings are wrong, else None; each shows the
    same view (:func:`_gate`)."""
    if not required():
        return None
    try:
        lab = people()
    except ValueError as e:
        message = str(e)
        return _gate(lambda: _config_error_view(message))
    if not st.user.is_logged_in:
        return _gate(sign_in_view)
    refusal = _refusal(_claims(), lab)
    return None if refusal is None else _gate(refusal)


def _gate(view) -> list[st.Page]:
    """The gate as the default page and under every page's own address, so that a deep link (to /runs, say) shows
    it directly rather than after a page-not-found notice; the navigation hides them (one page to see)."""
    return [st.Page(view, title="Sign in", icon=":material/login:", default=True, url_path="sign-in"),
            *(st.Page(view, title="Sign in", url_path=Path(path).stem) for path, _, _ in PAGES)]


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
