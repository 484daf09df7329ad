"""The first study after an install: a fresh clone, its kernels never compiled, the README's first command.

Per source tree (``--tree``, a git repository; give main's and this one's to measure before and after in one run)
and round, in turns: ``git clone`` it into a temporary directory (so numba's cache beside the kernels is empty),
start ``streamlit run streamlit_app.py`` in the clone, open Error flow in Chromium as soon as /_stcore/health
answers, click "Train and compare" as soon as it shows, and time from the click:

- the first chart drawn; the LSTM's recovery named in the reading; both runs ended ("Trained in RNN ..., LSTM");

then the same for a later study in the same server (a new seed: the kernels loaded by then). Opening the page on an
empty store submits the default study already, so the times from opening the page are printed too.

    python bench/bench_first_study.py --tree /work/main --tree . [--rounds 2]

Results: bench/results/first_study.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Results, load, machine, results_path  # noqa: E402  # noqa: E402
from tests.support.stserver import serve  # noqa: E402

CHART = "() => document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length > 0"
RECOVERY = "() => /recovered to [0-9.e+-]+ at step/.test(document.body.innerText)"
ENDED = "() => /Trained in RNN [0-9.]+ s, LSTM [0-9.]+ s/.test(document.body.innerText)"
TIMEOUT_MS = 600_000


@contextlib.contextmanager
def server(clone: Path, tmp: Path):
    """``streamlit run streamlit_app.py`` in ``clone`` (its own lstmlab, a store in ``tmp``), yielding its URL once
    /_stcore/health answers; stops it and its job workers on exit."""
    env = dict(LSTMLAB_DB=str(tmp / "runs.db"), XDG_CACHE_HOME=str(tmp / "cache"))
    with serve(tmp / "server.log", env, start_timeout=120, root=clone, without=("NUMBA_CACHE_DIR",)) as (url, _pid):
        yield url


def study(page, url: str) -> dict:
    """Open Error flow at ``url``, click Train at once; seconds from the click (and from opening) to each event."""
    opened = time.perf_counter()
    page.goto(url, timeout=TIMEOUT_MS)
    button = page.get_by_role("button", name="Train and compare")
    button.wait_for(timeout=TIMEOUT_MS)
    clicked = time.perf_counter()
    button.click()
    out = {"opened → click": clicked - opened}
    for name, condition in (("first chart", CHART), ("recovery named", RECOVERY), ("both ended", ENDED)):
        page.wait_for_function(condition, timeout=TIMEOUT_MS, polling=50)
        now = time.perf_counter()
        out[name] = now - clicked
        out[name + " (from opening)"] = now - opened
    return out


def one_round(tree: str, browser) -> dict:
    with tempfile.TemporaryDirectory(prefix="lstmlab-first-") as tmp:
        tmp = Path(tmp)
        clone = tmp / "clone"
        subprocess.run(["git", "clone", "-q", tree, str(clone)], check=True)
        commit = subprocess.run(["git", "-C", str(clone), "log", "-1", "--format=%h"], capture_output=True,
                                text=True, check=True).stdout.strip()
        with server(clone, tmp) as url:
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            first = study(page, url + "/error_flow")
            later = study(page, url + "/error_flow?seed=1")
            page.close()
        return {"commit": commit, "first": first, "later": later}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", help="git repository to clone (repeatable); default: this one")
    ap.add_argument("--rounds", type=int, default=2)
    results_path(ap)
    args = ap.parse_args()
    trees = args.tree or [str(ROOT)]
    record = Results("first_study", "First study after an install", libraries=("streamlit", "playwright"))
    print(f"machine: {machine()}; load average at start: {load()}", flush=True)
    from playwright.sync_api import sync_playwright

    results: dict = {tree: [] for tree in trees}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        for r in range(args.rounds):
            for tree in trees:
                res = one_round(tree, browser)
                results[tree].append(res)
                print(f"round {r + 1}, {tree} ({res['commit']}): "
                      + "; ".join(f"{kind}: " + ", ".join(f"{k} {v:.1f} s" for k, v in res[kind].items())
                                  for kind in ("first", "later")) + f"; load {load()}", flush=True)
        browser.close()
    names = ("first chart", "recovery named", "both ended")
    table = record.table(f"Seconds after the click on Train (and from opening the page), medians of {args.rounds} rounds",
                      ["tree", "study", *(f"{n} s" for n in names), *(f"{n}, from opening s" for n in names)])
    for tree, runs in results.items():
        where = "this tree" if Path(tree).resolve() == ROOT else tree
        for kind in ("first", "later"):
            table.add(f"{where} ({runs[0]['commit']})", kind,
                      *(statistics.median(r[kind][n] for r in runs) for n in names),
                      *(statistics.median(r[kind][n + " (from opening)"] for r in runs) for n in names))
    print(f"\nload average at the end: {load()}")
    record.save(args.results)


if __name__ == "__main__":
    main()
