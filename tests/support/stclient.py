"""A small Streamlit client that speaks the browser's protocol: one WebSocket to ``/_stcore/stream`` carrying
protobuf messages, ``BackMsg`` up and ``ForwardMsg`` down (``streamlit.proto``), as the frontend does.

A page view is one script run: the client sends ``BackMsg(rerun_script=ClientState(page_name, query_string,
cached_message_hashes))`` and reads ``ForwardMsg``s until ``script_finished``. Like the browser, it keeps every
message the server marked cacheable and lists their hashes in the next request, so the server may send a
``ref_hash`` in place of a message the client already has.

A view is *drawn* when its script run finished successfully and at least one chart (a ``vega_lite_chart`` delta,
what ``st.altair_chart`` sends) arrived during it. Exceptions and error alerts shown on the page are collected.
``follow`` stays on a live page instead: like the browser, it reruns the page's fragments at the intervals the
server asked for (``auto_rerun`` messages, from ``st.fragment(run_every=...)``) until the first chart arrives.

    async with Session("http://127.0.0.1:8501") as s:
        view = await s.view("error_flow", "T=50")
        assert view.drawn, view.problems
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

FINISHED = {v: k for k, v in ForwardMsg.ScriptFinishedStatus.items()}
SUCCESS = ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY")


@dataclass
class View:
    """What one script run delivered.

    seconds: from sending the rerun request to the ``script_finished`` message (or to the failure);
    status: the ``script_finished`` status name, or "timeout" / "closed" when none arrived;
    elements: count of each element type drawn (``vega_lite_chart``, ``markdown``, ...);
    refs: how many messages came as a ``ref_hash`` to one the client already had;
    first_chart: seconds from the request to the first chart;
    problems: exception messages, error alerts, unknown ``ref_hash`` references, a missing page.
    """

    page: str
    seconds: float = 0.0
    status: str = ""
    elements: Counter = field(default_factory=Counter)
    refs: int = 0
    first_chart: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def charts(self) -> int:
        return self.elements["vega_lite_chart"]

    @property
    def drawn(self) -> bool:
        return self.status in SUCCESS and self.charts > 0 and not self.problems


def stream_url(base_url: str) -> str:
    """The WebSocket address of a server at ``base_url`` (http://host:port[/base])."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url: expected an http:// or https:// address, got {base_url!r}")
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"


class Session:
    """One browser-like session: a WebSocket held open for its whole life; ``view`` and ``follow`` run pages on it
    in turn."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        self.url = stream_url(base_url)
        self.timeout = timeout
        self.session_id = ""
        self._page_hash = ""  # page_script_hash of the page last run: a fragment's rerun names it
        self._query, self._page = "", ""
        self._cache: dict[str, ForwardMsg] = {}  # hash -> message the server marked cacheable
        self._auto: dict[str, list[float]] = {}  # fragment id -> [interval s, next due (monotonic)]
        self._ws = None

    async def __aenter__(self) -> Session:
        # "streamlit" is the subprotocol the frontend asks for; the server echoes the first entry. No keepalive
        # pings of our own: a browser sends none, and a busy server answering late would cut the connection.
        self._ws = await connect(self.url, subprotocols=["streamlit"], max_size=None, open_timeout=self.timeout,
                                 ping_interval=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()

    async def view(self, page: str, query: str = "") -> View:
        """Run ``page`` (its URL path, e.g. "error_flow") with ``query`` (a URL query string without "?") and
        wait for the run to finish; never raises for a failed run, it reports it in the returned View."""
        return await self._open(page, query, follow=False)

    async def follow(self, page: str, query: str = "") -> View:
        """Open ``page`` as a browser tab would and stay on it, rerunning its fragments when the server asked for
        it (``st.fragment(run_every=...)`` sends ``auto_rerun``; the browser keeps the timer), until the first
        chart arrives: ``View.first_chart`` is the seconds from the request to that chart."""
        return await self._open(page, query, follow=True)

    async def _open(self, page: str, query: str, follow: bool) -> View:
        out = View(page)
        self._auto.clear()  # a new page: the browser drops the last page's fragment timers
        self._query, self._page = query, page
        msg = self._rerun()
        msg.rerun_script.page_name = page
        t0 = time.perf_counter()
        try:
            await self._ws.send(msg.SerializeToString())
            await self._read(out, t0, follow)
        except TimeoutError:
            out.status = "timeout"
            out.problems.append(f"{'no chart' if follow else 'no script_finished'} within {self.timeout:g} s")
        except (ConnectionClosed, OSError) as e:
            out.status = "closed"
            out.problems.append(f"connection lost: {type(e).__name__}: {e}")
        out.seconds = time.perf_counter() - t0
        return out

    def _rerun(self, fragment_id: str = "") -> BackMsg:
        msg = BackMsg()
        msg.rerun_script.query_string = self._query
        msg.rerun_script.cached_message_hashes.extend(self._cache)
        if fragment_id:
            # as the browser does: the page too, which a full-app rerun the fragment asks for (st.rerun) runs
            msg.rerun_script.page_script_hash = self._page_hash
            msg.rerun_script.page_name = self._page
            msg.rerun_script.fragment_id = fragment_id
            msg.rerun_script.is_auto_rerun = True
        return msg

    async def _read(self, out: View, t0: float, follow: bool) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            finished = self._handle(await self._next(deadline, follow), out)
            if out.charts and out.first_chart is None:
                out.first_chart = time.perf_counter() - t0
            if (follow and out.first_chart is not None) or (finished and not follow):
                return

    async def _next(self, deadline: float, follow: bool) -> ForwardMsg:
        """The next message; while following a page, send each fragment's rerun when it is due."""
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError
            wait = deadline - now
            if follow and self._auto:
                for fragment_id, timer in self._auto.items():
                    if timer[1] <= now:
                        timer[1] = now + timer[0]
                        await self._ws.send(self._rerun(fragment_id).SerializeToString())
                wait = min(wait, min(t[1] for t in self._auto.values()) - now)
            try:
                data = await asyncio.wait_for(self._ws.recv(), max(wait, 0.0))  # cancelling recv() loses nothing
            except TimeoutError:
                continue
            m = ForwardMsg()
            m.ParseFromString(data)
            return m

    def _handle(self, m: ForwardMsg, out: View) -> bool:
        """Record one message in ``out``; True when it ends a script run (not one cut short by a rerun)."""
        if m.metadata.cacheable and m.hash:
            self._cache[m.hash] = m
        kind = m.WhichOneof("type")
        if kind == "ref_hash":
            if m.ref_hash not in self._cache:
                out.problems.append(f"ref_hash {m.ref_hash} of a message never received")
                return False
            out.refs += 1
            m = self._cache[m.ref_hash]
            kind = m.WhichOneof("type")
        if kind == "new_session":
            self._page_hash = m.new_session.page_script_hash
            if m.new_session.HasField("initialize"):
                self.session_id = m.new_session.initialize.session_id
        elif kind == "navigation":  # the page that runs (new_session names the main script's)
            self._page_hash = m.navigation.page_script_hash
        elif kind == "delta":
            self._record_delta(m, out)
        elif kind == "auto_rerun":
            self._auto[m.auto_rerun.fragment_id] = [m.auto_rerun.interval, time.monotonic() + m.auto_rerun.interval]
        elif kind == "stop_auto_rerun":
            for fragment_id in m.stop_auto_rerun.fragment_ids:
                self._auto.pop(fragment_id, None)
        elif kind == "page_not_found":
            out.problems.append(f"page not found: {m.page_not_found.page_name!r}")
        elif kind == "script_finished":
            out.status = FINISHED[m.script_finished]
            return out.status != "FINISHED_EARLY_FOR_RERUN"
        return False

    @staticmethod
    def _record_delta(m: ForwardMsg, out: View) -> None:
        if m.delta.WhichOneof("type") != "new_element":
            return
        el = m.delta.new_element
        kind = el.WhichOneof("type")
        out.elements[kind] += 1
        if kind == "exception":
            out.problems.append(f"exception: {el.exception.type}: {el.exception.message}")
        elif kind == "alert" and el.alert.format == Alert.ERROR:
            out.problems.append(f"error shown: {el.alert.body}")
