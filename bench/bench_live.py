"""The live dashboard in Chromium against one server with the embedded worker pool:

1. time from pressing "Train and compare" on Error flow to the first drawn chart of the submitted (running) jobs,
   for a fresh study each time (a new seed; default shapes: RNN + LSTM, T = 100, H = 32, batch 32; 200 steps so each
   repetition ends before the next), median over --repeats; target <= 1 s;
2. the default study (1,000 steps) from opening the page on an empty store to both runs finished, wall time, and
   the runs' own training times from the store.

A benchmark, not a test; prints the machine, its load and a table, and writes them to its results file.

    python bench/bench_live.py [--repeats 5] [--skip-default]

Results: bench/results/live.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Results, load, machine, results_path  # noqa: E402 - after the path set-up above  # noqa: E402 - after the path set-up above
from lstmlab.store import RunStore  # noqa: E402
from tests.support.stserver import serve  # noqa: E402

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
READING = "[data-testid='stAlert']:has-text('at initialisation')"


def _settled(page, store: RunStore, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not store.list(status=["queued", "running"]).empty:
        if time.monotonic() > deadline:
            raise TimeoutError("runs still in flight")
        time.sleep(0.2)
    page.wait_for_selector(IDLE, timeout=60_000)


def first_chart_times(page, url: str, store: RunStore, repeats: int) -> list[float]:
    """Seconds from the click on Train to the first chart of the new study's running jobs."""
    page.goto(url + "/error_flow?steps=200&seed=1000")
    page.wait_for_selector(READING, timeout=600_000)
    _settled(page, store)
    page.get_by_text("Advanced").click()
    times = []
    for seed in range(1001, 1001 + repeats):
        page.get_by_label("Seed").fill(str(seed))
        before = page.locator(READING).first.inner_text()
        t0 = time.perf_counter()
        page.get_by_role("button", name="Train and compare").click()
        page.wait_for_function(
            """before => { const a = [...document.querySelectorAll("[data-testid='stAlert']")]
                             .find(e => e.innerText.includes('at initialisation'));
                           const charts = document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks');
                           return a && a.innerText !== before && charts.length > 0; }""",
            arg=before, timeout=120_000, polling=20)
        times.append(time.perf_counter() - t0)
        print(f"seed {seed}: first chart after {times[-1]:.2f} s", flush=True)
        _settled(page, store)
    return times


def default_study(page, url: str, store: RunStore) -> tuple[float, list]:
    """(seconds from opening Error flow on an empty store to its default study finished, [(cell, wall_time)]),
    and where that time went, per run, from the store's timestamps: page opened → run submitted (its row written),
    → training started (its end less its training time), training, → its end stored (the final heartbeat), and
    the last end stored → the page showing both ended."""
    opened = time.time()
    page.goto(url + "/error_flow")
    # "Trained in" lists each run as it ends: wait until it names both
    page.wait_for_function("() => /Trained in RNN [0-9.]+ s, LSTM [0-9.]+ s/.test(document.body.innerText)",
                           timeout=3_600_000, polling=200)
    shown = time.time()
    runs = store.list()
    ends = []
    for _, run in runs.iterrows():
        end = store.progress(run["id"])["heartbeat"]
        ends.append(end)
        print(f"{run['cell'].upper()}: opened → submitted {run['created_at'] - opened:.1f} s, → training started "
              f"{end - run['wall_time'] - run['created_at']:.1f} s, training {run['wall_time']:.1f} s, "
              f"ended → the page showing both ended {shown - end:.1f} s", flush=True)
    return shown - opened, list(zip(runs["cell"], runs["wall_time"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-default", action="store_true")
    results_path(p)
    args = p.parse_args()
    res = Results("live", "Live dashboard", libraries=("streamlit", "playwright"))
    print(f"machine: {machine()}; load average at start: {load()}", flush=True)
    rows = []
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        if not args.skip_default:
            db = Path(tmp) / "default.db"
            with serve(Path(tmp) / "default.log", {"LSTMLAB_DB": str(db)}) as (url, _):
                page = browser.new_page(viewport={"width": 1500, "height": 1200})
                wall, runs = default_study(page, url, RunStore(db))
                rows.append(("default study (1,000 steps), page opened → both runs finished", wall, None, None,
                             ", ".join(f"{c.upper()} {w:.1f} s" for c, w in runs), "reported", load()))
                page.close()
        db = Path(tmp) / "first.db"
        with serve(Path(tmp) / "first.log", {"LSTMLAB_DB": str(db)}) as (url, _):
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            times = first_chart_times(page, url, RunStore(db), args.repeats)
            rows.append((f"Train → first chart of the running jobs, median of {len(times)}", statistics.median(times),
                         min(times), max(times), "", "≤ 1 s", load()))
        browser.close()
    table = res.table("The live dashboard in Chromium", ["measure", "measured s", "least s", "most s",
                                                         "runs' own training", "target", "load average after"])
    for row in rows:
        table.add(*row)
    res.save(args.results)


if __name__ == "__main__":
    main()
