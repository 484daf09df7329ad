"""The load benchmark's WebSocket client (bench/stclient.py) against real ``streamlit run`` servers: a session
gets drawn views, reuses the messages it already holds, reports a missing page and a refused setting as problems
rather than as drawn views, and follows a live page through its fragment's reruns."""

import asyncio

import pytest

from tests.support.stclient import Session, stream_url
from tests.support.stserver import serve

TINY_FLOW = "cells=rnn&T=8&H=4&steps=2&batch=4"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_client")
    # every message cacheable (default: only those over 10 kB), so that the tiny views below exercise ref_hash
    env = {"LSTMLAB_DB": str(tmp / "runs.db"), "STREAMLIT_GLOBAL_MIN_CACHED_MESSAGE_SIZE": "0"}
    with serve(tmp / "streamlit.log", env) as (url, _pid):
        yield url


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_client_live")
    with serve(tmp / "streamlit.log", {}, app="tests/data/live_app.py") as (url, _pid):
        yield url


def _views(url, *requests, follow=False):
    async def go():
        async with Session(url, timeout=60) as s:
            return [await (s.follow if follow else s.view)(page, query) for page, query in requests]

    return asyncio.run(go())


def test_a_session_draws_views_and_reuses_the_messages_it_holds(server):
    why, again = _views(server, ("", ""), ("", ""))
    assert why.drawn, why.problems
    assert why.status == "FINISHED_SUCCESSFULLY" and why.charts >= 1 and why.refs == 0
    # the same view again: the server refers to the messages the client kept instead of resending them
    assert again.drawn, again.problems
    assert again.charts == why.charts and again.refs >= 1


def test_a_study_page_gets_its_first_chart(server):
    # followed, as a study may be trained by jobs and drawn by the page's later reruns
    (flow,) = _views(server, ("error_flow", TINY_FLOW), follow=True)
    assert not flow.problems and flow.elements["exception"] == 0
    assert flow.charts >= 1 and 0 < flow.first_chart <= flow.seconds


def test_a_missing_page_and_a_refused_setting_are_problems_not_drawn_views(server):
    missing, refused = _views(server, ("no_such_page", ""), ("error_flow", "T=400&H=128&steps=2000&batch=256"))
    assert not missing.drawn
    assert any("page not found" in p for p in missing.problems)
    assert not refused.drawn
    assert any(p.startswith("error shown") and "too large for an interactive session" in p
               for p in refused.problems), refused.problems


def test_following_a_live_page_reruns_its_fragment_until_the_chart_arrives(live_server):
    # a plain view ends with the first script run, before the fragment drew anything
    (first,) = _views(live_server, ("", ""))
    assert first.status == "FINISHED_SUCCESSFULLY" and first.charts == 0 and first.first_chart is None
    # following: the client reruns the fragment every 0.2 s as asked; the chart comes with its third run
    (live,) = _views(live_server, ("", ""), follow=True)
    assert live.charts == 1 and not live.problems
    assert 0.4 <= live.first_chart <= live.seconds < 30


def test_stream_url_refuses_an_address_that_is_not_http():
    assert stream_url("http://127.0.0.1:8501") == "ws://127.0.0.1:8501/_stcore/stream"
    assert stream_url("https://lab.example/base/") == "wss://lab.example/base/_stcore/stream"
    with pytest.raises(ValueError, match="base_url.*ftp://x"):
        stream_url("ftp://x")
