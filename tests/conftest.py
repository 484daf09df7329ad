"""Shared pytest fixtures."""

import functools
import inspect
import itertools
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lstmlab.core.config import RunConfig  # noqa: E402
from lstmlab.core.engines import ENGINES
from lstmlab.jobs import api as jobs  # noqa: E402 - this checkout's lstmlab, found through the path above
from lstmlab.store import RunStore, StoreError  # noqa: E402

# fixtures shared across tiers: the Dask schedulers, the PostgreSQL role, Chromium and the OpenID Connect provider
pytest_plugins = ["tests.support.jobs", "tests.support.services", "tests.support.browser"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Each engine by name (tests that take it run once per engine)."""
    return request.param


@pytest.fixture
def app(tmp_path, monkeypatch):
    """Factory of AppTest instances of the dashboard, with empty Streamlit caches and a run store in tmp_path.

    ``app(page=None, settle=True, **query)`` returns an AppTest not yet run; ``page`` is a file under pages/ to start
    on. With ``settle`` every run of the app (``at.run()``, a click's run) is repeated until no job is in flight in the
    run store, so a test reads the runs the workers finished.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LSTMLAB_DB", str(tmp_path / "runs.db"))
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(page=None, settle=True, **query):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
        at._run = _validating_charts(at._run)
        if settle:
            at._run = _settling(at._run)
        for k, v in query.items():
            at.query_params[k] = str(v)
        if page is not None:
            at.switch_page(f"pages/{page}")
        return at

    yield make
    deadline = time.monotonic() + SETTLE_S
    while _jobs_in_flight() and time.monotonic() < deadline:  # leave no worker busy with this test's runs
        time.sleep(0.2)
    st.cache_data.clear()
    st.cache_resource.clear()


SETTLE_S = 300  # how long an app test waits for the jobs its page submitted (a loaded machine is slow)


@functools.cache
def _vega_lite_validator():
    """The validator of Vega-Lite's JSON schema, made on first use."""
    import jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    schema = load_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _validating_charts(run_once):
    """AppTest's internal run, followed by a check of every chart the page drew against Vega-Lite's JSON schema (the
    dashboard draws its cached specs without Altair's validation: lstmlab.ui.cached)."""

    def run(widget_state=None, timeout=None):
        tree = run_once(widget_state, timeout=timeout)
        for chart in tree.get("vega_lite_chart"):
            spec = json.loads(chart.proto.spec)
            errors = [e.message for e in _vega_lite_validator().iter_errors(spec)]
            assert not errors, f"a chart is not valid Vega-Lite: {errors[:3]} in {json.dumps(spec)[:400]}"
        return tree

    return run


def _settling(run_once):
    """AppTest's internal run, repeated until the page has drawn a run store ($LSTMLAB_DB) in which no job is in
    flight and nothing changed while it drew."""

    def run(widget_state=None, timeout=None):
        deadline = time.monotonic() + SETTLE_S
        before = _store_state()
        tree = run_once(widget_state, timeout=timeout)
        while True:
            while _jobs_in_flight():
                assert time.monotonic() < deadline, f"jobs still in flight after {SETTLE_S} s"
                time.sleep(0.2)
            after = _store_state()
            if after == before:
                return tree
            before = after
            tree = run_once(None, timeout=timeout)

    return run


def _store_state():
    """(id, status, step) of every run in the run store, or None without a readable store."""
    try:
        with RunStore(os.environ["LSTMLAB_DB"]) as store:
            listed = store.list()
            return tuple(sorted(zip(listed["id"], listed["status"], listed["step"])))
    except (StoreError, KeyError):
        return None


def _jobs_in_flight() -> bool:
    state = _store_state()
    return state is not None and any(status in ("queued", "running") for _, status, _ in state)


POSTGRES_ENV = "LSTMLAB_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server():
    """An AUTOCOMMIT engine on the test PostgreSQL server named by ``$LSTMLAB_TEST_POSTGRES_URL`` (set by
    scripts/with_services.sh). Without it the test fails under CI=true and is skipped otherwise."""
    import sqlalchemy as sa

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = (f"{POSTGRES_ENV} is not set: run the tests through "
                   "`bash scripts/with_services.sh .venv/bin/python -m pytest`, which starts a throwaway PostgreSQL")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL (str) of a fresh, empty database on the test server, dropped after the test."""
    name = f"lstmlab_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield postgres_server.url.set(database=name).render_as_string(hide_password=False)
    with postgres_server.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A run store location on each backend: a SQLite file in tmp_path, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return request.getfixturevalue("postgres_url")



SWEEP_GRID = {"cell": ("rnn", "lstm"), "seq_len": (5, 10), "weight_scale": (0.5, 1.0)}
SWEEP_FIXED = dict(steps=20, hidden_size=4, batch_size=8, eval_size=8, record_every=10)


@pytest.fixture
def tiny_sweep(tmp_path, monkeypatch):
    """Sweep "tiny" (2 cells x 2 lengths x 2 scales x 2 seeds) submitted as jobs under its name and trained to the
    end on the local worker pool, in a run store in tmp_path that $LSTMLAB_DB names; returns that store."""
    url = str(tmp_path / "runs.db")
    monkeypatch.setenv("LSTMLAB_DB", url)
    store = RunStore(url)
    store.record_sweep("tiny", json.dumps({"grid": [[k, list(v)] for k, v in SWEEP_GRID.items()], "seeds": [0, 1],
                                           "fixed": sorted(SWEEP_FIXED.items())}))
    ids = [jobs.submit(RunConfig(cell=c, seq_len=T, weight_scale=w, seed=seed, **SWEEP_FIXED), store_url=url,
                       sweep="tiny")
           for c, T, w, seed in itertools.product(*SWEEP_GRID.values(), (0, 1))]
    for run_id in ids:
        assert jobs.wait(run_id, store_url=url, timeout=SETTLE_S) == "finished"
    return store


# Tiers: a test's markers follow from its folder and from the fixtures (and fixture parameters) it uses, so that a
# new test is marked without anyone remembering to; `-m "not (postgres or dask or oidc or jobs or app or browser)"`
# leaves the tests that need nothing but this process.
FOLDER_MARKERS = {"app": "app", "browser": "browser", "jobs": "jobs"}
FIXTURE_MARKERS = {
    "postgres_server": "postgres", "postgres_url": "postgres", "password_role": "postgres",
    "postgres_cluster": "postgres",
    "dask_scheduler": "dask", "idle_scheduler": "dask",
    "oidc": "oidc",
    "tiny_sweep": "jobs",
}
PARAM_MARKERS = {("store_url", "postgresql"): "postgres", ("scheduler", "dask"): "dask", ("scheduler", "pool"): "jobs"}
JOB_CALLS = {"submit", "submit_many", "resubmit"}  # the job API's calls (and the CLI's commands) that queue jobs


def _names_in(code) -> set[str]:
    """Every name, attribute and string constant a code object (and the functions defined in it) uses."""
    names = set(code.co_names) | {c for c in code.co_consts if isinstance(c, str)}
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _names_in(c)
    return names


def tier_markers(item) -> set[str]:
    """The tier markers of one collected test."""
    marks = set()
    folder = item.path.relative_to(ROOT / "tests").parts[0] if ROOT / "tests" in item.path.parents else ""
    if folder in FOLDER_MARKERS:
        marks.add(FOLDER_MARKERS[folder])
    fixtures = set(getattr(item, "fixturenames", ()))
    marks |= {mark for name, mark in FIXTURE_MARKERS.items() if name in fixtures}
    params = getattr(getattr(item, "callspec", None), "params", {})
    marks |= {mark for (name, value), mark in PARAM_MARKERS.items() if params.get(name) == value}
    if "dask" in marks:  # a Dask scheduler runs nothing but jobs
        marks.add("jobs")
    function = getattr(item, "function", None)
    if function is not None and JOB_CALLS & _names_in(function.__code__):
        marks.add("jobs")
    return marks


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in sorted(tier_markers(item)):
            item.add_marker(mark)


STRAY_THREAD_GRACE_S = 30
_exit_status: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """A thread a failed test left waiting (on a barrier, a lock) must not keep the run from ending: Python waits
    for every non-daemon thread at exit. Such threads get a grace period, then are named and the run exits with its
    status, the report already written. A thread pool's idle workers end at exit, so they are not waited for."""
    def stray():
        return [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
                and not t.daemon and not t.name.startswith(("lstmlab-shard", "ThreadPoolExecutor"))]

    deadline = time.monotonic() + STRAY_THREAD_GRACE_S
    for t in stray():
        t.join(max(0.0, deadline - time.monotonic()))
    left = stray()
    if left:
        sys.stdout.flush()
        sys.stderr.write(f"threads left running by the tests, not waited for: {', '.join(t.name for t in left)}\n")
        sys.stderr.flush()
        os._exit(_exit_status[-1] if _exit_status else 1)
