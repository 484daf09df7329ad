"""The Reproductions page's reading of the run store and its Start button: each recipe's card
(lstmlab.views.reproductions) built once per state of its runs for every session, and a recipe's runs submitted as
its sweep (lstmlab.reproduce.submit) by the signed-in user, whose quotas the store applies."""

from __future__ import annotations

import streamlit as st

from lstmlab.jobs import quotas
from lstmlab.jobs.errors import JobError
from lstmlab.reproduce import report as rep
from lstmlab.reproduce import submit
from lstmlab.reproduce.recipes import RECIPES, Recipe
from lstmlab.runs.status import ACTIVE_STATUSES
from lstmlab.store import default_url
from lstmlab.ui import auth, cached
from lstmlab.ui.run_store import error_line, hide_location, store
from lstmlab.views import limits as L
from lstmlab.views import reproductions
from lstmlab.views.text import escape_markdown

NOTICE = "repro_notice"  # session key: {recipe id: (kind, Markdown)} of the last Start of each card


@st.cache_data(max_entries=L.SWEEP_CACHE_ENTRIES, show_spinner=False)
def _outcome(recipe_id: str, run_id: str, status: str, step: int, wall_time: float) -> rep.Outcome:
    """An ended run judged by its recipe; ``status``, ``step`` and ``wall_time`` are the cache key's record of the
    attempt it ended."""
    return rep.judge(RECIPES[recipe_id], store().load(run_id))


def _judged(recipe: Recipe, row: dict) -> rep.Outcome:
    return _outcome(recipe.id, str(row["id"]), str(row["status"]), int(row["step"]), float(row["wall_time"]))


def cards() -> list[reproductions.Card]:
    """Every recipe's card as the store holds it now; a card is rebuilt only when its sweeps or the id, status or
    step of one of their runs changed (lstmlab.ui.cached.memo), and then loads only the ended runs it has not
    judged before."""
    state = reproductions.sweeps_state(store())
    return [cached.memo("repro.card", (rid, key), lambda rid=rid: reproductions.card(store(), rid, _judged))
            for rid, key in state.items()]


def in_flight() -> bool:
    """Whether a run of any recipe's sweep is queued or running."""
    return any(status in ACTIVE_STATUSES for _, runs in reproductions.sweeps_state(store()).values()
               for _, status, _ in runs)


def start(recipe_id: str, scale: str, seeds: int) -> None:
    """Submit the missing runs of a recipe at ``scale`` with ``seeds`` seeds per row as the signed-in user, and
    keep what happened for the card (:func:`notice`): the numbers submitted, or why not, never a traceback."""
    try:
        spec, done = submit.submit(recipe_id, scale, seeds, store_url=default_url(), actor=auth.actor())
    except quotas.QuotaExceeded as e:
        try:
            there = len(reproductions.planned_stored(store(), recipe_id, scale))
        except Exception:  # noqa: BLE001 - the count only adds to the message
            there = None
        kept = (f" {there} of its runs are in the store and kept; press Start again once some of yours have ended "
                "to submit the rest." if there is not None else "")
        said = ("warning", f"Not every run was submitted: {escape_markdown(e)}.{kept}")
    except (ValueError, KeyError) as e:  # a bad scale or seeds, a sweep recorded with other seeds
        said = ("error", escape_markdown(hide_location(str(e))))
    except JobError as e:
        said = ("error", f"The runs could not be submitted: {escape_markdown(hide_location(str(e)))}")
    except Exception as e:  # noqa: BLE001 - an unreachable or unwritable store: say which, never a traceback
        said = ("error", f"The run store cannot be used ({type(e).__name__}: {escape_markdown(error_line(e))}).")
    else:
        total = sum(len(v) for v in done.values())
        said = ("success", (f"Sweep {escape_markdown(spec.name, code=True)}: {len(done['submitted'])} of {total} "
                            f"runs submitted, {len(done['resubmitted'])} lost ones resubmitted, "
                            f"{len(done['present'])} already there."))
    st.session_state[NOTICE] = {**st.session_state[NOTICE], recipe_id: said}


def notice(where, recipe_id: str) -> None:
    """The outcome of this session's last Start of ``recipe_id``, if any, in ``where``."""
    said = st.session_state[NOTICE].get(recipe_id)
    if not said:
        return
    kind, text = said
    if kind == "success":
        where.success(text, icon=":material/check_circle:")
    elif kind == "warning":
        where.warning(text, icon=":material/hourglass_top:")
    else:
        where.error(text, icon=":material/error:")
