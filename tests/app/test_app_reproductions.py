"""AppTest: the Reproductions page over a run store holding the quick runs of two recipes (trained in this process):
a card per recipe, the verdict and both numbers of a row that differs from the paper, the charts, the links to a
representative run, which Error flow and Training open by ?run=ID (a bad id is a message); the Start button submits
a recipe as real jobs, and a signed-in user's quota refusal is a message, not a traceback."""
from __future__ import annotations

import os
import statistics

import pytest

from lstmlab.core.config import RunConfig
from lstmlab.jobs import api as jobs
from lstmlab.jobs import limits as L
from lstmlab.reproduce import recipes, report
from lstmlab.store import Actor, RunStore
from tests.support.app import AUTH, plain
from tests.support.recipes import BOUND, ORDER, fill, representative, succeeded, train_quick

ALICE = "alice@lab.example"


@pytest.fixture(scope="module")
def trained():
    return train_quick()


@pytest.fixture
def filled(app, trained):
    """The app's run store ($LSTMLAB_DB) holding the two recipes' quick runs."""
    with RunStore(os.environ["LSTMLAB_DB"]) as store:
        fill(store, trained)
    return trained


def _store() -> RunStore:
    return RunStore(os.environ["LSTMLAB_DB"])


def test_a_card_per_recipe_with_verdicts_differences_charts_and_links(app, filled):
    at = app("reproductions.py").run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader] == list(recipes.RECIPES)
    assert [i.value for i in at.info].count("Not run yet.") == len(recipes.RECIPES) - 2
    text = " ".join(plain(m.value) for m in at.markdown)
    assert "Not run yet." not in text  # said once per card, as an info box
    with _store() as store:
        verdicts = {rid: report.report(store, rid, "quick").verdict for rid in (ORDER, BOUND)}
    for verdict in verdicts.values():  # the report's verdict on each run card's badge
        assert f"[{verdict}]" in text
    won = [run for m, _, run in filled[ORDER] if m == "lstm97" and succeeded(run)]
    warnings = [plain(w.value) for w in at.warning]
    if len(won) < 2:  # the quick scale differs from HS97's 20 of 20 in success or, where seeds won, in sequences
        assert (f"**Differs from the paper:** lstm97 at 6a: {len(won)} of 2 seeds succeeded in the lab "
                f"({len(won) / 2:.0%}); the paper reports 100% (20 trials, 31,390 sequences, 1 of 2,560 wrong "
                "[P]).") in warnings
    if won:
        median = statistics.median(int(r.eval["sequences"].iloc[-1]) for r in won)
        assert (f"**Differs from the paper:** lstm97 at 6a: the lab's successful seeds needed {median:,.0f} "
                f"sequences (median) until the criterion; the paper reports 31,390 ({median / 31_390:.2g} x).") \
            in warnings
    charts = at.get("vega_lite_chart")
    # success for both, sequences where a seed met the criterion, final loss / baseline for the one whose claim is
    # about loss (hs97-temporal-order's LSTM below half the chance loss)
    assert len(charts) == 3 + bool(won)
    assert sum("chance baseline" in c.proto.spec for c in charts) == 1
    assert "Final loss over the chance baseline" in text
    links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    run_id, _ = representative(filled[ORDER])
    assert any(q == f"run={run_id}" and "error_flow" in p for p, q in links), links
    assert any(q == f"run={run_id}" and "training" in p for p, q in links), links


