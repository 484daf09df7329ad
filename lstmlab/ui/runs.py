"""Training runs for the dashboard: configs from page settings, cached training, the run store.

``st.cache_data`` holds finished runs keyed by ``RunConfig.key`` (bounded by limits.CACHE_MAX_ENTRIES), so
returning to a setting is instant. A config is trained only when the run store holds no finished run of it (with
its parameters); every run trained here is saved to the run store once (a failed save is retried on the next visit).
"""

from __future__ import annotations

import contextvars
import math
import time
from dataclasses import dataclass

import streamlit as st

from lstmlab.ui import limits as L
from lstmlab.ui import state as S


@dataclass(frozen=True)
class Study:
    """Configs of the cells compared under one set of page settings."""

    configs: tuple  # RunConfig per cell, in the page's cell order
    work: int


def record_every(steps: int) -> int:
    """Recording period giving about limits.FLOW_RECORDS snapshots (plus step 0 and the last step)."""
    return max(1, math.ceil(max(steps, 1) / L.FLOW_RECORDS))


def study(values: dict, series: tuple | None = None, series_name: str = "") -> Study:
    """RunConfigs for the page settings ``values`` (fields of state.FIELDS["flow"]); ValueError if invalid."""
    from lstmlab.config import RunConfig

    cells = list(values["cells"])
    if not cells:
        raise ValueError("cells: choose at least one cell to train")
    extra = {}
    if values["task"] == "forecast" and series is not None:
        extra = {"series": tuple(series), "series_name": series_name}
    configs = tuple(
        RunConfig(cell=c, task=values["task"], seq_len=values["T"], hidden_size=values["H"], layers=values["layers"],
                  weight_scale=values["ws"], init=values["init"], forget_bias=values["fb"],
                  optimizer=values["opt"], lr=values["lr"], clip=values["clip"], steps=values["steps"],
                  batch_size=values["batch"], record_every=record_every(values["steps"]), eval_size=L.EVAL_SIZE,
                  seed=values["seed"], **extra)
        for c in cells
    )
    work = L.study_work(values["T"], values["H"], values["layers"], values["steps"], values["batch"], len(cells))
    return Study(configs=configs, work=work)


def inside_study_values(values: dict) -> dict:
    """Study settings (state.FIELDS["flow"]) of the Inside the LSTM settings ``values``: one one-layer LSTM with
    the page's task, length, size, init and seed, everything else at the Error flow page's defaults, so the same
    settings there train (and cache) the very same run."""
    study_values = S.defaults("flow")
    study_values.update(cells=["lstm"], layers=1, task=values["task"], T=values["T"], H=values["H"],
                        ws=values["ws"], init=values["init"], fb=values["fb"], seed=values["seed"],
                        steps=values["steps"])
    return study_values


def inside_config(values: dict):
    """The RunConfig of the network Inside the LSTM trains for ``values`` (its initialisation is the freshly
    initialised network); ValueError if the settings are invalid."""
    return study(inside_study_values(values)).configs[0]


TASK_PHRASES = {"adding": "the adding problem", "recall": "first-symbol recall", "copy": "the copy task",
                "forecast": "series forecasting"}


def network_text(config, run=None, source: str = "") -> str:
    """One sentence saying which network is shown: its shape and, for a trained one, how it was trained and how
    well it does on its held-out batch against the task's baseline predictor (named by the task)."""
    from lstmlab.ui.shaping import fmt

    shape = (f"{config.layers}-layer LSTM, " if config.layers > 1 else "LSTM, ") + (
        f"H={config.hidden_size}, weight scale {config.weight_scale:g}, forget bias {config.forget_bias:g}, "
        f"{config.init} init, seed {config.seed}")
    if run is None:
        return f"Freshly initialised {shape}: no training."
    done = int(len(run.steps))
    what = (f"trained {done} step{'s' if done != 1 else ''} on {TASK_PHRASES.get(config.task, config.task)} "
            f"(T={config.seq_len})")
    ev = run.eval
    info = task_info(config.key, config)
    loss = (f"held-out {'MSE' if info['metric_name'] == 'mse' else 'loss'} "
            f"{fmt(float(ev['loss'].iloc[-1]))} ({info['baseline_name']}: {fmt(info['baseline'])})") if len(ev) else ""
    status = {"diverged": f"; {run.message}, showing the last finite parameters",
              "stopped": f"; {run.message}"}.get(run.status, "")
    return f"{source}{shape}, {what}{status}{'; ' + loss if loss else ''}."


