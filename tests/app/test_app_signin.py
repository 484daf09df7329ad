"""AppTest: the dashboard with sign-in configured (an ``[auth]`` secrets section) for signed-out, signed-in and
admin users: what each sees, which runs they may change, and that the acting user reaches every store write.
The real sign-in flow (Chromium against an OpenID Connect provider) is in tests/browser/test_browser_signin.py."""

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lstmlab.store import Actor, RunStore, runs_table
from lstmlab.ui import auth
from tests.support.app import AUTH, plain
from tests.support.runs import make_run

ALICE, BOB, ROOT_ = "alice@lab.example", "bob@lab.example", "root@lab.example"
TINY = dict(cells="lstm", T="10", H="4", steps="3", batch="4")


@pytest.fixture
def runs():
    """A run owned by Alice and one owned by Bob in the dashboard's store: {owner: run id}."""
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        return {owner: s.save(make_run(seed, steps=6), actor=Actor(owner)) for seed, owner in ((800, ALICE),
                                                                                                 (801, BOB))}


ISSUER = "http://127.0.0.1:9"
LAB = {"members": ["@lab.example"]}


@pytest.fixture
def lab(app):
    """``lab(user=None, admins=(), page=None, settings=LAB, claims=None, **query)``: an AppTest of the dashboard
    with sign-in configured (``[lstmlab]`` ``settings`` plus ``admins``), signed in as ``user`` (None: signed out)
    whose provider verified that email, with the provider's other ``claims`` replacing the default ones; not yet
    run."""
    def make(user=None, admins=(), page=None, settings=LAB, claims=None, **query):
        at = app(page, **query)
        at.secrets["auth"] = dict(AUTH)
        at.secrets["lstmlab"] = {"admins": admins, **settings}
        at.user = {"is_logged_in": False} if user is None else {
            "is_logged_in": True, "iss": ISSUER, "sub": f"sub-{user}", "email": user, "email_verified": True,
            "name": user, **(claims or {})}
        return at
    return make


def _buttons(at) -> dict:
    return {b.label: b for b in at.button}


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
    assert plain(at.sidebar.caption[-1].value) == f"Signed in as {ALICE}" and "Sign out" in _buttons(at)
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
    assert plain(at.sidebar.caption[-1].value) == f"Signed in as {ROOT_} (admin)"
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
    assert "[lstmlab] admins = 'root@lab.example': expected a list of emails" in plain(at.error[0].value)
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
    root = Path(__file__).resolve().parents[2]
    example = tomllib.loads((root / ".streamlit" / "secrets.toml.example").read_text())
    assert set(example["auth"]) == set(AUTH)
    assert example["auth"]["redirect_uri"].endswith("/oauth2callback")
    people = auth.LabPeople.parse(example["lstmlab"])
    assert (people.admins, people.members) == ({"ada@lab.example"}, {"@lab.example", "ada@uni.example"})
    assert people.assume_email_verified is False
    ignored = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=root)
    assert ignored.returncode == 0


def _refused(at) -> str:
    """The page shown: no run, no chart, no job; its text."""
    assert not at.exception
    assert len(at.dataframe) == 0 and len(at.get("vega_lite_chart")) == 0 and len(at.get("multiselect")) == 0
    assert "Sign out" in _buttons(at)
    assert all("Run store" not in c.value for c in at.sidebar.caption)
    return plain(" ".join(e.value for e in (*at.title, *at.error, *at.warning)))


def test_unverified_email_is_refused_whatever_it_claims(lab, runs):
    forged = {"sub": "mallory-sub", "email_verified": False}
    for page in (None, "runs.py", "error_flow.py"):
        at = lab(ROOT_, admins=[ROOT_], page=page, claims=forged, **TINY).run()
        shown = _refused(at)
        assert f"signed you in as {ROOT_} but says this email address is not verified" in shown
    at = lab(ALICE, claims={"email_verified": "false"}).run()
    assert "is not verified" in _refused(at)
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert len(s.list()) == 2  # nothing trained by the deep link to error_flow


def test_missing_email_verified_claim_is_refused_unless_the_host_trusts_the_provider(lab, runs):
    at = lab(ALICE, claims={"email_verified": None}, page="runs.py").run()
    assert "does not say whether this email address is verified" in _refused(at)
    trusting = {**LAB, "assume_email_verified": True}
    at = lab(ALICE, claims={"email_verified": None}, settings=trusting, page="runs.py").run()
    assert not at.exception and len(at.dataframe) == 1
    at = lab(ALICE, claims={"email_verified": False}, settings=trusting, page="runs.py").run()
    assert "is not verified" in _refused(at)  # trust covers a missing claim, never a false one
    at = lab(ALICE, settings={**LAB, "assume_email_verified": "yes"}).run()
    assert "[lstmlab] assume_email_verified = 'yes': expected true or false" in plain(at.error[0].value)


