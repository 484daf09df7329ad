"""The run store as the dashboard uses it: one cached connection, runs listed, loaded (cached), edited and
exported. Failures to reach the store become ValueErrors a page shows."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from lstmlab.core.config import MEMORY_CELLS
from lstmlab.jobs.limits import SCHEDULER_ENV
from lstmlab.store import Actor, RunStore, StoreError, default_url, display_location
from lstmlab.ui import auth
from lstmlab.views import export
from lstmlab.views import limits as L
from lstmlab.views.text import escape_markdown, run_label

ADMINS_SEE = "the details are shown to the lab's admins"


def shown_url(location: str | None = None) -> str:
    """The store location as a page may show it (default: the current one), its password hidden."""
    try:
        return display_location(default_url() if location is None else location)
    except Exception:  # not a location the store can read: say nothing of it
        return "(an unreadable store location)"


@st.cache_resource(show_spinner=False)
def _store(url: str) -> RunStore:
    return RunStore(url)


def store() -> RunStore:
    """The run store named by $LSTMLAB_DB (or the default location)."""
    return _store(default_url())


def _unreadable(e: Exception, detail: str, fix: str) -> ValueError:
    """The error a page shows when the store cannot be read: where it is and how to fix it for whom may see where
    it is (auth.may_see_store_location), else only the kind of failure."""
    if not auth.may_see_store_location():
        return ValueError(f"The run store cannot be read ({type(e).__name__}): {ADMINS_SEE}.")
    return ValueError(f"The run store at {shown_url()} cannot be read ({type(e).__name__}{detail}). {fix}")


def stored_lstm_runs() -> pd.DataFrame:
    """Stored LSTM runs (either LSTM: config.MEMORY_CELLS) that have their parameters, newest first
    (RunStore.list() rows); ValueError if the store cannot be read."""
    try:
        return store().list(cell=list(MEMORY_CELLS), with_params=True)
    except Exception as e:  # an unreachable or unreadable database: say which, do not crash the page
        raise _unreadable(e, "", "Set LSTMLAB_DB to a readable path.") from None


def list_runs(query: str = "", owner: str | None = None) -> pd.DataFrame:
    """Runs in the store, newest first, filtered by ``query`` (case-insensitive; matches name, tags, cell, task,
    status or id prefix) and ``owner`` (an email; None = everyone's), with a readable ``created`` column (naive UTC:
    the page labels it so)."""
    try:
        df = store().list(owner=owner)
    except Exception as e:  # an unreachable or unreadable database: say which, do not crash the page
        raise _unreadable(e, f": {error_line(e)}", "Set LSTMLAB_DB to a writable path.") from None
    if df.empty:
        return df.assign(created=pd.Series(dtype="datetime64[ns]"))
    df = df.assign(created=pd.to_datetime(df["created_at"], unit="s").dt.floor("s"))
    q = (query or "").strip().lower()
    if q:
        hay = (df["name"].astype(str) + " " + df["tags"].astype(str) + " " + df["cell"].astype(str) + " "
               + df["task"].astype(str) + " " + df["status"].astype(str) + " " + df["id"].astype(str)).str.lower()
        df = df[hay.str.contains(q, regex=False)]
    return df.reset_index(drop=True)


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def load_run(run_id: str, name: str = "", tags: str = ""):
    """A stored run, cached (name and tags are part of the cache key so a rename or re-tag is seen)."""
    return store().load(run_id)


def error_line(e: Exception) -> str:
    """The first line of an error's message, with the store URL's password (if it quotes one) hidden. For a viewer
    who may not see where the store is (auth.may_see_store_location), a failure of the store itself (its messages
    name servers, users, files) is not described, and the location is taken out of any other message."""
    if not auth.may_see_store_location() and isinstance(e, (StoreError, SQLAlchemyError, OSError)):
        return ADMINS_SEE
    line = str(e).splitlines()[0] if str(e) else ""
    return hide_location(line)


def hide_location(text: str) -> str:
    """``text`` as this page's viewer may read it: the store's location with its password hidden, or, for a
    viewer who may not see where the store is, "the run store" in its place, and "the lab's job scheduler" in
    place of the Dask scheduler's address."""
    url, shown = default_url(), shown_url()
    if auth.may_see_store_location():
        return text if url in shown else text.replace(url, shown)  # a path is part of its shown sqlite:// URL
    for location in (f"RunStore({shown!r})", url, shown):
        text = text.replace(location, "the run store")
    scheduler = os.environ.get(SCHEDULER_ENV, "").strip()
    return text.replace(scheduler, "the lab's job scheduler") if scheduler else text


def load_runs(rows: pd.DataFrame) -> dict:
    """{label: Run} for rows of list_runs(); runs deleted meanwhile are skipped."""
    out = {}
    for _, r in rows.iterrows():
        try:
            out[run_label(r.to_dict())] = load_run(r["id"], r["name"], r["tags"])
        except KeyError:
            continue
    return out


def apply_action(action: str, arg, run_ids: list[str], actor: Actor | None = None) -> str:
    """Rename / tag / delete in the store as ``actor`` (the store refuses what they may not change); returns a
    confirmation, or an error prefixed with "!" (Markdown)."""
    s = store()
    try:
        if action == "rename":
            if len(run_ids) != 1:
                return "!Select exactly one run to rename."
            s.rename(run_ids[0], str(arg).strip(), actor=actor)
            return "Renamed."
        if action == "tag":
            for rid in run_ids:
                s.tag(rid, arg, actor=actor)
            return f"Tagged {len(run_ids)} run(s)."
        if action == "delete":
            for rid in run_ids:
                s.delete(rid, actor=actor)  # the run picker drops ids no longer in the store on the next run
            return f"Deleted {len(run_ids)} run(s)."
        if action == "unconfirmed":
            return "!Tick the confirmation box to delete."
    except (KeyError, ValueError, PermissionError) as e:  # the message may quote the name, tag or owner
        return f"!{escape_markdown(hide_location(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)))}"
    return f"!Unknown action {action!r}."


def csv_export(runs: dict, table: str):
    """A callable building the CSV text of one table (steps, flow or eval) of ``runs`` when called:
    st.download_button's deferred data."""
    return lambda: export.table_csv(list(runs.values()), table)


def zip_export(runs: dict):
    """A callable building the zip bundle (runs.csv + steps/flow/eval CSVs) of ``runs`` when called."""
    return lambda: export.zip_bundle(list(runs.values()))