def stored_lstm_runs() -> "pd.DataFrame":
    """Stored LSTM runs that have their parameters, newest first (RunStore.list() rows); ValueError if the store
    cannot be read."""
    try:
        return store().list(cell="lstm", with_params=True)
    except Exception as e:  # an unreachable or unreadable database: say which, do not crash the page
        from lstmlab.store import default_url

        raise ValueError(f"The run store at {default_url()} cannot be read ({type(e).__name__}). "
                         "Set LSTMLAB_DB to a readable path.") from None


def load_run(run_id: str, name: str = "", tags: str = ""):
    """A stored run, cached (name and tags are part of the cache key so a rename or re-tag is seen)."""
    return _load(run_id, name, tags)


SERIES_FILE = "FILE"  # the placeholder cli_command prints for an uploaded series


def cli_command(config) -> str:
    """The command line that runs ``config`` outside the dashboard: one flag per RunConfig field that differs
    from RunConfig()'s default. An uploaded series is printed as ``--series @FILE`` (cli_series_note says so)."""
    import shlex

    from lstmlab.config import RunConfig

    d, default = config.to_dict(), RunConfig().to_dict()
    parts = ["python -m lstmlab run"]
    for k, v in d.items():
        if v == default[k]:
            continue
        text = f"@{SERIES_FILE}" if k == "series" else repr(v) if isinstance(v, float) else str(v)
        parts.append(f"--{k.replace('_', '-')} {shlex.quote(text)}")
    return " ".join(parts)


def cli_series_note(config) -> str:
    """What to do before running cli_command(config) when it names an uploaded series ("" otherwise)."""
    if config.series is None:
        return ""
    name = f" ({config.series_name})" if config.series_name else ""
    return (f" First save the uploaded values{name} to {SERIES_FILE}, one number per line or comma separated "
            f"({len(config.series):,} values).")


# ---------------------------------------------------------------------------------------------------------- store
@st.cache_resource(show_spinner=False)
def _store(url: str):
    from lstmlab.store import RunStore

    return RunStore(url)


def store():
    """The run store named by $LSTMLAB_DB (or the default location)."""
    from lstmlab.store import default_url

    return _store(default_url())


# ---------------------------------------------------------------------------------------------------------- training
@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def _train_cached(key: str, _config, _progress=None):
    """(run, stored) for a config, cached by ``key``: the newest finished run of the config in the run store
    that has its parameters (stored True), else a freshly trained run (stored False, not saved here: the save
    and its error stay outside the cache so a failed save is retried and reported on every visit)."""
    from lstmlab.train import train

    try:
        s = store()
        for run_id in s.find(_config, status="finished")[:3]:
            run = s.load(run_id)
            if run.params is not None:  # Inside the LSTM inspects the parameters of the runs it fetches here
                return run, True
    except Exception:  # an unreadable store or a run deleted meanwhile: train; saving it says what is wrong
        pass
    return train(_config, progress=_progress), False  # the core runs its BPTT passes with one BLAS thread


@st.cache_resource(show_spinner=False)
def _saved() -> set:
    """(store url, run id) of the runs this process has saved, so a cached run is saved once."""
    return set()


def _save_once(run) -> str:
    """Save a freshly trained run unless this process already did; "" or the reason it was not saved."""
    from lstmlab.store import default_url

    mark = (default_url(), str(run.run_id))
    if mark in _saved():
        return ""
    try:
        store().save(run)
    except Exception as e:  # the run is still shown; the page says it was not saved
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    _saved().add(mark)
    return ""


def train_study(st_: Study, container=None) -> tuple[dict, list[str]]:
    """Train (or fetch from the cache or the run store) every config of a study with a progress bar.

    Returns ({cell label: Run}, messages) where messages are store failures worth showing.
    """
    container = container if container is not None else st
    total = sum(max(c.steps, 1) for c in st_.configs)
    bar = None
    done_before = 0
    runs, messages = {}, []
    outside = contextvars.copy_context()
    for config in st_.configs:
        label = S.CELL_LABELS[config.cell]
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
            messages.append(f"{label} run was not saved to the run store ({err}).")
        runs[label] = run
        done_before += max(config.steps, 1)
    if bar is not None:
        bar.empty()
    return runs, messages