def test_identity_without_email_or_subject_is_refused(lab):
    for claims in ({"email": ""}, {"sub": ""}, {"iss": None}):
        at = lab(ALICE, claims=claims).run()
        assert "did not share your email address" in _refused(at)


def test_non_member_sees_only_the_not_a_member_page(lab, runs):
    for page in (None, "runs.py", "error_flow.py", "sweeps.py"):
        at = lab("eve@elsewhere.example", page=page, **TINY).run()
        shown = _refused(at)
        assert "Not a member of this lab" in shown and "eve@elsewhere.example, which is not a member" in shown
        assert len(at.get("button")) == 1  # sign out, and nothing to press besides
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert len(s.list()) == 2


def test_members_by_email_domain_and_admin_enter(lab, runs):
    settings = {"members": ["ada@uni.example", "@lab.example"]}
    for user, admins in (("Ada@Uni.Example", ()), (ALICE, ()), ("root@ops.example", ["root@ops.example"])):
        at = lab(user, admins=admins, settings=settings, page="runs.py").run()
        assert not at.exception and len(at.dataframe) == 1, user
    for user in ("eve@uni.example", "eve@sub.lab.example", "eve@lab.example.evil.example"):
        at = lab(user, settings=settings, page="runs.py").run()
        assert "is not a member" in _refused(at), user
    at = lab("anyone@anywhere.example", settings={"members": ["*"]}, page="runs.py").run()
    assert not at.exception and len(at.dataframe) == 1


def test_sign_in_without_members_is_a_configuration_error(lab, runs):
    for user in (None, ALICE):
        at = lab(user, settings={}, page="runs.py").run()
        assert not at.exception and len(at.dataframe) == 0
        assert ("This lab's sign-in is misconfigured: secrets [lstmlab] members is not set: sign-in admits only the "
                "lab's members") in plain(at.error[0].value)
    at = lab(ALICE, settings={"members": "@lab.example"}).run()
    assert "[lstmlab] members = '@lab.example': expected a list of emails and @domains" in plain(at.error[0].value)


def test_store_location_only_for_admins_and_local_use(lab, app, runs):
    location = os.environ["LSTMLAB_DB"]
    admin = lab(ROOT_, admins=[ROOT_], page="runs.py").run()
    assert any(location in plain(c.value) for c in admin.sidebar.caption)
    member = lab(ALICE, page="runs.py").run()
    assert not member.exception and len(member.dataframe) == 1
    assert not any("Run store" in c.value or location in plain(c.value) for c in member.sidebar.caption)
    local = app("runs.py").run()
    assert any(location in plain(c.value) for c in local.sidebar.caption)


def test_errors_name_the_store_location_to_admins_only(lab, runs):
    location = os.environ["LSTMLAB_DB"]
    for user, admins, shown_location in ((ALICE, [], "the run store"), (ROOT_, [ROOT_], f"RunStore('sqlite:///{location}')")):
        at = AppTest.from_function(_rename_a_run_deleted_meanwhile, default_timeout=30)
        at.secrets["auth"], at.secrets["lstmlab"] = dict(AUTH), {"admins": admins, **LAB}
        at.user = {"is_logged_in": True, "iss": ISSUER, "sub": "s", "email": user, "email_verified": True}
        at.run()
        assert not at.exception
        assert plain(at.markdown[0].value) == f"!no run with id or id prefix 'deadbeef' in {shown_location}"

    Path(location).write_bytes(b"not a database " * 100)  # the store breaks
    member = lab(ALICE, page="runs.py").run()
    shown = " ".join(plain(e.value) for e in member.error)
    assert "The run store cannot be read (StoreError): the details are shown to the lab's admins" in shown
    assert location not in shown and "runs.db" not in shown
    admin = lab(ROOT_, admins=[ROOT_], page="runs.py").run()
    shown = " ".join(plain(e.value) for e in admin.error)
    assert (f"The run store at sqlite:///{location} cannot be read (StoreError: sqlite:///{location} is not a SQLite "
            "database") in shown


def _rename_a_run_deleted_meanwhile():
    """A page's action on a run that another tab deleted (what a click on a stale page reaches)."""
    import streamlit as st

    from lstmlab.ui import auth, run_store

    st.markdown(run_store.apply_action("rename", "new name", ["deadbeef"], actor=auth.actor()))


