"""End-to-end sign-in: the dashboard with an ``[auth]`` secrets section, in a real Chromium, against a real OpenID
Connect provider on loopback (oidc-provider-mock, started by scripts/with_services.sh, which exports
LSTMLAB_TEST_OIDC_URL).

The provider's form takes a subject; the claims of that subject (email, email_verified) are set beforehand through the
provider's ``PUT /users/<sub>``, and a subject never set gets ``{"email": sub}`` without ``email_verified``.

Signed out, a visitor sees a sign-in button and no run; a member signed in as Alice edits her run and sees Bob's
read-only, a forged delete is refused by the store, a run she trains is saved as hers, the store's location is not
shown to her (an admin sees it); signing out returns to the sign-in button. A non-member, an identity whose email is
not verified (one that claims an admin's address, one whose provider says nothing) and a lab configured without
members see only a page saying why, deep links included. The browser opens the app at exactly the origin of
``redirect_uri`` (127.0.0.1 in both), as a deployment must: the sign-in cookie belongs to that origin.

Without Chromium, playwright or the provider these tests are skipped, naming the fix; under CI they fail.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lstmlab.store import Actor, RunStore, runs_table
from tests.support.browser import (
    OIDC_ENV,
    assert_no_exception,
    authorize,
    new_page,
    screenshot,
    set_identity,
    sign_in,
    wait_idle,
)
from tests.support.runs import make_run
from tests.support.stserver import serve

ALICE, BOB, ROOT_ = "alice@lab.example", "bob@lab.example", "root@lab.example"
MEMBERS = '["@lab.example"]'


def _secrets(tmp, oidc: str, lab_section: str):
    path = tmp / "secrets.toml"
    path.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'  # Streamlit puts in the server's port
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "lstmlab-test"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{oidc}/.well-known/openid-configuration"\n'
        f"[lstmlab]\n{lab_section}"
    )
    return path


@pytest.fixture(scope="module")
def lab(oidc, tmp_path_factory):
    """(app URL, store URL, {owner: run id}): the dashboard with sign-in through the provider, members of
    @lab.example and root@lab.example its admin, whose store holds one run of Alice's and one of Bob's."""
    tmp = tmp_path_factory.mktemp("signin")
    path = _secrets(tmp, oidc, f'members = {MEMBERS}\nadmins = ["{ROOT_}"]\n')
    db = str(tmp / "runs.db")
    with RunStore(db) as s:
        runs = {owner: s.save(make_run(seed, steps=6), actor=Actor(owner)) for seed, owner in ((810, ALICE),
                                                                                                 (811, BOB))}
    with serve(tmp / "streamlit.log", {"LSTMLAB_DB": db}, options=("--secrets.files", str(path))) as (url, _pid):
        yield url, db, runs


def _text(page) -> str:
    return page.evaluate("document.body.innerText").replace("\u2060", "")


def _wait_text(page, expected: str) -> None:
    """Wait until the page's text (without the word joiners escaping puts into emails) holds ``expected``."""
    page.wait_for_function("t => document.body.innerText.replaceAll('\\u2060', '').includes(t)", arg=expected,
                           timeout=30_000)


def _shows_only(page, app_url: str, db: str, expected: str, shot: str = "") -> None:
    """The page says ``expected`` with a sign-out button and nothing of the lab, at the app's root and at deep links
    to pages (one that would train a run), and no run is added to the store."""
    with RunStore(db) as s:
        before = sorted(s.list()["id"])
    for path in ("/runs", "/error_flow?cells=lstm&T=10&H=4&steps=3&batch=4", "/sweeps", "/why", ""):
        page.goto(app_url + path)
        wait_idle(page)
        _wait_text(page, expected)
        assert_no_exception(page)
        assert page.get_by_role("button", name="Sign out").count() == 1
        assert page.locator("[data-testid='stDataFrame'], [data-testid='stMultiSelect'], .vega-embed, "
                            "[data-testid='stSidebarNav'], [data-testid='stForm']").count() == 0
        assert "Run store" not in _text(page) and "runs.db" not in _text(page)
        assert "Page not found" not in _text(page)  # a deep link lands on this page itself
        if shot and not path:
            screenshot(page, shot, readme=False)
    with RunStore(db) as s:
        assert sorted(s.list()["id"]) == before


def _select(page, label_start: str) -> None:
    box = page.locator("[data-testid='stMultiSelect']").first
    box.click()
    page.get_by_role("option", name=label_start).first.click()
    page.keyboard.press("Escape")
    wait_idle(page)


def test_signed_out_sees_only_a_sign_in_button(lab, browser):
    url, _, _ = lab
    ctx, page = new_page(browser)
    for path in ("", "/runs", "/error_flow"):
        page.goto(url + path)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        wait_idle(page)
        assert "Page not found" not in _text(page)
        assert page.locator("[data-testid='stDataFrame'], [data-testid='stMultiSelect'], .vega-embed").count() == 0
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
        assert_no_exception(page)
    ctx.close()


