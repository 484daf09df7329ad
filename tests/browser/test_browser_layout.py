"""Every page fits the screen: in a real Chromium at 1400 x 1000 and 1920 x 1080, no chart, equation, table or other
element of the dashboard is wider than the block it sits in, and no chart extends past the main area's right edge.

One server for the module, on a run store seeded with a tiny study of the three cells, a tiny sweep of them and the
quick runs of two recipes, all trained by real jobs before the server starts: the study pages find the study's runs, the Runs page overlays them.
Screenshots of every page at both sizes go to test-output/browser/layout/.

Without Chromium or playwright the tests are skipped, naming the fix; under CI they fail.
"""

import itertools
import json
import re
import urllib.parse

import pytest

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.reproduce import submit as reproduce
from lstmlab.store import RunStore
from lstmlab.views import settings
from tests.support.browser import (
    OUT,
    SERVER_LOG,
    assert_no_exception,
    charts_rendered,
    screenshot,
    wait_idle,
    wait_trained,
)
from tests.support.stserver import serve

SIZES = {"1400x1000": (1400, 1000), "1920x1080": (1920, 1080)}
SWEEP = "layout"
SWEEP_GRID = {"cell": ("rnn", "lstm", "gru"), "seq_len": (5, 10), "weight_scale": (0.5, 1.0)}
SWEEP_FIXED = dict(steps=10, hidden_size=4, batch_size=8, eval_size=8, record_every=5, seed=0)
STUDY = "cells=rnn,lstm,gru&T=30&H=8&steps=40&batch=16"

# (name, path, charts the page draws at least), in navigation order
PAGES = [
    ("why", "/?w=1.1&T=100", 1),
    ("error_flow", f"/error_flow?{STUDY}", 4),
    ("training", f"/training?{STUDY}", 7),
    ("inside_lstm", "/inside_lstm", 7),
    ("phase_map", "/phase_map", 2),
    ("runs", "/runs", 3),
    ("sweeps", f"/sweeps?name={SWEEP}", 1),
    ("reproductions", "/reproductions", 4),
]
# quick scale, seeds per row: the page's cards with runs (asb16-copy's with the chart of loss over the baseline)
RECIPES = {"pmb13-bound": 1, "bsf94-latch": 2, "asb16-copy": 1}

# Elements that must lie inside the block that holds them (their stVerticalBlock: the page, a column, a form, an
# expander). Elements not laid out (a collapsed expander's) have an empty box and are passed over.
CHECKED = ", ".join([
    ".katex-display", ".katex", ".vega-embed", ".vega-embed canvas", ".vega-embed svg",
    "[data-testid='stDataFrame']", "[data-testid='stTable']", "[data-testid='stMetric']",
    "[data-testid='stMarkdownContainer']", "[data-testid='stCaptionContainer']", "[data-testid='stAlert']",
    "[data-testid='stCode']", "[data-testid='stCode'] pre", "[data-testid='stImage'] img", "[data-testid='stButton']",
    "[data-testid='stDownloadButton']", "[data-testid='stPageLink']", "[data-testid='stProgress']",
])

OVERFLOWS_JS = """sel => {
  const main = document.querySelector("[data-testid='stMain']");
  const right = main.getBoundingClientRect().right;
  const name = el => {
    const id = el.getAttribute('data-testid');
    const text = (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
    return (id ? `[${id}]` : el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
            ? '.' + String(el.className).split(' ')[0] : '')) + (text ? ` "${text}"` : '');
  };
  const found = [];
  if (main.scrollWidth > main.clientWidth + 1) {
    found.push(`the main area scrolls sideways by ${main.scrollWidth - main.clientWidth} px`);
  }
  for (const el of main.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const block = el.closest("[data-testid='stElementContainer']")?.closest("[data-testid='stVerticalBlock']");
    if (!block) continue;
    const b = block.getBoundingClientRect();
    const over = Math.max(r.right - b.right, b.left - r.left);
    if (over > 1) found.push(`${name(el)} is ${Math.round(over)} px wider than its block (${Math.round(r.width)} `
                             + `in ${Math.round(b.width)} px)`);
    if (el.matches('.katex-display')) {
      // the equation is the row of its .base boxes; KaTeX's 2 px strut after an aligned block (.vlist-s) pokes out
      // of them invisibly and would count in scrollWidth
      const bases = [...el.querySelectorAll('.katex-html > .base')].map(e => e.getBoundingClientRect());
      const hidden = Math.max(...bases.map(q => q.right - r.right), ...bases.map(q => r.left - q.left));
      if (hidden > 1) found.push(`${name(el)} hides or scrolls ${Math.round(hidden)} px of its equation`);
    } else if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible'
               && !el.matches("[data-testid='stDataFrame']")) {
      found.push(`${name(el)} hides or scrolls ${el.scrollWidth - el.clientWidth} px of its content`);
    }
    if (el.matches('.vega-embed canvas, .vega-embed svg') && r.right > right + 1) {
      found.push(`a chart's ${el.tagName.toLowerCase()} ends ${Math.round(r.right - right)} px right of the main `
                 + 'area');
    }
  }
  return [...new Set(found)];
}"""


