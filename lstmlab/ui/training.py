"""Training a study from the dashboard: each config is fetched from the cache or the run store, or trained
with a progress bar, and a freshly trained run is saved to the run store once per process."""

from __future__ import annotations

import contextvars
import time

import streamlit as st

from lstmlab import limits as L
from lstmlab import train
from lstmlab.settings import CELL_LABELS, Study
from lstmlab.store import default_url
from lstmlab.text import escape_markdown
from lstmlab.ui import auth
from lstmlab.ui.run_store import error_line, store


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def _train_cached(key: str, _config, _progress=None):
    """(run, stored) for a config, cached by ``key``: the newest finished run of the config in the run store
    that has its parameters (stored True), else a freshly trained run (stored False, not saved here: the save
    and its error stay outside the cache so a failed save is retried and reported on every visit)."""
    try:
        s = store()
        for run_id in s.find(_config, status="finished")[:3]:
            run = s.load(run_id)
            if run.params is not None:  # Inside the LSTM inspects the parameters of the runs it fetches here
                return run, True
    except Exception:  # an unreadable store or a run deleted meanwhile: train; saving it says what is wrong
        pass
    return train.train(_config, progress=_progress), False  # the core runs its BPTT passes with one BLAS thread


@st.cache_resource(show_spinner=False)
def _saved() -> set:
    """(store url, run id) of the runs this process has saved, so a cached run is saved once."""
    return set()


def _save_once(run) -> str:
    """Save a freshly trained run unless this process already did, owned by the signed-in user; "" or the reason
    it was not saved."""
    mark = (default_url(), str(run.run_id))
    if mark in _saved():
        return ""
    try:
        store().save(run, actor=auth.actor())
    except Exception as e:  # the run is still shown; the page says it was not saved
        return f"{type(e).__name__}: {error_line(e)}"
    _saved().add(mark)
    return ""


def train_study(study: Study, container=None) -> tuple[dict, list[str]]:
    """Train (or fetch from the cache or the run store) every config of a study with a progress bar.

    Returns ({cell label: Run}, messages) where messages are store failures worth showing (Markdown).
    """
    container = container if container is not None else st
    total = sum(max(c.steps, 1) for c in study.configs)
    bar = None
    done_before = 0
    runs, messages = {}, []
    outside = contextvars.copy_context()
    for config in study.configs:
        label = CELL_LABELS[config.cell]
        last = [0.0]

        def progress(done, n, metrics, _label=label, _before=done_before):
            nonlocal bar
            now = time.perf_counter()
            if now - last[0] < 0.1 and done < n:
                return
            last[0] = now
            frac = min((_before + done) / total, 1.0)
            text = f"Training {_label}: step {done}/{n}, loss {metrics['loss']:.4g}"
            # Draw in the context outside the cached function, so the cache does not record the progress bar
            # as part of its result (it is a live view, not something to replay).
            if bar is None:
                bar = outside.run(container.progress, frac, text=text)
            else:
                outside.run(bar.progress, frac, text=text)

        run, stored = _train_cached(config.key, config, progress)
        err = "" if stored else _save_once(run)
        if err:
            messages.append(f"{label} run was not saved to the run store ({escape_markdown(err)}).")
        runs[label] = run
        done_before += max(config.steps, 1)
    if bar is not None:
        bar.empty()
    return runs, messages