def test_parse_members_and_membership():
    assert auth.parse_members({"members": [" Ada@Uni.Example ", "@LAB.example", "*"]}) == {
        "ada@uni.example", "@lab.example", "*"}
    assert auth.parse_members({"members": []}) == frozenset()  # admins only
    with pytest.raises(ValueError, match=r"^secrets \[lstmlab\] members is not set: .* members = \[\"\*\"\]"):
        auth.parse_members({})
    for bad in ("@lab.example", ["lab.example"], ["ada@"], ["@"], ["a@b@c"], ["ada @uni.example"], [1], None):
        with pytest.raises(ValueError, match=r"^secrets \[lstmlab\] members = .*: expected a list of emails and "
                                             r"@domains"):
            auth.parse_members({"members": bad})
    people = auth.LabPeople.parse({"members": ["@lab.example", "ada@uni.example"], "admins": ["root@ops.example"]})
    assert [people.is_member(e) for e in ("bob@lab.example", "BOB@LAB.EXAMPLE", "ada@uni.example", "Root@Ops.Example",
                                          "eve@uni.example", "bob@sub.lab.example", "bob@lab.example.evil",
                                          "\u212aate@lab.example.evil")] == [True] * 4 + [False] * 4
    assert not people.assume_email_verified


def test_email_verified_claim():
    assert [auth.email_verified({"email_verified": v}) for v in (True, "true", "True", False, "false", 1, "yes")] == [
        True, True, True, False, False, False, False]
    assert auth.email_verified({}) is None and auth.email_verified({}, assume_verified=True) is True
    assert auth.email_verified({"email_verified": False}, assume_verified=True) is False


def test_email_case_does_not_split_a_user(lab, runs):
    """The provider's address in another case, and an owner stored in mixed case by an earlier version: one user."""
    with RunStore(os.environ["LSTMLAB_DB"]) as s, s.engine.begin() as conn:
        conn.execute(runs_table.update().where(runs_table.c.id == runs[BOB]).values(owner="Bob@Lab.Example"))
    at = lab("BOB@LAB.example", page="runs.py").run()
    assert plain(at.sidebar.caption[-1].value) == f"Signed in as {BOB}"
    at.button_group(key="runs.who").set_value("mine").run()
    assert list(at.dataframe[0].value["id"]) == [runs[BOB]]
    at.multiselect(key="runs_selected").set_value([runs[BOB]]).run()
    assert not any(b.disabled for b in at.get("button") if b.proto.is_form_submitter)
    at.text_input(key="runs.new_name").set_value("bob's, whatever the case")
    at.button(key="FormSubmitter:runs.rename_form-Rename").click().run()
    assert not at.exception
    with RunStore(os.environ["LSTMLAB_DB"]) as s:
        assert s.load(runs[BOB]).name == "bob's, whatever the case"


def _show_actor():
    import streamlit as st

    from lstmlab.ui import auth

    who = auth.actor()
    st.markdown(f"{who.email}|{who.is_admin}|{who.issuer}|{who.subject}")


def test_actor_is_the_providers_issuer_and_subject_with_the_verified_email(app):
    app()  # an empty run store and caches for this test
    at = AppTest.from_function(_show_actor, default_timeout=30)
    at.secrets["auth"], at.secrets["lstmlab"] = dict(AUTH), {"admins": ["root@lab.example"], **LAB}
    at.user = {"is_logged_in": True, "iss": ISSUER, "sub": "248289761001", "email": "Root@Lab.Example",
               "email_verified": True}
    at.run()
    assert at.markdown[0].value == f"root@lab.example|True|{ISSUER}|248289761001"
    at.user = {**at.user, "email_verified": False}
    at.run()
    assert at.exception and "PermissionError" in at.exception[0].value + str(at.exception[0].proto)


def test_job_errors_name_the_scheduler_to_admins_only(lab, monkeypatch):
    address = "tcp://127.0.0.1:9"  # nothing listens: the study's submission fails naming the scheduler
    monkeypatch.setenv("LSTMLAB_SCHEDULER", address)
    for user, admins, admin in ((ALICE, [], False), (ROOT_, [ROOT_], True)):
        at = lab(user, admins=admins, page="error_flow.py", **TINY).run(timeout=90)
        assert not at.exception
        shown = " ".join(plain(e.value) for e in at.error)
        assert "The runs could not be submitted" in shown
        assert (address in shown) is admin
        assert ("the lab's job scheduler" in shown) is not admin
