"""The dashboard in a real Chromium driven by playwright: the requirements (skipped without them, failed under CI),
the browser, pages, waits, screenshots, and sign-in through the OpenID Connect provider on loopback."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

OUT = ROOT / "test-output" / "browser"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

HAS_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None


def missing_requirement(chromium, has_playwright: bool) -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not has_playwright:
        return "playwright not installed: run bash scripts/setup.sh"
    if chromium is None:
        return "chromium not found: run bash scripts/setup.sh"
    return None


def in_ci(env=os.environ) -> bool:
    """True when the ``CI`` environment variable is set (to anything but "", "0" or "false")."""
    return env.get("CI", "").strip().lower() not in ("", "0", "false")


@pytest.fixture(scope="module")
def requirements():
    """Skip the browser tests when Chromium or playwright is missing, or fail them under CI."""
    reason = missing_requirement(CHROMIUM, HAS_PLAYWRIGHT)
    if reason is not None:
        if in_ci():
            pytest.fail(f"{reason} (CI is set, so the browser tests may not be skipped)", pytrace=False)
        pytest.skip(reason)


SERVER_LOG: list[Path] = []

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


@pytest.fixture(scope="module")
def browser(requirements):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield b
        b.close()


def new_page(browser, dark=False, height=1100):
    ctx = browser.new_context(viewport={"width": 1500, "height": height}, color_scheme="dark" if dark else "light")
    return ctx, ctx.new_page()


def wait_idle(page, timeout=60_000):
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_timeout(300)  # let a rerun start before waiting for its end
    try:
        page.wait_for_selector(IDLE, timeout=timeout)
    except Exception:
        fail_not_idle(page)


def fail_not_idle(page):
    """Fail with what the page shows, a screenshot and the end of the server's log."""
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "not_idle.png"), full_page=True)
    log = SERVER_LOG[-1].read_text()[-5000:] if SERVER_LOG else ""
    raise AssertionError(f"{page.url} did not settle; it shows:\n{page.evaluate('document.body.innerText')}\n"
                         f"server log:\n{log}")


def wait_trained(page, *cells):
    """Wait until the study page lists every run of ``cells`` as trained (it refreshes while any is in flight),
    then for the page to be idle."""
    pattern = "Trained in " + ", ".join(rf"{cell} [0-9.]+ s" for cell in cells)
    try:
        page.wait_for_function("re => new RegExp(re).test(document.body.innerText)", arg=pattern, timeout=LONG)
    except Exception:
        fail_not_idle(page)
    wait_idle(page)


def screenshot(page, name, readme=True):
    """Screenshot of the whole page. The main area scrolls inside the window, which a full-page screenshot does not
    follow: the window is made as tall as the main area's content first (its width, and so the layout, stay)."""
    OUT.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    if height > page.viewport_size["height"]:
        page.set_viewport_size({"width": page.viewport_size["width"], "height": height})
        page.wait_for_timeout(1000)  # the charts redraw
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    if readme and os.environ.get("LSTMLAB_README_SHOTS"):
        img = ROOT / "docs" / "img"
        img.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(img / f"{name}.png"), full_page=True)


def charts_rendered(page, n_min):
    # wait_idle may see the idle state from before the script run started: on a loaded machine the run and the
    # rendering together take tens of seconds
    page.wait_for_function(
        "n => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= n", arg=n_min,
        timeout=120_000,
    )
    return page.locator(".vega-embed").count()


def assert_no_exception(page):
    assert page.locator("[data-testid='stException']").count() == 0


OIDC_ENV = "LSTMLAB_TEST_OIDC_URL"


@pytest.fixture(scope="module")
def oidc(requirements):
    """The provider's URL; skipped without it, failed under CI."""
    url = os.environ.get(OIDC_ENV)
    if not url:
        message = (f"{OIDC_ENV} is not set: run the tests through `bash scripts/with_services.sh .venv/bin/python -m "
                   "pytest`, which starts the OpenID Connect provider")
        if in_ci():
            pytest.fail(f"{message} (CI is set, so the sign-in tests may not be skipped)", pytrace=False)
        pytest.skip(message)
    return url


def set_identity(oidc: str, sub: str, **claims) -> str:
    """Give subject ``sub`` these claims at the provider (its ``PUT /users/<sub>``); returns ``sub``."""
    request = urllib.request.Request(f"{oidc}/users/{sub}", data=json.dumps(claims).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
    return sub


def authorize(page, app_url: str, sub: str) -> None:
    """Sign in through the provider's form as subject ``sub`` and wait for the app to settle."""
    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click(timeout=60_000)
    page.wait_for_selector("input[name='sub']", timeout=30_000)  # the provider's login form
    page.fill("input[name='sub']", sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(app_url + "/**", timeout=30_000)
    wait_idle(page)


def sign_in(page, app_url: str, oidc: str, email: str, admin: bool = False) -> None:
    """Sign in as a member with this verified email (the provider's subject is not the email)."""
    authorize(page, app_url, set_identity(oidc, f"sub-{email.split('@')[0]}", email=email, email_verified=True))
    shown = page.get_by_text("Signed in as")
    shown.wait_for(timeout=30_000)
    role = " (admin)" if admin else ""
    assert shown.inner_text().replace("\u2060", "") == f"Signed in as {email}{role}"  # word joiners keep it text


LONG = 1_200_000  # ms: the default study trains 1,000 steps of an RNN and an LSTM on a shared, loaded machine
