"""Load on a dashboard server: concurrent sessions over Streamlit's own WebSocket protocol plus real Chromium
contexts, against ``streamlit run streamlit_app.py`` on loopback.

Phases, on one server started here (or --servers sharing the run store: a fresh SQLite file, or --store):
  warm-up  one session opens every view once, so that its results are cached: a study page submits its runs as
           jobs, and the view is followed until they finished and drawn again (these cold times are printed too);
  solo     that session opens each view --solo times in a row, alone: the server CPU of one cached view per page;
  load     --sessions WebSocket sessions (tests/support/stclient.py) held open together, each opening --views cached views
           in a random order with a think time of --think s (uniform 0.5x to 1.5x) between them, while --browsers
           Chromium contexts each load the Error flow page --browser-views times, and --jobs more sessions each
           open an Error flow study no one ran (its own seed), whose runs the page submits as jobs, and follow it.

Measured: time to a *drawn* view, from the request to the run's ``script_finished`` with a chart received
(WebSocket; tests/support/stclient.py), or from navigation to the page idle with every chart rendered (Chromium); time
from opening a new study to its first chart (the page redraws while its jobs run); /_stcore/health latency,
probed every 100 ms from a separate process; the servers' CPU time and RSS, and their child processes' (the job
workers) RSS (psutil); errors (a run that did not finish, an exception or error alert on a page, a lost
connection, a failed health probe). Targets: 0 errors, p95 of a cached view <= 2 s with 20 sessions, health
<= 100 ms while jobs train. Ends with the measurements as rows of one table, also written to its results file.

Clients share the servers' cores here, where a team's browsers would run on their own machines: the load client and
its Chromium processes run --client-nice (10) below the servers, so they take what the servers leave (as the servers'
job workers do, lstmlab.core.config.POOL_WORKER_NICE); Chromium's sessions get that niceness for their scheduler
autogroups too (:func:`renice_children`). The health prober keeps the servers' priority. --client-nice 0 measures
everything competing alike.

    python bench/load_sessions.py [--sessions 20] [--views 6] [--think 10] [--browsers 3] [--jobs 4]
                                  [--servers 1] [--solo 5] [--client-nice 10] [--store URL] [--json out.json]

Results: bench/results/load.json (the summary table; --json keeps every measurement; see bench/report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from websockets.exceptions import WebSocketException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Results, machine, results_path  # noqa: E402 - after the path set-up above
from lstmlab.runs.status import ACTIVE_STATUSES  # noqa: E402
from lstmlab.store import RunStore  # noqa: E402
from tests.support.stclient import Session, View  # noqa: E402
from tests.support.stserver import health_seconds, serve  # noqa: E402

# (URL path, query string) of the views a session opens: every page with its default settings ("" = the default
# page, Why gradients vanish); the Runs page draws no chart, so it is not a "drawn view".
VIEWS = (("", ""), ("error_flow", ""), ("training", ""), ("inside_lstm", ""), ("phase_map", ""))
BROWSER_PAGE, BROWSER_CHARTS = "error_flow", 4  # charts the default Error flow page draws
LIVE_PAGE = "error_flow"  # a live study: its default settings with a seed of its own
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
HEALTH_EVERY_S = 0.1


@dataclass
class Phase:
    """What one phase measured: drawn-view times, first-view (connect + run) times, problems, time window."""

    name: str
    start: float = 0.0
    end: float = 0.0
    views: list[View] = field(default_factory=list)
    browser: list[float] = field(default_factory=list)
    live: list[View] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def percentiles(xs) -> str:
    if len(xs) == 0:
        return "none"
    p50, p95 = np.percentile(xs, [50, 95])
    return f"p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(xs):.3f} s (n={len(xs)})"


def short(xs, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
    """"p50 …, p95 … (n)" for a table cell."""
    if len(xs) == 0:
        return "none"
    p50, p95 = np.percentile(xs, [50, 95]) * scale
    return f"p50 {p50:.{digits}f} {unit}, p95 {p95:.{digits}f} {unit} ({len(xs)})"


def probe_health(url: str, stop, conn) -> None:
    """In its own process (so the load generator's event loop does not delay it): GET /_stcore/health every
    HEALTH_EVERY_S until ``stop`` is set; sends [(wall time, seconds or None, error)] through ``conn``."""
    out = []
    while not stop.is_set():
        t = time.time()
        try:
            out.append((t, health_seconds(url), ""))
        except OSError as e:
            out.append((t, None, f"{type(e).__name__}: {e}"))
        time.sleep(max(0.0, HEALTH_EVERY_S - (time.time() - t)))
    conn.send(out)


async def renice_children(nice: int, stop: asyncio.Event) -> None:
    """Until ``stop``: keep every process this one started (Chromium's, as they appear) at ``nice`` or more, and the
    scheduler autogroups of the sessions they start at ``nice`` (Chromium runs its processes in sessions of their
    own, and with autogroups, Linux's default, a niceness counts only within its session: each browser session
    would otherwise get as much CPU as the whole server with its workers). Chromium raises some of its processes'
    priority itself, so this looks again every 0.2 s. This process's own session (the servers') is left alone."""
    ours, sessions = os.getsid(0), set()
    while not stop.is_set():
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error, OSError):
                if child.nice() < nice:
                    child.nice(nice)
                sid = os.getsid(child.pid)
                if sid != ours and sid not in sessions:
                    Path(f"/proc/{child.pid}/autogroup").write_text(str(nice))
                    sessions.add(sid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


def browser_loads(urls: list[str], contexts: int, loads: int, timeout_s: float, nice: int, conn) -> None:
    """In its own process: ``contexts`` Chromium contexts at once (on the servers in turn), each loading the Error
    flow page ``loads`` times, its processes at ``nice``; sends ([seconds to drawn], [problems]) through ``conn``."""
    from playwright.async_api import async_playwright  # optional: only this phase needs a browser

    async def one(browser, i):
        times, problems = [], []
        ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await ctx.new_page()
        page.set_default_timeout(timeout_s * 1000)
        for _ in range(loads):
            t0 = time.perf_counter()
            try:
                await page.goto(f"{urls[i % len(urls)]}/{BROWSER_PAGE}")
                await page.wait_for_function(
                    "([idle, n]) => document.querySelector(idle) !== null && "
                    "document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= n",
                    arg=[IDLE, BROWSER_CHARTS], timeout=timeout_s * 1000)
                times.append(time.perf_counter() - t0)
                n_exc = await page.locator("[data-testid='stException']").count()
                if n_exc:
                    problems.append(f"browser {i}: {n_exc} exception(s) on the page")
            except Exception as e:  # noqa: BLE001 - a timeout or a crashed page is a reported error
                problems.append(f"browser {i}: {type(e).__name__}: {str(e).splitlines()[0]}")
        await ctx.close()
        return times, problems

    async def main():
        stop = asyncio.Event()
        renicing = asyncio.create_task(renice_children(nice, stop)) if nice else None
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=shutil.which("chromium"),
                                              args=["--no-sandbox", "--disable-gpu"])
            results = await asyncio.gather(*(one(browser, i) for i in range(contexts)))
            await browser.close()
        stop.set()
        if renicing is not None:
            await renicing
        conn.send(([t for ts, _ in results for t in ts], [p for _, ps in results for p in ps]))

    asyncio.run(main())


async def session_views(url: str, views, think: float, delay: float, rng: np.random.Generator,
                        timeout: float) -> tuple[float, list[View], list[str]]:
    """One session: wait ``delay``, connect, open ``views`` in turn with think times; returns (seconds to the
    first drawn view including the connection, views, problems)."""
    await asyncio.sleep(delay)
    t0 = time.perf_counter()
    out: list[View] = []
    try:
        async with Session(url, timeout=timeout) as s:
            for i, (page, query) in enumerate(views):
                if i:
                    await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                out.append(await s.view(page, query))
                if i == 0:
                    first = time.perf_counter() - t0
    except (OSError, WebSocketException) as e:
        return float("nan"), out, [f"session: {type(e).__name__}: {e}"]
    problems = [f"{v.page or 'why'}: {p}" for v in out for p in v.problems]
    problems += [f"{v.page or 'why'}: status {v.status}" for v in out if not v.drawn and not v.problems]
    return first, out, problems


async def live_study(url: str, seed: int, delay: float, timeout: float) -> tuple[View | None, list[str]]:
    """One session that waits ``delay``, then opens the default Error flow study with ``seed``: a study no one
    ran, so the page submits its jobs; follows the page until its first chart."""
    await asyncio.sleep(delay)
    try:
        async with Session(url, timeout=timeout) as s:
            v = await s.follow(LIVE_PAGE, f"seed={seed}")
    except (OSError, WebSocketException) as e:
        return None, [f"live study {seed}: {type(e).__name__}: {e}"]
    return v, [f"live study {seed}: {p}" for p in v.problems]


async def load_phase(urls: list[str], args, rng: np.random.Generator) -> tuple[Phase, list[float]]:
    """The cached-view sessions and the live studies, spread over the ramp and over the servers in turn; returns
    the phase and each cached-view session's first-view time."""
    phase = Phase("load", start=time.time())
    plans = []
    for _ in range(args.sessions):
        order = [VIEWS[k] for k in rng.integers(0, len(VIEWS), size=args.views)]
        plans.append((order, np.random.default_rng(rng.integers(2**32))))
    sessions = asyncio.gather(*(
        session_views(urls[i % len(urls)], order, args.think, i * args.ramp / max(1, args.sessions), r,
                      args.timeout)
        for i, (order, r) in enumerate(plans)))
    studies = asyncio.gather(*(
        live_study(urls[i % len(urls)], i + 1, (i + 0.5) * args.ramp / max(1, args.jobs), args.timeout)
        for i in range(args.jobs)))
    results, live = await asyncio.gather(sessions, studies)
    firsts = []
    for first, views, problems in results:
        firsts.append(first)
        phase.views += views[1:]  # the first view includes the connection: reported apart
        phase.problems += problems
    for view, problems in live:
        phase.live += [view] if view is not None else []
        phase.problems += problems
    phase.end = time.time()
    return phase, firsts


class Servers:
    """Resource use of the server processes: CPU seconds so far, and RSS sampled every 0.5 s by ``sample``."""

    def __init__(self, pids: list[int]):
        self.procs = [psutil.Process(pid) for pid in pids]
        self.rss: list[tuple[float, int, int]] = []  # (wall time, servers' RSS, RSS of their child processes)

    def cpu_seconds(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.procs)

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                kids = sum(c.memory_info().rss for p in self.procs for c in p.children(recursive=True))
                self.rss.append((time.time(), sum(p.memory_info().rss for p in self.procs), kids))
            except psutil.Error:
                pass
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass

    def report(self) -> None:
        mib = 2**20
        rss, kids = [r for _, r, _ in self.rss], [k for _, _, k in self.rss]
        print(f"server RSS: start {rss[0] / mib:.0f} MiB, peak {max(rss) / mib:.0f} MiB, end {rss[-1] / mib:.0f} MiB; "
              f"its child processes peak {max(kids) / mib:.0f} MiB")


def report_health(probes, phase: Phase) -> list[str]:
    inside = [(dt, err) for t, dt, err in probes if phase.start <= t <= phase.end]
    ok = [dt for dt, _ in inside if dt is not None]
    failed = [err for dt, err in inside if dt is None]
    if ok:
        p50, p95 = np.percentile(ok, [50, 95]) * 1000
        print(f"  health during {phase.name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(ok) * 1000:.1f} ms, "
              f"over 100 ms: {sum(dt > 0.1 for dt in ok)} of {len(ok)}")
    return [f"health: {e}" for e in failed]


async def settled(store: RunStore, timeout: float) -> bool:
    """Wait until no run in the store is queued or running (at most ``timeout`` s); whether any was."""
    deadline, waited = time.monotonic() + timeout, False
    while not store.list(status=list(ACTIVE_STATUSES)).empty:
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs still in flight after {timeout:g} s")
        waited = True
        await asyncio.sleep(0.5)
    return waited


async def warm_up(urls: list[str], store_url: str, args) -> Phase:
    """Every view once on every server (each has its own result cache; the run store is shared). A view whose page
    submitted jobs is followed until they finished and opened again: its time is from the request to that drawn
    view, the training included."""
    warm = Phase("warm-up", start=time.time())
    with RunStore(store_url) as store:
        for url in urls:
            async with Session(url, timeout=args.timeout) as s:
                for page, query in VIEWS:
                    t0 = time.perf_counter()
                    v = await s.view(page, query)
                    if await settled(store, args.train_timeout):
                        v = await s.view(page, query)
                    v.seconds = time.perf_counter() - t0
                    warm.views.append(v)
                    warm.problems += [f"warm-up {page or 'why'}: {p}" for p in v.problems]
    warm.end = time.time()
    return warm


async def solo_costs(url: str, servers: Servers, args) -> dict[str, float]:
    """{page: server CPU seconds per cached view}, one session alone opening each view --solo times in a row."""
    costs = {}
    async with Session(url, timeout=args.timeout) as s:
        for page, query in VIEWS:
            cpu0 = servers.cpu_seconds()
            for _ in range(args.solo):
                await s.view(page, query)
            costs[page or "why"] = (servers.cpu_seconds() - cpu0) / max(args.solo, 1)
    print("server CPU per cached view, one session alone: "
          + ", ".join(f"{page} {c * 1000:.0f} ms" for page, c in costs.items()))
    return costs


def report_views(warm: Phase, loaded: Phase, firsts: list[float], cpu: float, args) -> list[float]:
    print("\ncold views (warm-up, one session): "
          + ", ".join(f"{v.page or 'why'} {v.seconds:.2f} s" for v in warm.views))
    print(f"cached views over WebSocket, {args.sessions} sessions x {args.views} views, think {args.think:g} s, "
          f"{args.servers} server(s):")
    times = [v.seconds for v in loaded.views if v.drawn]
    print(f"  drawn view: {percentiles(times)}")
    for page, _ in VIEWS:
        print(f"    {page or 'why':12s} {percentiles([v.seconds for v in loaded.views if v.drawn and v.page == page])}")
    print(f"  first view of a session (connect + run): {percentiles([f for f in firsts if f == f])}")
    n_views = len(loaded.views) + len(firsts) + len(loaded.browser)
    live = f" (and {len(loaded.live)} live studies' redraws)" if args.jobs else ""
    print(f"  server CPU: {cpu:.1f} s for {n_views} views, {cpu / n_views * 1000:.0f} ms a view, over "
          f"{loaded.end - loaded.start:.0f} s{live}")
    if args.jobs:
        print(f"first live chart of a submitted study, {args.jobs} studies (two jobs each) during that load: "
              f"{percentiles([v.first_chart for v in loaded.live if v.first_chart is not None])}")
    if args.browsers:
        print(f"Chromium, {args.browsers} contexts x {args.browser_views} loads of {BROWSER_PAGE}, at the same time: "
              f"{percentiles(loaded.browser)}")
    return times


def summary_table(res: Results, warm: Phase, solo: dict[str, float], loaded: Phase, firsts: list[float], cpu: float,
                  probes, servers: Servers, errors: list[str], args) -> None:
    """The measurements as rows of the results file's table (printed as Markdown)."""
    health = [dt for t, dt, _ in probes if loaded.start <= t <= loaded.end and dt is not None]
    views = [v.seconds for v in loaded.views if v.drawn]
    by_page = {page or "why": [v.seconds for v in loaded.views if v.drawn and v.page == page] for page, _ in VIEWS}
    slowest = max(by_page, key=lambda p: np.percentile(by_page[p], 95) if by_page[p] else 0.0)
    n_views = len(loaded.views) + len(firsts) + len(loaded.browser)
    rss = [r / 2**20 for _, r, _ in servers.rss]
    rows = [
        (f"cached view, {args.sessions} WebSocket sessions", short(views), "p95 ≤ 2 s"),
        (f"the slowest page's ({slowest})", short(by_page[slowest]), ""),
        ("first view of a session (connect + run)", short([f for f in firsts if f == f]), ""),
        (f"Chromium, {BROWSER_PAGE} ({args.browsers} contexts × {args.browser_views})", short(loaded.browser), ""),
        (f"first live chart of a submitted study ({args.jobs} studies, 2 jobs each)",
         short([v.first_chart for v in loaded.live if v.first_chart is not None]), ""),
        ("`/_stcore/health` during the load", short(health, "ms", 1000, 0)
         + f", {sum(dt > 0.1 for dt in health)} over 100 ms", "≤ 100 ms"),
        ("server CPU per view during the load", f"{cpu / max(n_views, 1) * 1000:.0f} ms", ""),
        ("server CPU per cached view, one session alone",
         ", ".join(f"{page} {c * 1000:.0f} ms" for page, c in solo.items()), ""),
        ("server RSS (start, peak, end)", f"{rss[0]:.0f}, {max(rss):.0f}, {rss[-1]:.0f} MiB", ""),
        ("cold views (one session, jobs trained first)",
         ", ".join(f"{v.page or 'why'} {v.seconds:.1f} s" for v in warm.views), ""),
        ("errors", str(len(errors)), "0"),
    ]
    table = res.table(f"One server under load (load average {os.getloadavg()[0]:.1f} after)",
                      ["measure", "measured", "target"])
    for row in rows:
        table.add(*row)


async def run(urls: list[str], pids: list[int], store_url: str, args, res: Results) -> dict:
    rng = np.random.default_rng(args.seed)
    ctx = mp.get_context("spawn")
    stop_probe, (probe_rx, probe_tx) = ctx.Event(), ctx.Pipe(duplex=False)
    prober = ctx.Process(target=probe_health, args=(urls[0], stop_probe, probe_tx), daemon=True)
    prober.start()
    os.nice(args.client_nice)  # this client and the browsers it starts from here on; the servers and prober keep theirs
    servers, stop_rss = Servers(pids), asyncio.Event()
    sampler = asyncio.create_task(servers.sample(stop_rss))

    warm = await warm_up(urls, store_url, args)
    solo = await solo_costs(urls[0], servers, args)
    if args.browsers:
        browser_rx, browser_tx = ctx.Pipe(duplex=False)
        browser = ctx.Process(target=browser_loads,
                              args=(urls, args.browsers, args.browser_views, args.timeout, args.client_nice,
                                    browser_tx), daemon=True)
        browser.start()
    cpu0 = servers.cpu_seconds()
    loaded, firsts = await load_phase(urls, args, rng)
    if args.browsers:
        loaded.browser, problems = await asyncio.to_thread(browser_rx.recv)
        browser.join()
        loaded.problems += problems
        loaded.end = time.time()
    cpu = servers.cpu_seconds() - cpu0

    stop_probe.set()
    probes = probe_rx.recv()
    prober.join()
    stop_rss.set()
    await sampler

    times = report_views(warm, loaded, firsts, cpu, args)
    errors = warm.problems + loaded.problems + report_health(probes, warm) + report_health(probes, loaded)
    servers.report()
    print(f"errors: {len(errors)}")
    for e in errors[:20]:
        print("  " + e)
    summary_table(res, warm, solo, loaded, firsts, cpu, probes, servers, errors, args)
    return {
        "machine": machine(), "load_average": os.getloadavg(), "args": vars(args),
        "cold": {v.page or "why": v.seconds for v in warm.views}, "server_cpu_s": cpu, "solo_cpu_s": solo,
        "cached_view_s": times, "first_view_s": firsts, "browser_s": loaded.browser,
        "live_first_chart_s": [v.first_chart for v in loaded.live],
        "health_s": [(t, dt) for t, dt, _ in probes], "rss": servers.rss, "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--views", type=int, default=6, help="views per session, the first one reported apart")
    ap.add_argument("--think", type=float, default=10.0, help="mean seconds between two views of a session")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the sessions connect")
    ap.add_argument("--browsers", type=int, default=3, help="Chromium contexts (0: none)")
    ap.add_argument("--jobs", type=int, default=4, help="studies submitted as jobs during the load (0: none)")
    ap.add_argument("--browser-views", type=int, default=2)
    ap.add_argument("--servers", type=int, default=1,
                    help="server processes sharing the run store; sessions and browsers go to them in turn")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a view may take before it is an error")
    ap.add_argument("--train-timeout", type=float, default=900.0,
                    help="seconds the warm-up waits for the jobs of a cold study view")
    ap.add_argument("--store", default="", help="run store URL (default: a fresh SQLite file)")
    ap.add_argument("--option", action="append", default=[],
                    help="a streamlit run option for the server, e.g. --option=--runner.postScriptGC=false")
    ap.add_argument("--solo", type=int, default=5,
                    help="cached views of each page one session opens alone before the load, for their server CPU")
    ap.add_argument("--client-nice", type=int, default=10,
                    help="niceness added to the load client and its Chromium contexts (0: the servers' priority)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="", help="write every measurement to this file")
    results_path(ap)
    args = ap.parse_args()
    if args.browsers and shutil.which("chromium") is None:
        ap.error("--browsers: chromium not found (run bash scripts/setup.sh, or pass --browsers 0)")
    if args.servers < 1:
        ap.error(f"--servers: expected 1 or more, got {args.servers}")
    res = Results("load", "Load on one server", libraries=("streamlit", "playwright", "websockets", "psutil"))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} before; clients at nice +{args.client_nice}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = {"LSTMLAB_DB": args.store or str(Path(tmp) / "runs.db")}
        started = [stack.enter_context(serve(Path(tmp) / f"streamlit-{i}.log", env, options=tuple(args.option)))
                   for i in range(args.servers)]
        result = asyncio.run(run([url for url, _ in started], [pid for _, pid in started], env["LSTMLAB_DB"], args,
                                 res))
    print(f"load average {os.getloadavg()[0]:.2f} after (1 min)")
    if args.json:
        Path(args.json).write_text(json.dumps(result))
    res.save(args.results)


if __name__ == "__main__":
    main()
