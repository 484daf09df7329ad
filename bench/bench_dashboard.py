"""Dashboard latency through AppTest: default Error flow study, default Phase map and the default trained network
of Inside the LSTM, each cold (empty result caches and run store) and cached; the Error flow study also from the
run store (empty caches, the run stored: a restarted server).

Targets (interactive use): Error flow (RNN + LSTM, T=100, default hidden size and steps) <= 2 s cold and
<= 0.3 s cached; Phase map <= 3 s cold; Inside the LSTM trained (600 steps, T=50, H=16) about 2 s cold.
Prints medians over --repeats runs; a benchmark, not a test.

    python bench/bench_dashboard.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmlab import settings  # noqa: E402 - after the path set-up above


def _app(page: str, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.query_params.update(query)
    at.switch_page(f"pages/{page}")
    return at


def _clear():
    """Empty the result caches (st.cache_data). The run-store connection (st.cache_resource) is process-wide
    set-up, like the imports, and is kept."""
    import streamlit as st

    st.cache_data.clear()


def _timed(at) -> float:
    t = time.perf_counter()
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LSTMLAB_DB"] = str(Path(tmp) / "runs.db")
        # Warm up imports (numpy, pandas, altair, sqlalchemy, lstmlab) and the store connection, so "cold" means
        # an empty result cache, not a cold process.
        _clear()
        _timed(_app("why.py"))
        warm = _app("error_flow.py")
        warm.query_params.update({"T": "10", "H": "4", "steps": "2", "batch": "4"})
        _timed(warm)
        results = {"error flow, cold": [], "error flow, cached": [], "error flow, from the store": [],
                   "phase map, cold": [], "phase map, cached": [],
                   "inside, trained, cold": [], "inside, trained, cached": []}
        for i in range(args.repeats):
            # a new, empty run store: cold runs train (the dashboard reuses a stored run of the same config)
            os.environ["LSTMLAB_DB"] = str(Path(tmp) / f"runs-{i}.db")
            _clear()
            at = _app("error_flow.py")
            results["error flow, cold"].append(_timed(at))
            results["error flow, cached"].append(_timed(at))
            _clear()
            results["error flow, from the store"].append(_timed(_app("error_flow.py")))
            _clear()
            at = _app("phase_map.py")
            results["phase map, cold"].append(_timed(at))
            results["phase map, cached"].append(_timed(at))
            _clear()
            at = _app("inside_lstm.py", net="trained")
            results["inside, trained, cold"].append(_timed(at))
            results["inside, trained, cached"].append(_timed(at))
        flow = settings.defaults("flow")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.2f}; python {platform.python_version()}")
        print(f"error flow default: cells {flow['cells']}, T={flow['T']}, H={flow['H']}, steps={flow['steps']}, "
              f"batch={flow['batch']}; phase map default: {settings.defaults('phase')}")
        inside = settings.defaults("inside")
        print(f"inside the LSTM, trained: T={inside['T']}, H={inside['H']}, steps={inside['steps']}, "
              f"task {inside['task']}")
        targets = {"error flow, cold": 2.0, "error flow, cached": 0.3, "error flow, from the store": 2.0,
                   "phase map, cold": 3.0,
                   "phase map, cached": 0.3, "inside, trained, cold": 2.0, "inside, trained, cached": 0.3}
        for name, times in results.items():
            med = statistics.median(times)
            print(f"{name:24s} median {med:6.3f} s  (target {targets[name]:.1f} s; runs "
                  + ", ".join(f"{t:.3f}" for t in times) + ")")


if __name__ == "__main__":
    main()
