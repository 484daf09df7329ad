"""AppTest: the dashboard with sign-in configured (an ``[auth]`` secrets section) for signed-out, signed-in and
admin users: what each sees, which runs they may change, and that the acting user reaches every store write.
The real sign-in flow (Chromium against an OpenID Connect provider) is in test_browser_signin.py."""

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from lstmlab.store import Actor, RunStore
from lstmlab.ui import auth
from test_store import make_run

ALICE, BOB, ROOT_ = "alice@lab.example", "bob@lab.example", "root@lab.example"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-real-secret-0123456789",
        "client_id": "lstmlab", "client_secret": "not-a-real-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
TINY = dict(cells="lstm", T="10", H="4", steps="3", batch="4")


@pytest.fixture
def runs():
    """A run owned by Alice and one owned by Bob in the dashboard's store: {owner: run id}."""
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        return {owner: s.save(make_run(seed, steps=6), actor=Actor(owner)) for seed, owner in ((800, ALICE),
                                                                                                 (801, BOB))}


@pytest.fixture
def lab(app):
    """``lab(user=None, admins=(), page=None, **query)``: an AppTest of the dashboard with sign-in configured,
    signed in as ``user`` (None: signed out), not yet run."""
    def make(user=None, admins=(), page=None, **query):
        at = app(page, **query)
        at.secrets["auth"] = dict(AUTH)
        at.secrets["lstmlab"] = {"admins": admins}
        at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, "email": user, "name": user}
        return at
    return make


def _buttons(at) -> dict:
    return {b.label: b for b in at.button}


def _plain(markdown: str) -> str:
    """Escaped Markdown as the reader sees it (no backslash escapes, no word joiners)."""
    return markdown.replace("\u2060", "").replace("\\", "")


def test_signed_out_sees_a_sign_in_button_and_no_runs(lab, runs):
    for page in (None, "runs.py", "error_flow.py"):
        at = lab(page=page).run()
        assert not at.exception
        assert "Sign in" in _buttons(at)
        assert len(at.dataframe) == 0 and len(at.get("vega_lite_chart")) == 0 and len(at.get("multiselect")) == 0
        assert all("Run store" not in c.value for c in at.sidebar.caption)
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert len(s.list()) == 2  # nothing trained or saved for a signed-out visitor


def test_signed_in_sees_everyone_by_default_and_mine_on_request(lab, runs):
    at = lab(ALICE, page="runs.py").run()
    assert not at.exception
    assert _plain(at.sidebar.caption[-1].value) == f"Signed in as {ALICE}" and "Sign out" in _buttons(at)
    assert sorted(at.dataframe[0].value["owner"]) == [ALICE, BOB]
    at.button_group(key="runs.who").set_value("mine").run()
    assert not at.exception
    assert list(at.dataframe[0].value["owner"]) == [ALICE]
    assert at.query_params["who"] == "mine"


def test_own_run_is_editable_and_another_users_read_only(lab, runs):
    at = lab(ALICE, page="runs.py").run()
    at.multiselect(key="runs_selected").set_value([runs[BOB]]).run()
    assert not at.exception
    assert all(b.disabled for b in at.get("button") if b.proto.is_form_submitter)
    assert "belong to someone else" in " ".join(c.value for c in at.caption)
    at.multiselect(key="runs_selected").set_value([runs[ALICE], runs[BOB]]).run()
    assert all(b.disabled for b in at.get("button") if b.proto.is_form_submitter)
    at.multiselect(key="runs_selected").set_value([runs[ALICE]]).run()
    assert not any(b.disabled for b in at.get("button") if b.proto.is_form_submitter)
    at.text_input(key="runs.new_name").set_value("alice's run")
    next(b for b in at.get("button") if b.label == "Rename").click().run()
    assert not at.exception
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert s.load(runs[ALICE]).name == "alice's run"
        assert s.load(runs[BOB]).name == "run 801"


def test_forged_change_through_the_page_action_is_refused_by_the_store(lab, runs):
    """The page's own action function, called as Alice on Bob's run (what a forged click would reach)."""
    from lstmlab.ui import run_store

    at = lab(ALICE, page="runs.py").run()  # the store of this dashboard, opened
    assert not at.exception
    for action, arg in (("delete", None), ("rename", "mine now"), ("tag", ["stolen"])):
        message = run_store.apply_action(action, arg, [runs[BOB]], actor=Actor(ALICE))
        assert message.startswith("!") and "may not" in message and "belongs to" in message
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        back = s.load(runs[BOB])
    assert (back.name, back.tags, back.owner) == ("run 801", ("t", "s801"), BOB)


def test_admin_may_change_every_run(lab, runs):
    at = lab(ROOT_, admins=["Root@Lab.Example"], page="runs.py").run()
    assert _plain(at.sidebar.caption[-1].value) == f"Signed in as {ROOT_} (admin)"
    at.multiselect(key="runs_selected").set_value([runs[ALICE], runs[BOB]]).run()
    assert {b.label: b.disabled for b in at.get("button") if b.proto.is_form_submitter} == {
        "Rename": True, "Tag 2 run(s)": False, "Delete": False}  # renaming takes exactly one run
    at.text_input(key="runs.new_tags").set_value("reviewed")
    next(b for b in at.get("button") if b.label.startswith("Tag")).click().run()
    assert not at.exception
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert [s.load(r).tags for r in (runs[ALICE], runs[BOB])] == [("reviewed",), ("reviewed",)]


def test_a_run_trained_signed_in_is_saved_as_the_users(lab):
    at = lab(BOB, page="error_flow.py", **TINY).run()
    assert not at.exception
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert list(s.list()["owner"]) == [BOB]


def test_wrong_admins_setting_is_a_message_naming_it(lab, runs):
    at = lab(ALICE, admins="root@lab.example").run()
    assert not at.exception
    assert "[lstmlab] admins = 'root@lab.example': expected a list of emails" in _plain(at.error[0].value)
    assert len(at.dataframe) == 0


def test_email_and_name_are_escaped_in_the_sidebar(lab):
    at = lab("[x](http://evil.example)@lab.example").run()
    shown = at.sidebar.caption[-1].value
    assert "[x](http" not in shown and "\\[x\\]" in shown


def test_parse_admins():
    assert auth.parse_admins({}) == frozenset()
    assert auth.parse_admins({"admins": [" Ada@Lab.Example "]}) == {"ada@lab.example"}
    for bad in ("ada@lab.example", ["ada"], [1], {"a": 1}):
        with pytest.raises(ValueError, match=r"secrets \[lstmlab\] admins = .*: expected a list of emails"):
            auth.parse_admins({"admins": bad})


def test_secrets_example_configures_sign_in_and_real_secrets_stay_out_of_git():
    root = Path(__file__).resolve().parents[1]
    example = tomllib.loads((root / ".streamlit" / "secrets.toml.example").read_text())
    assert set(example["auth"]) == set(AUTH)
    assert example["auth"]["redirect_uri"].endswith("/oauth2callback")
    assert auth.parse_admins(example["lstmlab"]) == {"ada@lab.example"}
    ignored = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=root)
    assert ignored.returncode == 0