def overflows(page) -> list[str]:
    """What sticks out on ``page``: one sentence per element wider than its block or past the main area."""
    return page.evaluate(OVERFLOWS_JS, CHECKED)


@pytest.fixture(scope="module")
def server(requirements, tmp_path_factory):
    """The dashboard on a run store holding the runs of STUDY, sweep "layout" (3 cells x 2 lengths x 2 weight
    scales) and the quick scale of RECIPES, trained."""
    tmp = tmp_path_factory.mktemp("layout")
    db = str(tmp / "runs.db")
    store = RunStore(db)
    store.record_sweep(SWEEP, json.dumps({"grid": [[k, list(v)] for k, v in SWEEP_GRID.items()], "seeds": [0],
                                          "fixed": sorted(SWEEP_FIXED.items())}))
    ids = [jobs.submit(RunConfig(cell=c, seq_len=T, weight_scale=w, **SWEEP_FIXED), store_url=db, sweep=SWEEP)
           for c, T, w in itertools.product(*SWEEP_GRID.values())]
    values, _ = settings.parse_params("flow", dict(urllib.parse.parse_qsl(STUDY)))
    ids += [jobs.submit(config, store_url=db) for config in settings.study(values).configs]  # as the pages would
    for rid, seeds in RECIPES.items():  # as `python -m lstmlab reproduce ID --seeds N` would
        _, done = reproduce.submit(rid, "quick", seeds, store_url=db)
        ids += done["submitted"]
    for run_id in ids:
        assert jobs.wait(run_id, store_url=db, timeout=300) == "finished"
    with serve(tmp / "streamlit.log", {"LSTMLAB_DB": db}) as (url, _pid):
        SERVER_LOG.append(tmp / "streamlit.log")
        yield url


def _open(page, server, name, path, n_charts):
    page.goto(server + path)
    wait_idle(page, timeout=120_000)
    if name == "error_flow":
        wait_trained(page, "RNN", "LSTM", "GRU")
    if name == "runs":
        page.wait_for_selector("[data-testid='stDataFrame']", timeout=30_000)
        box = page.locator("[data-testid='stMultiSelect']").first
        for cell in ("RNN", "LSTM", "GRU"):  # the study's runs (the store also holds the sweep's)
            box.click()
            page.keyboard.type(f"{cell} T=30 ")  # the list draws only its first options: filter it to the study's
            page.get_by_role("option", name=re.compile(rf"^{cell} T=30 ")).first.click()
            page.keyboard.press("Escape")
            wait_idle(page)
    charts_rendered(page, n_charts)
    page.wait_for_timeout(500)  # let the charts take their final width
    assert_no_exception(page)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name, path, n_charts", PAGES, ids=[p[0] for p in PAGES])
def test_every_element_fits_its_block(server, browser, name, path, n_charts, size):
    width, height = SIZES[size]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    try:
        _open(page, server, name, path, n_charts)
        found = overflows(page)
        (OUT / "layout").mkdir(parents=True, exist_ok=True)
        screenshot(page, f"layout/{name}-{size}", readme=False)  # the whole page, at the width checked
        assert not found, f"{name} at {size}:\n" + "\n".join(found)
    finally:
        ctx.close()


def test_the_check_sees_an_element_wider_than_its_block(server, browser):
    """The check itself: a chart and an equation made wider than their column are both named."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    try:
        _open(page, server, "why", "/?w=1.1&T=100", 1)
        before = overflows(page)
        page.evaluate("""() => {
          document.querySelector('.vega-embed canvas, .vega-embed svg').style.width = '3000px';
          const k = document.querySelector('.katex-display > .katex');
          k.style.display = 'inline-block'; k.style.width = '2000px';
        }""")
        found = "\n".join(set(overflows(page)) - set(before))
        assert "a chart's" in found and "right of the main area" in found, found
        assert "katex" in found and "wider than its block" in found, found
    finally:
        ctx.close()
