"""AppTest: the dashboard with sign-in, its jobs queued on a real Dask scheduler without workers (so they stay
queued): Stop and Resubmit only for those who may use them, another user's stopped run no obstacle to training a
config, a study refused whole with the quota's words, a refused Resubmit that stays on screen, and several sessions
of one user submitting studies at one instant, which never pass the queued quota."""
from __future__ import annotations

import multiprocessing
import os

import pytest

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.jobs import executors
from lstmlab.jobs import limits as L
from lstmlab.store import Actor, RunStore
from tests.support.app import AUTH, plain

ALICE, BOB, ROOT_ = "alice@lab.example", "bob@lab.example", "root@lab.example"
ONE = dict(cells="lstm", T="10", H="4", steps="3", batch="4", seed="11")  # a one-cell study
THREE = dict(ONE, cells="rnn,lstm,gru", seed="12")  # a three-cell study


def _signed_in(at, user: str, admins=()):
    """``at`` with sign-in configured (every @lab.example address a member) and ``user`` signed in, their email
    verified by the provider."""
    at.secrets["auth"] = dict(AUTH)
    at.secrets["lstmlab"] = {"admins": list(admins), "members": ["@lab.example"]}
    at.user = {"is_logged_in": True, "iss": "http://127.0.0.1:9", "sub": f"sub-{user}", "email": user,
               "email_verified": True, "name": user}
    return at


def _session(user: str, admins=(), page: str | None = "error_flow.py", **query):
    """An AppTest of the dashboard with sign-in configured, signed in as ``user``, not yet run (no caches cleared:
    for a session of its own process)."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = _signed_in(AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120), user, admins)
    for k, v in query.items():
        at.query_params[k] = str(v)
    if page is not None:
        at.switch_page(f"pages/{page}")
    return at


@pytest.fixture
def lab(app, idle_scheduler, monkeypatch):  # noqa: F811 -- the fixture imported above
    """``lab(user, admins=(), page="error_flow.py", **query)``: an AppTest signed in as ``user`` whose jobs queue
    on the idle scheduler; every run still queued is stopped afterwards."""
    monkeypatch.setenv("LSTMLAB_SCHEDULER", idle_scheduler)

    def make(user, admins=(), page="error_flow.py", **query):
        return _signed_in(app(page, settle=False, **query), user, admins)

    yield make
    with RunStore(os.environ["LSTMLAB_DB"]) as store:
        for run_id in store.list(status=["queued", "running"])["id"]:
            store.request_stop(run_id)


def _labels(at) -> list[str]:
    return [b.label for b in at.button]


def _store() -> RunStore:
    return RunStore(os.environ["LSTMLAB_DB"])


def _fill_queue(user: str, n: int, scheduler: str) -> list[str]:
    """``n`` jobs of ``user``'s queued on the idle scheduler (configs no page here asks for)."""
    url = os.environ["LSTMLAB_DB"]
    return [jobs.submit(RunConfig(cell="gru", seq_len=7, hidden_size=3, steps=2, batch_size=2, seed=900 + i),
                        store_url=url, actor=Actor(user), scheduler=scheduler) for i in range(n)]


def test_stop_and_resubmit_only_for_those_who_may_and_another_users_stopped_run_is_no_obstacle(lab):
    bob = lab(BOB, **ONE).run()
    assert not bob.exception
    with _store() as store:
        [bobs] = store.list()["id"]
        assert store.progress(bobs)["status"] == "queued"
    assert "Stop" in _labels(bob)
    alice = lab(ALICE, **ONE).run()  # the same config: she watches Bob's queued run, which she may not stop
    assert not alice.exception and "Stop" not in _labels(alice)
    assert any(f"{BOB}'s run" in plain(c.value) for c in alice.caption)
    root = lab(ROOT_, admins=[ROOT_], **ONE).run()
    assert not root.exception and "Stop" in _labels(root)
    with _store() as store:
        assert list(store.list()["id"]) == [bobs]

    bob.button(key=f"stop.{bobs}").click().run()
    assert not bob.exception
    with _store() as store:
        assert store.progress(bobs)["status"] == "stopped"
    assert "Resubmit" in _labels(bob)
    alice.run()  # Bob's stopped run does not stand in her way: her own run of the config is queued
    assert not alice.exception and not alice.error
    with _store() as store:
        listed = store.list()
    assert sorted(zip(listed["owner"], listed["status"])) == [(ALICE, "queued"), (BOB, "stopped")]
    alices = listed.loc[listed["owner"] == ALICE, "id"].item()
    assert "Resubmit" not in _labels(alice)
    assert f"stop.{alices}" in [b.key for b in alice.button]  # her own run: hers to stop