def test_a_stored_run_opens_on_error_flow_and_training_by_its_id_and_a_bad_id_is_a_message(app, filled):
    run_id, _ = representative(filled[ORDER])
    at = app("error_flow.py", run=run_id[:10]).run()  # a unique prefix will do
    assert not at.exception and not at.error
    assert any("Stored run(s)" in plain(m.value) and run_id[:6] in plain(m.value)
               and "trained by the lab" in plain(m.value) for m in at.markdown)
    assert "Train and compare" not in [b.label for b in at.button]  # no study form: the run as it was trained
    assert len(at.get("vega_lite_chart")) >= 2
    assert at.query_params["run"] in (run_id[:10], [run_id[:10]])  # the address keeps naming the run
    tr = app("training.py", run=run_id).run()
    assert not tr.exception and not tr.error and len(tr.get("vega_lite_chart")) >= 4
    bad = app("training.py", run="no-such-run_*x*").run()
    assert not bad.exception and not bad.get("vega_lite_chart")
    [error] = [plain(e.value) for e in bad.error]
    assert error.startswith("URL parameter `run`: 'no-such-run_*x*' is not a run id (hexadecimal digits)")
    assert "Expected the ids (or unique id prefixes) of at most 6 runs in the run store" in error


def test_start_submits_the_recipe_as_jobs_and_the_card_shows_its_result(app):
    at = app("reproductions.py").run()
    assert not at.exception
    at.number_input(key=f"repro.{BOUND}.seeds.quick").set_value(1)
    at.button(key=f"repro.{BOUND}.start").click().run()  # settles: the jobs are trained on the local pool
    assert not at.exception and not at.error
    assert f"Sweep `repro:{BOUND}:quick`: 8 of 8 runs submitted, 0 lost ones resubmitted, 0 already there." in \
        [plain(s.value) for s in at.success]
    with _store() as store:
        listed = store.list()
    assert len(listed) == 8 and set(listed["sweep"]) == {f"repro:{BOUND}:quick"}
    assert set(listed["status"]) == {"finished"}
    at.run()
    assert [i.value for i in at.info].count("Not run yet.") == len(recipes.RECIPES) - 1
    assert any("Quick scale, 1 seed per row: 8 of 8 runs ended" in plain(m.value) for m in at.markdown)


@pytest.fixture
def signed_in(app, idle_scheduler, monkeypatch):
    """An AppTest of the Reproductions page signed in as Alice, her jobs queued on a scheduler without workers;
    every run still queued is stopped afterwards."""
    monkeypatch.setenv("LSTMLAB_SCHEDULER", idle_scheduler)
    at = app("reproductions.py", settle=False)
    at.secrets["auth"] = dict(AUTH)
    at.secrets["lstmlab"] = {"admins": [], "members": ["@lab.example"]}
    at.user = {"is_logged_in": True, "iss": "http://127.0.0.1:9", "sub": f"sub-{ALICE}", "email": ALICE,
               "email_verified": True, "name": ALICE}
    yield at
    with _store() as store:
        for run_id in store.list(status=["queued", "running"])["id"]:
            store.request_stop(run_id)


def test_a_start_over_the_quota_is_a_message_and_keeps_what_was_queued(signed_in, idle_scheduler):
    url = os.environ["LSTMLAB_DB"]
    for i in range(L.USER_MAX_QUEUED - 2):  # two places left in Alice's queue
        jobs.submit(RunConfig(cell="gru", seq_len=7, hidden_size=3, steps=2, batch_size=2, seed=900 + i),
                    store_url=url, actor=Actor(ALICE), scheduler=idle_scheduler)
    at = signed_in.run()
    assert not at.exception
    at.number_input(key=f"repro.{BOUND}.seeds.quick").set_value(1)
    at.button(key=f"repro.{BOUND}.start").click().run()
    assert not at.exception and not at.error
    [warning] = [plain(w.value) for w in at.warning]
    assert warning.startswith(f"Not every run was submitted: {ALICE} has {L.USER_MAX_QUEUED} jobs queued, the most "
                              "one user may have queued is")
    assert warning.endswith("2 of its runs are in the store and kept; press Start again once some of yours have "
                            "ended to submit the rest.")
    with _store() as store:
        mine = store.list(sweep=f"repro:{BOUND}:quick")
    assert len(mine) == 2 and set(mine["owner"]) == {ALICE} and set(mine["status"]) == {"queued"}
