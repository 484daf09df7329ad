"""Runs as jobs on a page: a study's configs are found in the run store or submitted as jobs, and the page draws
what the store holds, redrawing while any of them is queued or running. The server process never trains: workers
do (lstmlab.jobs.worker), and the store is where the page, the workers and other sessions meet, so closing the tab does
not stop a run and the same URL elsewhere shows it where it is.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import streamlit as st

from lstmlab.jobs import api as jobs
from lstmlab.jobs import quotas
from lstmlab.jobs.errors import JobError
from lstmlab.jobs.executors import get_executor
from lstmlab.runs.status import ACTIVE_STATUSES, RESUBMITTABLE_STATUSES
from lstmlab.store import default_url, may_change
from lstmlab.ui import auth
from lstmlab.ui.run_store import error_line, hide_location, store
from lstmlab.views import limits as L
from lstmlab.views.settings import CELL_LABELS, Study
from lstmlab.views.text import escape_markdown, source_kind


@st.cache_resource(show_spinner=False)
def warm_workers() -> None:
    """Start the job executor's workers once per server process, before anyone presses Train: a worker's start
    (a fresh interpreter, numpy, its one-time set-up) takes seconds, a submission to a started one milliseconds."""
    try:
        executor = get_executor()
        for _ in range(os.cpu_count() or 1):
            executor.submit(os.getpid)
    except JobError:
        pass  # an unreachable scheduler is reported where a study is submitted


@st.cache_resource(show_spinner=False)
def _server_runs() -> set:
    """Ids of the runs this server process submitted, for every session (the server's limits)."""
    return set()


def _in_flight(run_ids: set) -> tuple[int, int]:
    """(running, queued) among ``run_ids``; ids of runs that ended (or vanished) are dropped from the set."""
    counts = {"running": 0, "queued": 0}
    for run_id in list(run_ids):
        try:
            status = store().progress(run_id)["status"]
        except KeyError:
            status = "deleted"
        if status in counts:
            counts[status] += 1
        else:
            run_ids.discard(run_id)
    return counts["running"], counts["queued"]


def study_runs(study: Study) -> dict[str, str]:
    """{cell label: run id} of a study: for each config the run the store shows this user (``RunStore.run_for``: a
    run anyone may share, else their own to resubmit), or a job submitted for it; the new jobs are submitted
    together, all or none (``jobs.submit_many``). Stops the page with the reason when the new jobs would exceed the
    session's or the server's limits (lstmlab.views.limits.jobs_refusal) or the user's quotas (lstmlab.jobs.quotas), or cannot
    be submitted."""
    mine = st.session_state["job_ids"]
    actor = auth.actor()
    try:
        found = {c.key: store().run_for(c, actor) for c in study.configs}
        new = [c for c in study.configs if found[c.key] is None]
        if new:
            refusal = L.jobs_refusal(len(new), _in_flight(mine), _in_flight(_server_runs()))
            if refusal:
                st.error(refusal, icon=":material/block:")
                st.stop()
            for c, run_id in zip(new, jobs.submit_many(new, store_url=default_url(), actor=actor)):
                found[c.key] = run_id
                mine.add(run_id)
                _server_runs().add(run_id)
        ids = {CELL_LABELS[c.cell]: found[c.key] for c in study.configs}
    except quotas.QuotaExceeded as e:
        st.warning(f"Nothing was submitted: {escape_markdown(e)}.", icon=":material/hourglass_top:")
        st.stop()
    except JobError as e:
        st.error(f"The runs could not be submitted: {escape_markdown(hide_location(str(e)))}",
                 icon=":material/error:")
        st.stop()
    except Exception as e:  # an unreachable or unwritable store: say which, never a traceback
        st.error(f"The run store cannot be used ({type(e).__name__}: {escape_markdown(error_line(e))}).",
                 icon=":material/error:")
        st.stop()
    return ids


_STATE = ("id", "status", "records", "message", "wall_time", "name")  # what names a run's state (:func:`_load`)


def load_runs(ids: dict[str, str], shared: bool = False) -> dict:
    """{label: Run} as the store holds them (a running run: what it has streamed so far): now, or with ``shared``
    as one reading per LIVE_REFRESH_S for every session (:func:`_progress`). A run is read from the store once per
    state (:func:`_load`); a view of runs that did not change since reads only their progress."""
    progress = (_progress if shared else _read_progress)(tuple(ids.values()))
    return {label: _load(*progress[run_id]) for label, run_id in ids.items()}


def _read_progress(run_ids: tuple[str, ...]) -> dict[str, tuple]:
    """{run id: the arguments of :func:`_load` naming its state}, as the store holds it now."""
    return {run_id: tuple(p[f] for f in _STATE) for run_id in run_ids for p in [store().progress(run_id)]}


@st.cache_data(ttl=L.LIVE_REFRESH_S, max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def _progress(run_ids: tuple[str, ...]) -> dict[str, tuple]:
    """:func:`_read_progress`, read from the store at most once per LIVE_REFRESH_S for every session refreshing a
    view of these runs. Runs in flight record about every second: a refresh reading their progress itself would see
    a state of its own, and each session watching would rebuild every chart (the server's CPU per view, see
    docs/performance.md#load-on-one-server) for a state no other session draws. From one shared reading they rebuild
    once per interval, however many watch."""
    return _read_progress(run_ids)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def _load(run_id: str, status: str, records: int, message: str, wall_time: float, name: str):
    """The stored run in the state named by its progress: a record (its steps, flow and eval rows) is written in
    one transaction and counted in ``records``; the last rows and the parameters come with the final status."""
    return store().load(run_id)


def runs_key(runs: dict) -> tuple:
    """What the views of ``runs`` ({label: Run}) are built from, as a cache key (lstmlab.ui.cached.chart): each
    label with its run's id, status and how much of it is recorded."""
    return tuple((label, run.run_id, run.status, len(run.eval), len(run.steps), run.message, run.wall_time)
                 for label, run in runs.items())


def wait_for_first_record(ids: dict[str, str], timeout: float = L.FIRST_RECORD_WAIT_S) -> None:
    """Wait until every run has its first record (or has ended), at most ``timeout`` seconds, so a freshly submitted
    study draws its first charts in this script run rather than a refresh later."""
    deadline = time.monotonic() + timeout
    pending = dict(ids)
    while pending:
        for label, run_id in list(pending.items()):
            p = store().progress(run_id)
            if p["status"] not in ACTIVE_STATUSES or p["records"]:
                del pending[label]
        if not pending or time.monotonic() >= deadline:
            return
        time.sleep(L.FIRST_RECORD_POLL_S)


def ended_run(run_id: str, what: str):
    """The run once it has ended, following it with a progress bar until then: for a page that needs a whole run
    (its final parameters). The script waits; a worker trains."""
    bar = None
    while (p := store().progress(run_id))["status"] in ACTIVE_STATUSES:
        said = f"{what}: {p['status']}, step {p['step']:,} of {p['steps']:,}"
        if bar is None:
            bar = st.progress(0.0, text=said)
        bar.progress(min(p["step"] / max(p["steps"], 1), 1.0), text=said)
        time.sleep(L.LIVE_REFRESH_S / 4)
    if bar is not None:
        bar.empty()
    return store().load(run_id)


def show(ids: dict[str, str], draw: Callable[[dict], None]) -> None:
    """Draw the runs of ``ids`` with ``draw({label: Run})``, each with its progress and Stop or Resubmit button
    above the charts, redrawn while any of them is queued or running (:func:`refreshing`); a refused Stop or
    Resubmit is said above them, outside the redrawing part, until dismissed (:func:`notice_ui`)."""
    notice_ui()
    wait_for_first_record(ids)
    page_run = {"drawn": False}  # the page run draws what the store holds now; the fragment's refreshes share

    def view() -> bool:
        runs = load_runs(ids, shared=page_run["drawn"])
        page_run["drawn"] = True
        job_controls_ui(runs)
        draw(runs)
        return any(run.status in ACTIVE_STATUSES for run in runs.values())

    refreshing(view, lambda: any(store().progress(i)["status"] in ACTIVE_STATUSES for i in ids.values()))


def refreshing(view: Callable[[], bool], in_flight: Callable[[], bool]) -> None:
    """Run ``view()`` (it draws, and returns whether anything it shows is still in flight) in a fragment that
    reruns every LIVE_REFRESH_S while ``in_flight()`` was true when the page ran: only this part of the page
    redraws. When the view reports that everything ended, the whole page reruns once and stops refreshing."""
    active = in_flight()

    def fragment() -> None:
        if not view() and active:
            st.rerun(scope="app")

    st.fragment(fragment, run_every=L.LIVE_REFRESH_S if active else None)()


def job_controls_ui(runs: dict) -> None:
    """One line per run in flight or resubmittable: its progress, and a Stop or Resubmit button for those who may
    use it (``store.may_change``: the run's owner, an admin, anyone without sign-in); others see whose run it is.
    The store still decides: a refusal (the run changed hands meanwhile, a quota) is held by :func:`notice_ui`."""
    actor = auth.actor()
    for label, run in runs.items():
        if run.status not in (*ACTIVE_STATUSES, *RESUBMITTABLE_STATUSES):
            continue
        if run.config.source:
            recorded_controls_ui(label, run, may_change(actor, str(getattr(run, "owner", "") or "")))
            continue
        done, total = int(len(run.steps)), max(int(run.config.steps), 1)
        owner = str(getattr(run, "owner", "") or "")
        allowed = may_change(actor, owner)
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        if run.status in ACTIVE_STATUSES:
            c1.progress(min(done / total, 1.0),
                        text=f"**{escape_markdown(label)}** {run.status}: step {done:,} of {run.config.steps:,}")
            if allowed and c2.button("Stop", key=f"stop.{run.run_id}", icon=":material/stop:",
                                     help="Ask the worker to stop this run after its current step; what it "
                                          "recorded is kept."):
                _act(jobs.stop, run.run_id, f"{label} asked to stop")
        else:
            c1.warning(f"**{escape_markdown(label)}** is {run.status} at step {done:,} of {run.config.steps:,}"
                       f"{': ' + escape_markdown(run.message) if run.message else ''}.", icon=":material/pause:")
            if allowed and c2.button("Resubmit", key=f"resubmit.{run.run_id}", icon=":material/replay:",
                                     help="Queue this run again: it continues after its last stored record."):
                _act(jobs.resubmit, run.run_id, f"{label} resubmitted")
        if not allowed:
            c2.caption(_whose(owner))


def recorded_controls_ui(label: str, run, allowed: bool) -> None:
    """The line of a run recorded outside the lab (``config.source``) while it is recorded, or after its recording
    process went away: its progress, and a Stop that ends the recording (the process's training goes on). Such a run
    cannot be resubmitted: the lab has nothing to train it on."""
    done = len(run.steps)
    said = f"**{escape_markdown(label)}** recorded from {escape_markdown(source_kind(run.config.source))}"
    if run.config.steps:
        said += f": step {done:,} of {run.config.steps:,}"
    elif done:
        said += f": step {done:,}"
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    if run.status in ACTIVE_STATUSES:
        c1.progress(min(done / run.config.steps, 1.0) if run.config.steps else 0.0, text=f"{said}, {run.status}")
        if allowed and c2.button("Stop recording", key=f"stop.{run.run_id}", icon=":material/stop:",
                                 help="Ask the process that records this run to stop recording it; its training "
                                      "goes on, and what was recorded is kept."):
            _act(jobs.stop, run.run_id, f"{label} asked to stop recording")
    else:  # the store's message of a lost run speaks of a job's worker: a recording has a process of its user's
        why = ("its recording process went away without closing it (it ended, or lost the run store)"
               if run.status == "lost" else escape_markdown(run.message))
        c1.warning(f"{said}, is {run.status}{': ' + why if why else ''}. It was recorded outside the lab, so the lab "
                   "cannot resubmit it.", icon=":material/pause:")


def _whose(owner: str) -> str:
    """Whose run a signed-in user is looking at, when it is not theirs to stop or resubmit (Markdown)."""
    return f"{escape_markdown(owner)}'s run" if owner else "saved without sign-in"


_NOTICE = "job_notice"  # session key: (kind, Markdown) of the last refused Stop or Resubmit, until dismissed;
# kind: "denied" (not the user's run), "warning" (a quota), "error"


def _act(action, run_id: str, done: str) -> None:
    """Run a Stop or Resubmit as this session's user. A refusal is kept in the session and the whole page reruns,
    so :func:`notice_ui` shows it above the redrawing fragment (a message drawn inside it would go with the next
    redraw)."""
    try:
        action(run_id, store_url=default_url(), actor=auth.actor())
    except PermissionError as e:
        st.session_state[_NOTICE] = ("denied", escape_markdown(e))
    except quotas.QuotaExceeded as e:
        st.session_state[_NOTICE] = ("warning", f"Not resubmitted: {escape_markdown(e)}.")
    except (ValueError, KeyError, JobError) as e:
        st.session_state[_NOTICE] = ("error", escape_markdown(hide_location(str(e))))
    except Exception as e:  # an unreachable or unwritable store: say which, never a traceback
        st.session_state[_NOTICE] = ("error", f"The run store cannot be used ({type(e).__name__}: "
                                              f"{escape_markdown(error_line(e))}).")
    else:
        st.session_state[_NOTICE] = None
        st.toast(done)
    st.rerun(scope="app")


def notice_ui() -> None:
    """The last refused Stop or Resubmit of this session, with a button that dismisses it; nothing if none."""
    notice = st.session_state.get(_NOTICE)
    if not notice:
        return
    kind, text = notice
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    if kind == "warning":
        c1.warning(text, icon=":material/hourglass_top:")
    else:
        c1.error(text, icon=":material/lock:" if kind == "denied" else ":material/error:")
    if c2.button("Dismiss", key="job_notice.dismiss", icon=":material/close:"):
        st.session_state[_NOTICE] = None
        st.rerun(scope="app")