def test_signed_in_user_edits_own_runs_only_and_signs_out(lab, oidc, browser):
    url, db, runs = lab
    ctx, page = new_page(browser, height=1600)
    sign_in(page, url, oidc, ALICE)
    assert "Run store" not in _text(page) and db not in _text(page)  # a member is not told where the store is

    page.goto(url + "/runs")
    wait_idle(page)
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=30_000)
    _select(page, "run 811")  # Bob's
    delete = page.get_by_role("button", name="Delete")
    assert delete.is_disabled() and page.get_by_role("button", name="Tag 1 run(s)").is_disabled()
    assert page.get_by_text("1 of the selected runs belong to someone else").is_visible()

    page.goto(url + "/runs")  # a fresh selection
    wait_idle(page)
    _select(page, "run 810")  # Alice's own
    assert delete.is_enabled()
    page.get_by_text("Yes, delete 1 run(s) for good").click()
    # Meanwhile the run changes hands (an admin gives it to Bob): Alice's click on the delete she was offered
    # deletes nothing, and the page now shows the run read-only.
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(runs_table.update().where(runs_table.c.id == runs[ALICE]).values(owner=BOB))
    engine.dispose()
    delete.click()
    wait_idle(page)
    assert delete.is_disabled()
    with RunStore(db) as s:
        assert runs[ALICE] in s and s.load(runs[ALICE]).owner == BOB
        # A forged request reaching the store as Alice (whatever the page showed) is refused there.
        with pytest.raises(PermissionError, match=f"{ALICE} may not delete run {runs[BOB]}"):
            s.delete(runs[BOB], actor=Actor(ALICE))
        assert runs[BOB] in s

    page.goto(url + "/error_flow?cells=lstm&T=10&H=4&steps=3&batch=4")  # trains and saves a tiny run
    wait_idle(page, timeout=120_000)
    assert_no_exception(page)
    with RunStore(db) as s:
        trained = s.list(cell="lstm", seq_len=10)
    assert list(trained["owner"]) == [ALICE]

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=30_000)  # the provider's own sign-out
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)  # back in the lab, signed out
    page.goto(url + "/runs")
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator("[data-testid='stDataFrame']").count() == 0
    ctx.close()


def test_admin_sees_where_the_store_is(lab, oidc, browser):
    url, db, _ = lab
    ctx, page = new_page(browser)
    sign_in(page, url, oidc, ROOT_, admin=True)
    page.goto(url + "/runs")
    wait_idle(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("Run store:").wait_for(timeout=30_000)
    assert db in sidebar.inner_text().replace("\u2060", "")
    ctx.close()


def test_non_member_sees_only_the_not_a_member_page_and_signs_out(lab, oidc, browser):
    url, db, _ = lab
    ctx, page = new_page(browser)
    authorize(page, url, set_identity(oidc, "eve-sub", email="eve@elsewhere.example", email_verified=True))
    _shows_only(page, url, db, "eve@elsewhere.example, which is not a member of this lab", shot="signin_not_member")
    assert page.get_by_role("heading", name="Not a member of this lab").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=30_000)  # the provider's own sign-out
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    ctx.close()


def test_unverified_email_is_refused_even_an_admins(lab, oidc, browser):
    url, db, _ = lab
    ctx, page = new_page(browser)
    authorize(page, url, set_identity(oidc, "mallory-sub", email=ROOT_, email_verified=False))
    _shows_only(page, url, db, f"signed you in as {ROOT_} but says this email address is not verified",
                shot="signin_unverified")
    assert "(admin)" not in _text(page) and "Signed in as" not in _text(page)
    ctx.close()
    ctx, page = new_page(browser)
    authorize(page, url, "carol@lab.example")  # never set: the provider sends {"email": sub}, no email_verified
    _shows_only(page, url, db, "carol@lab.example but does not say whether this email address is verified")
    ctx.close()


def test_sign_in_without_members_is_a_configuration_error(oidc, browser, tmp_path):
    path = _secrets(tmp_path, oidc, "admins = []\n")
    db = str(tmp_path / "runs.db")
    with RunStore(db) as s:
        s.save(make_run(812, steps=6), actor=Actor(ALICE))
    with serve(tmp_path / "streamlit.log", {"LSTMLAB_DB": db}, options=("--secrets.files", str(path))) as (url, _):
        ctx, page = new_page(browser)
        for deep in ("/runs", "", "/error_flow?cells=lstm&T=10&H=4&steps=3&batch=4"):  # a deep link first
            page.goto(url + deep)
            page.get_by_text("This lab's sign-in is misconfigured").wait_for(timeout=60_000)
            wait_idle(page)
            assert_no_exception(page)
            assert "members is not set: sign-in admits only the lab's members" in _text(page)
            assert "Page not found" not in _text(page)
            assert page.get_by_role("button", name="Sign in").count() == 0
            assert page.locator("[data-testid='stDataFrame'], [data-testid='stSidebarNav'], .vega-embed").count() == 0
        ctx.close()
    with RunStore(db) as s:
        assert len(s.list()) == 1


@pytest.mark.parametrize("ci, outcome", [("1", "error"), ("", "skipped")])
def test_missing_provider_fails_under_ci_and_skips_otherwise(ci, outcome):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", OIDC_ENV)}
    env.update(CI=ci, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
         f"{Path(__file__)}::test_signed_out_sees_only_a_sign_in_button"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert f"1 {outcome}" in out, out
    assert f"{OIDC_ENV} is not set" in out
    assert (proc.returncode != 0) == (outcome == "error")
