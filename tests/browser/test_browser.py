"""End-to-end: the dashboard in a real Chromium, driven by playwright.

Starts ``streamlit run`` on a free loopback port with the run store in tmp_path, opens pages, submits the default
study and checks the charts rendered. Screenshots go to test-output/browser/ (and to docs/img/ when
LSTMLAB_README_SHOTS=1).

Without Chromium or playwright the tests are skipped, naming the fix; under CI (the ``CI`` environment variable
set) they fail instead, so a missing browser never passes as a skip.
"""

import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.support.browser import (
    LONG,
    SERVER_LOG,
    assert_no_exception,
    charts_rendered,
    in_ci,
    missing_requirement,
    new_page,
    screenshot,
    wait_idle,
    wait_trained,
)
from tests.support.stserver import serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(requirements, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    with serve(tmp / "streamlit.log", {"LSTMLAB_DB": str(tmp / "runs.db")}) as (url, _pid):
        SERVER_LOG.append(tmp / "streamlit.log")
        yield url


def test_first_visit_by_deep_link_uses_the_navigation(server, browser):
    """Runs first on a fresh server: a shared link straight to a page must get the app's navigation."""
    from lstmlab.ui.nav import PAGES

    ctx, page = new_page(browser)
    page.goto(server + "/error_flow?cells=rnn&T=20&H=8&steps=5&batch=8")
    wait_idle(page, timeout=120_000)
    names = [s.strip().splitlines()[-1] for s in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]
    assert names == [title for _, title, _ in PAGES]
    charts_rendered(page, 2)
    assert_no_exception(page)
    ctx.close()


def test_sidebar_lists_exactly_the_navigation(server, browser):
    from lstmlab.ui.nav import PAGES

    ctx, page = new_page(browser)
    page.goto(server)
    wait_idle(page)
    # each link reads "<icon ligature>\n\n<title>"
    names = [s.strip().splitlines()[-1] for s in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]
    # Streamlit hides the navigation of a one-page app.
    assert names == ([title for _, title, _ in PAGES] if len(PAGES) > 1 else [])
    assert_no_exception(page)
    ctx.close()


def test_landing_page_renders(server, browser):
    ctx, page = new_page(browser)
    page.goto(server + "/?w=1.1&T=100")
    wait_idle(page)
    charts_rendered(page, 1)
    assert "13780.6" in page.locator("[data-testid='stMetric']").first.inner_text()
    # KaTeX typesets the equations after the page is idle
    page.wait_for_function("document.querySelectorAll('.katex').length >= 4", timeout=30_000)
    assert_no_exception(page)
    screenshot(page, "why")
    ctx.close()


RECORDINGS = re.compile(r"(\d+) recordings, up to training step (\d+)")


def _recordings(page) -> int:
    """Training-step columns of the Error flow heatmap, as its caption counts them (0 before there is one)."""
    found = RECORDINGS.search(" ".join(page.locator("[data-testid='stCaptionContainer']").all_inner_texts()))
    return int(found[1]) if found else 0


def _final_ratio(reading: str, cell: str) -> float:
    """The first-step ratio the reading gives for ``cell`` after training ("0 (vanished)" reads 0)."""
    found = re.search(rf"{cell}: \S+(?: \(vanished\))? at initialisation, (\S+)(?: \(vanished\))? after \d+ steps",
                      reading)
    assert found, reading
    return float(found[1])


def test_error_flow_default_study_grows_live_and_names_the_recovery(server, browser):
    """The default study runs as jobs: the heatmap gains training-step columns while it trains, the final reading
    names the step where the LSTM's first-step error recovered, and it shows the contrast the page is about."""
    ctx, page = new_page(browser, height=2400)
    page.goto(server + "/error_flow")
    page.wait_for_function(
        "re => document.body.innerText.match(new RegExp(re))", arg=RECORDINGS.pattern, timeout=LONG)
    earlier = _recordings(page)
    page.wait_for_function(
        "([re, n]) => { const m = document.body.innerText.match(new RegExp(re)); return m && +m[1] > n; }",
        arg=[RECORDINGS.pattern, earlier], timeout=LONG)
    assert _recordings(page) > earlier >= 2
    screenshot(page, "error_flow_live", readme=False)
    wait_trained(page, "RNN", "LSTM")  # both runs ended: the page stops refreshing
    charts_rendered(page, 4)
    assert_no_exception(page)
    reading = page.locator("[data-testid='stAlert']").filter(has_text="at initialisation").first.inner_text()
    recovered = re.search(r"LSTM's error reaching t = 1 collapsed to \S+ by step \d+ and recovered to \S+ at step "
                          r"(\d+)", reading)
    assert recovered and 0 < int(recovered[1]) <= 1000, reading
    assert _final_ratio(reading, "LSTM") > 1e-2 and _final_ratio(reading, "RNN") < 1e-6
    assert _recordings(page) == 41  # step 0 and every 25 steps
    assert "cells=rnn%2Clstm" in page.url or "cells=rnn,lstm" in page.url
    screenshot(page, "error_flow")
    ctx.close()


@pytest.mark.parametrize("path, name, n_charts", [
    ("/training?T=30&H=8&steps=40&batch=16", "training", 5),
    ("/phase_map", "phase_map", 2),
    ("/inside_lstm", "inside_lstm_init", 6),
])
def test_other_pages_render(server, browser, path, name, n_charts):
    ctx, page = new_page(browser, height=2200)
    page.goto(server + path)
    wait_idle(page, timeout=120_000)
    charts_rendered(page, n_charts)
    assert_no_exception(page)
    screenshot(page, name, readme=name != "inside_lstm_init")  # the README shows the trained network
    ctx.close()


def test_dark_theme(server, browser):
    ctx, page = new_page(browser, dark=True, height=2200)
    page.goto(server + "/error_flow?T=40&H=8&steps=20&batch=16")
    wait_idle(page, timeout=120_000)
    charts_rendered(page, 4)
    bg = page.evaluate("getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
    assert bg != "rgb(255, 255, 255)"
    assert_no_exception(page)
    screenshot(page, "error_flow_dark")
    ctx.close()


def test_runs_page_overlays_stored_runs(server, browser):
    ctx, page = new_page(browser, height=2000)
    page.goto(server + "/error_flow?cells=rnn,lstm,gru&T=60&H=8&steps=30&batch=16")
    wait_trained(page, "RNN", "LSTM", "GRU")
    page.goto(server + "/runs")
    wait_idle(page)
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=30_000)  # the grid renders after the run
    box = page.locator("[data-testid='stMultiSelect']").first
    for cell in ("RNN", "LSTM", "GRU"):  # the study above (the list also offers "select all" and older runs)
        box.click()
        page.get_by_role("option", name=re.compile(rf"^{cell} T=60 ")).first.click()
        page.keyboard.press("Escape")
        wait_idle(page)
    charts_rendered(page, 3)
    assert page.locator("[data-testid='stDownloadButton']").count() == 4
    assert_no_exception(page)
    screenshot(page, "runs")
    ctx.close()


def test_inside_lstm_trained_network(server, browser):
    """The default trained network: its forget gates opened and the error on their cell state carried."""
    ctx, page = new_page(browser, height=2500)
    page.goto(server + "/inside_lstm?net=trained")
    wait_idle(page, timeout=120_000)
    charts_rendered(page, 7)
    assert_no_exception(page)
    assert "trained 600 steps on the adding problem" in page.locator("[data-testid='stAlert']").first.inner_text()
    metrics = page.locator("[data-testid='stMetric']").all_inner_texts()
    forget = next(m for m in metrics if m.startswith("Mean forget gate"))
    lines = [line for line in forget.splitlines() if line.strip()]  # label, value, delta
    assert float(lines[1]) > 0.85 and lines[2].startswith("+") and "vs initialised" in lines[2]
    screenshot(page, "inside_lstm")
    ctx.close()


def test_inside_the_lstm_of_1997_shows_its_carousel(server, browser):
    """The LSTM of 1997 with its truncated gradient, freshly initialised: ∂c_t/∂c_(t−1) reads 1 in every unit and
    the error on the cell state reaches the first step whole."""
    ctx, page = new_page(browser, height=2500)
    page.goto(server + "/inside_lstm?cell=lstm97&gradient=truncated&T=30&H=8")
    wait_idle(page, timeout=120_000)
    charts_rendered(page, 7)
    assert_no_exception(page)
    assert "Freshly initialised LSTM 1997" in page.locator("[data-testid='stAlert']").first.inner_text()
    metrics = page.locator("[data-testid='stMetric']").all_inner_texts()
    carry = next(m for m in metrics if m.startswith("Mean ∂c_t/∂c_(t−1)"))
    carousel = next(m for m in metrics if m.startswith("‖δc_1‖ / ‖δc_T‖"))
    assert [line for line in carry.splitlines() if line.strip()][1] == "1.000"
    assert [line for line in carousel.splitlines() if line.strip()][1] == "1"
    assert page.locator(".katex").filter(has_text="no forget gate").count() >= 1
    screenshot(page, "inside_lstm97", readme=False)
    ctx.close()


def test_a_shared_link_cannot_put_links_or_images_on_the_page(server, browser):
    """An unknown parameter's name and a bad value are shown as text: no image is fetched, no link drawn."""
    ctx, page = new_page(browser)
    name = urllib.parse.quote("x`![px](http://evil.example/p.png)[click here](http://evil.example)")
    value = urllib.parse.quote("![px](http://evil.example/q.png) www.e.x")
    page.goto(f"{server}/?{name}=1&w={value}")
    wait_idle(page)
    alerts = page.locator("[data-testid='stAlert']")
    assert alerts.count() == 2
    text = " ".join(alerts.all_inner_texts()).replace("\u2060", "")  # word joiners keep bare URLs text
    assert "[click here](http://evil.example)" in text and "![px](http://evil.example/q.png)" in text
    assert page.locator("[data-testid='stAlert'] img").count() == 0
    assert page.locator("[data-testid='stAlert'] a").count() == 0
    assert_no_exception(page)
    ctx.close()


@pytest.mark.parametrize("ci, outcome", [("1", "error"), ("", "skipped")])
def test_missing_chromium_fails_under_ci_and_skips_otherwise(tmp_path, ci, outcome):
    """Run one browser test with no chromium on PATH: under CI it must fail naming the fix, otherwise skip."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PATH=str(tmp_path), CI=ci, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
         f"{Path(__file__)}::test_sidebar_lists_exactly_the_navigation"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert f"1 {outcome}" in out, out
    assert "chromium not found: run bash scripts/setup.sh" in out
    assert (proc.returncode != 0) == (outcome == "error")


def test_requirement_messages():
    assert missing_requirement("/usr/bin/chromium", True) is None
    assert missing_requirement(None, True) == "chromium not found: run bash scripts/setup.sh"
    assert missing_requirement("/usr/bin/chromium", False) == "playwright not installed: run bash scripts/setup.sh"
    assert in_ci({"CI": "true"}) and in_ci({"CI": "1"})
    assert not in_ci({}) and not in_ci({"CI": ""}) and not in_ci({"CI": "false"})