@st.cache_data(max_entries=L.CACHE_MAX_ENTRIES, show_spinner=False)
def task_info(key: str, _config) -> dict:
    """Baseline loss, the name of the baseline predictor, metric name and chance metric of a config's task."""
    from lstmlab.tasks import get_task

    task = get_task(_config)
    return {"baseline": float(task.baseline), "baseline_name": str(task.baseline_name),
            "metric_name": task.metric_name,
            "chance_metric": float(task.chance_metric), "loss": task.loss}


# ---------------------------------------------------------------------------------------------------------- runs page
RUN_TABLE_COLUMNS = ["name", "tags", "cell", "task", "seq_len", "hidden_size", "layers", "weight_scale", "init",
                     "optimizer", "lr", "steps", "seed", "status", "created", "wall_time", "id"]


def run_label(row) -> str:
    """Display label of a run (a row of RunStore.list() or a Run): its name, else cell, length, scale and id."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k, None))
    name = get("name")
    rid = str(get("id") or get("run_id") or "")
    if name:
        return f"{name} · {rid[:6]}"
    cfg = get("config")
    if cfg is not None:
        cell, T, w = cfg.cell, cfg.seq_len, cfg.weight_scale
    else:
        cell, T, w = get("cell"), get("seq_len"), get("weight_scale")
    return f"{str(cell).upper()} T={T} w={float(w):g} · {rid[:6]}"


def list_runs(query: str = "") -> "pd.DataFrame":
    """Runs in the store, newest first, filtered by ``query`` (case-insensitive; matches name, tags, cell, task,
    status or id prefix), with a readable ``created`` column (naive UTC: the page labels it so)."""
    import pandas as pd

    try:
        df = store().list()
    except Exception as e:  # an unreachable or unreadable database: say which, do not crash the page
        from lstmlab.store import default_url

        raise ValueError(f"The run store at {default_url()} cannot be read ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}). Set LSTMLAB_DB to a writable path.") from None
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
def _load(run_id: str, name: str, tags: str):
    """A stored run (name and tags are part of the key so a rename or re-tag is seen)."""
    return store().load(run_id)


def load_runs(rows) -> dict:
    """{label: Run} for rows of list_runs(); runs deleted meanwhile are skipped."""
    out = {}
    for _, r in rows.iterrows():
        try:
            out[run_label(r.to_dict())] = _load(r["id"], r["name"], r["tags"])
        except KeyError:
            continue
    return out


def apply_action(action: str, arg, run_ids: list[str]) -> str:
    """Rename / tag / delete in the store; returns a confirmation, or an error prefixed with "!"."""
    s = store()
    try:
        if action == "rename":
            if len(run_ids) != 1:
                return "!Select exactly one run to rename."
            s.rename(run_ids[0], str(arg).strip())
            return "Renamed."
        if action == "tag":
            for rid in run_ids:
                s.tag(rid, arg)
            return f"Tagged {len(run_ids)} run(s)."
        if action == "delete":
            for rid in run_ids:
                s.delete(rid)  # run_select_ui drops ids no longer in the store on the next run
            return f"Deleted {len(run_ids)} run(s)."
        if action == "unconfirmed":
            return "!Tick the confirmation box to delete."
    except (KeyError, ValueError) as e:
        return f"!{e}"
    return f"!Unknown action {action!r}."


def export_csv(runs: dict, table: str) -> str:
    """CSV text of one table (steps, flow or eval) of the given runs (lstmlab.export)."""
    from lstmlab import export

    return export.table_csv(list(runs.values()), table)


def export_zip(runs: dict) -> bytes:
    """The zip bundle (runs.csv + steps/flow/eval CSVs) of the given runs (lstmlab.export)."""
    from lstmlab import export

    return export.zip_bundle(list(runs.values()))


def csv_export(runs: dict, table: str):
    """A callable building export_csv(runs, table) when called: st.download_button's deferred data."""
    return lambda: export_csv(runs, table)


def zip_export(runs: dict):
    """A callable building export_zip(runs) when called: st.download_button's deferred data."""
    return lambda: export_zip(runs)