def test_a_study_over_the_quota_is_refused_whole_with_the_quotas_words(lab, idle_scheduler):  # noqa: F811
    _fill_queue(ALICE, L.USER_MAX_QUEUED - 2, idle_scheduler)
    with _store() as store:
        before = sorted(store.list()["id"])
    at = lab(ALICE, **THREE).run()
    assert not at.exception and not at.error
    [warning] = [plain(w.value) for w in at.warning]
    assert warning.startswith(f"Nothing was submitted: {ALICE} has {L.USER_MAX_QUEUED - 2} jobs queued and this "
                              "would add 3, the most one user may have queued is")
    assert "The run store cannot be used" not in warning
    with _store() as store:
        assert sorted(store.list()["id"]) == before  # not one of the three cells was queued


def test_a_refused_resubmit_stays_on_screen_until_dismissed(lab, idle_scheduler):  # noqa: F811
    at = lab(ALICE, **ONE).run()
    with _store() as store:
        [mine] = store.list()["id"]
    at.button(key=f"stop.{mine}").click().run()
    assert "Resubmit" in _labels(at)
    _fill_queue(ALICE, L.USER_MAX_QUEUED, idle_scheduler)
    at.button(key=f"resubmit.{mine}").click().run()
    assert not at.exception

    def said() -> list[str]:
        return [plain(w.value) for w in at.warning]

    expected = f"Not resubmitted: {ALICE} has {L.USER_MAX_QUEUED} jobs queued, the most one user may have queued"
    assert [w for w in said() if w.startswith(expected)]
    at.run()  # a later run of the page (a redraw, a widget) still says it
    assert [w for w in said() if w.startswith(expected)]
    with _store() as store:
        assert store.progress(mine)["status"] == "stopped"
    at.button(key="job_notice.dismiss").click().run()
    assert not [w for w in said() if w.startswith(expected)]


# ---- several sessions of one user at one instant ------------------------------------------------------------------

SESSIONS = 6


def _open_study(seed: int, start, results, i: int) -> None:
    """A dashboard session of Alice's in a process of its own: it draws the Why page, then, once every session is
    ready, opens a three-cell study of its own seed on Error flow; puts what the page said on ``results``."""
    try:
        at = _session(ALICE, page=None).run()
        for k, v in dict(THREE, seed=str(seed)).items():
            at.query_params[k] = v
        at.switch_page("pages/error_flow.py")
        start.wait(300)
        at.run()
        results.put((i, {"exception": [str(e.value) for e in at.exception],
                         "error": [e.value for e in at.error], "warning": [w.value for w in at.warning]}))
    except BaseException as e:  # noqa: BLE001 -- reported to the test, which fails on it
        results.put((i, {"exception": [f"{type(e).__name__}: {e}"], "error": [], "warning": []}))
    finally:
        executors.shutdown()


def test_sessions_submitting_at_one_instant_never_pass_the_queued_quota(store_url, idle_scheduler,  # noqa: F811
                                                                        monkeypatch):
    monkeypatch.setenv("LSTMLAB_DB", store_url)
    monkeypatch.setenv("LSTMLAB_SCHEDULER", idle_scheduler)
    RunStore(store_url).close()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(SESSIONS), ctx.Queue()
    procs = [ctx.Process(target=_open_study, args=(700 + i, start, results, i)) for i in range(SESSIONS)]
    for p in procs:
        p.start()
    try:
        said = dict(results.get(timeout=600) for _ in procs)
        for p in procs:
            p.join(60)
        with RunStore(store_url) as store:
            listed = store.list()
        assert len(listed) == L.USER_MAX_QUEUED and set(listed["owner"]) == {ALICE}
        assert set(listed["status"]) == {"queued"}
        assert set(listed.groupby("seed").size()) == {3}  # each study whole or not at all
        assert all(not s["exception"] and not s["error"] for s in said.values()), said
        refused = [s for s in said.values() if any("Nothing was submitted" in w for w in s["warning"])]
        assert len(refused) == SESSIONS - L.USER_MAX_QUEUED // 3
    finally:
        with RunStore(store_url) as store:
            for run_id in store.list(status="queued")["id"]:
                store.request_stop(run_id)
