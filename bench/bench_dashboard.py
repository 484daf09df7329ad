"""Dashboard latency through AppTest: the default Error flow study, the default Phase map and the default trained
network of Inside the LSTM, each cold, from the run store and cached.

Cold: empty result caches and an empty run store, so a study page submits its runs as jobs (the local worker pool)
and the time runs from the request until the page drew the finished runs (the training included; the first charts
of the running jobs come earlier, see bench/bench_live.py). From the store: empty result caches, the runs stored (a
restarted server). Cached: the same view again (tables and chart specs built once, lstmlab.ui.cached).
Target for a cached view: <= 0.3 s in one session. Prints medians over --repeats runs; a benchmark, not a test.

    python bench/bench_dashboard.py [--repeats 3]

Results: bench/results/dashboard.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Results, load, machine, results_path  # noqa: E402 - after the path set-up above
from lstmlab.runs.status import ACTIVE_STATUSES  # noqa: E402
from lstmlab.store import RunStore  # noqa: E402
from lstmlab.views import settings  # noqa: E402


def _app(page: str, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=3600)
    at.query_params.update(query)
    at.switch_page(f"pages/{page}")
    return at


def _clear():
    """Empty the result caches (st.cache_data). The run-store connection and the worker pool (st.cache_resource)
    are process-wide set-up, like the imports, and are kept."""
    import streamlit as st

    st.cache_data.clear()


def _timed(at) -> float:
    """Seconds until the page drew its runs finished: the script run, and while jobs it submitted are in flight,
    the wait for them and one more run."""
    t = time.perf_counter()
    at.run()
    with RunStore(os.environ["LSTMLAB_DB"]) as store:
        if not store.list(status=list(ACTIVE_STATUSES)).empty:
            while not store.list(status=list(ACTIVE_STATUSES)).empty:
                time.sleep(0.1)
            at.run()
    dt = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    if not at.get("vega_lite_chart"):
        raise RuntimeError("no chart drawn")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    results_path(ap)
    args = ap.parse_args()
    res = Results("dashboard", "Dashboard", libraries=("streamlit", "altair"))
    print(f"machine: {machine()}; load average {load()} before")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LSTMLAB_DB"] = str(Path(tmp) / "runs.db")
        # Warm up imports (numpy, pandas, altair, sqlalchemy, lstmlab), the store connection and the worker pool,
        # so "cold" means empty result caches and run store, not a cold process.
        _clear()
        _timed(_app("why.py"))
        _timed(_app("error_flow.py", T="10", H="4", steps="2", batch="4"))
        results = {"error flow, cold": [], "error flow, from the store": [], "error flow, cached": [],
                   "training, from the store": [], "training, cached": [],
                   "phase map, cold": [], "phase map, cached": [],
                   "inside, trained, cold": [], "inside, trained, cached": []}
        for i in range(args.repeats):
            os.environ["LSTMLAB_DB"] = str(Path(tmp) / f"runs-{i}.db")
            _clear()
            results["error flow, cold"].append(_timed(_app("error_flow.py")))
            _clear()
            at = _app("error_flow.py")
            results["error flow, from the store"].append(_timed(at))
            results["error flow, cached"].append(_timed(at))
            at = _app("training.py")
            results["training, from the store"].append(_timed(at))
            results["training, cached"].append(_timed(at))
            _clear()
            at = _app("phase_map.py")
            results["phase map, cold"].append(_timed(at))
            results["phase map, cached"].append(_timed(at))
            _clear()
            at = _app("inside_lstm.py", net="trained")
            results["inside, trained, cold"].append(_timed(at))
            results["inside, trained, cached"].append(_timed(at))
        flow, inside = settings.defaults("flow"), settings.defaults("inside")
        res.note(f"Error flow default: cells {flow['cells']}, T={flow['T']}, H={flow['H']}, steps={flow['steps']}, "
                 f"batch={flow['batch']}; phase map default: {settings.defaults('phase')}; Inside the LSTM, "
                 f"trained: T={inside['T']}, H={inside['H']}, steps={inside['steps']}, task {inside['task']}.")
        print(f"load average {load()} after")
        table = res.table(f"Seconds until a view is drawn (AppTest), medians of {args.repeats}",
                          ["view", "median s", "each run s"])
        for name, times in results.items():
            table.add(name, statistics.median(times), ", ".join(f"{t:.3f}" for t in times))
    res.save(args.results)


if __name__ == "__main__":
    main()
