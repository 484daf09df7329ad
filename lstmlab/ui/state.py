"""Page state: URL query parameters, widget keys and session keys, all declared here.

Every page's settings live in the address bar (``st.query_params``), so a URL reproduces what is on screen. Each page
declares its fields once (``FIELDS[page]``); :func:`read_params` parses and checks the URL against them, falling back
to the default with a warning for anything unknown or out of range, and :func:`write_params` puts the applied
settings back. Widgets are keyed ``"<page>.<field>"`` and seeded from the URL by :func:`seed_widgets`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lstmlab.ui import limits as L

CELLS = ("rnn", "lstm", "gru")
CELL_LABELS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
TASKS = ("adding", "recall", "copy", "forecast")
TASK_LABELS = {
    "adding": "Adding problem",
    "recall": "Recall the first symbol",
    "copy": "Copy",
    "forecast": "Forecast a series",
}
INITS = ("orthogonal", "gaussian", "identity")
OPTIMIZERS = ("adam", "momentum", "sgd")
NETWORKS = ("init", "trained", "stored")  # Inside the LSTM: which parameters are inspected
NETWORK_LABELS = {"init": "Freshly initialised", "trained": "Trained with these settings", "stored": "A stored run"}
# Inside the LSTM, trained network: 600 Adam steps teach a 16-unit LSTM the adding problem at T = 50 for seeds
# 0-3 (held-out MSE 0.002-0.02 against the 0.167 baseline; 200 steps do not); about 1.7 s on a 2-core machine.
INSIDE_TRAIN_STEPS = 600


@dataclass(frozen=True)
class Field:
    """One setting of a page: its URL name, type, default and allowed values."""

    name: str
    kind: str  # "int" | "float" | "choice" | "multi" | "bool"
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()

    def parse(self, raw: str) -> Any:
        """The value of ``raw`` (a URL string); ValueError with a readable reason if it is not allowed."""
        if self.kind == "int":
            try:
                v = int(raw)
            except ValueError:
                raise ValueError(f"'{raw}' is not an integer") from None
            return self._in_range(v)
        if self.kind == "float":
            try:
                v = float(raw)
            except ValueError:
                raise ValueError(f"'{raw}' is not a number") from None
            if not math.isfinite(v):
                raise ValueError(f"'{raw}' is not a finite number")
            return self._in_range(v)
        if self.kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"'{raw}' is not true/false")
        if self.kind == "choice":
            if raw not in self.choices:
                raise ValueError(f"'{raw}' is not one of {', '.join(self.choices)}")
            return raw
        if self.kind == "multi":
            items = [s for s in raw.split(",") if s]
            bad = [s for s in items if s not in self.choices]
            if bad or not items:
                raise ValueError(f"'{raw}' must be a comma-separated subset of {', '.join(self.choices)}")
            return [c for c in self.choices if c in items]  # canonical order, no duplicates
        raise AssertionError(self.kind)

    def _in_range(self, v):
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise ValueError(f"{v:g} is outside {self.lo:g} … {self.hi:g}")
        return v

    def format(self, v: Any) -> str:
        """The URL string of value ``v``."""
        if self.kind == "multi":
            return ",".join(v)
        if self.kind == "bool":
            return "1" if v else "0"
        if self.kind == "float":
            return f"{float(v):.6g}"
        return str(v)


def _study_fields(steps: int = 100) -> tuple[Field, ...]:
    """Fields of one training study (Error flow and Training pages share them)."""
    return (
        Field("cells", "multi", ["rnn", "lstm"], choices=CELLS),
        Field("task", "choice", "adding", choices=TASKS),
        Field("T", "int", 100, L.SEQ_LEN_MIN, L.SEQ_LEN_MAX),
        Field("ws", "float", 1.0, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        Field("H", "int", 32, L.HIDDEN_MIN, L.HIDDEN_MAX),
        Field("layers", "int", 1, L.LAYERS_MIN, L.LAYERS_MAX),
        Field("init", "choice", "orthogonal", choices=INITS),
        Field("fb", "float", 1.0, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX),
        Field("opt", "choice", "adam", choices=OPTIMIZERS),
        Field("lr", "float", 1e-2, L.LR_MIN, L.LR_MAX),
        Field("clip", "float", 1.0, L.CLIP_MIN, L.CLIP_MAX),
        Field("steps", "int", steps, L.STEPS_MIN, L.STEPS_MAX),
        Field("batch", "int", 32, L.BATCH_MIN, L.BATCH_MAX),
        Field("seed", "int", 0, L.SEED_MIN, L.SEED_MAX),
    )


FIELDS: dict[str, tuple[Field, ...]] = {
    "why": (
        Field("w", "float", 0.9, L.W_MIN, L.W_MAX),
        Field("T", "int", 100, L.POWER_T_MIN, L.POWER_T_MAX),
    ),
    "flow": _study_fields(),
    "training": _study_fields(),
    "inside": (
        Field("net", "choice", "init", choices=NETWORKS),
        Field("steps", "int", INSIDE_TRAIN_STEPS, L.STEPS_MIN, L.STEPS_MAX),
        Field("run", "str", ""),  # id of the stored run shown when net == "stored" ("" = the newest)
        Field("T", "int", 50, L.SEQ_LEN_MIN, L.INSIDE_T_MAX),
        Field("H", "int", 16, L.HIDDEN_MIN, L.HIDDEN_MAX),
        Field("ws", "float", 1.0, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        Field("init", "choice", "orthogonal", choices=INITS),
        Field("fb", "float", 1.0, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX),
        Field("task", "choice", "adding", choices=TASKS[:3]),
        Field("seed", "int", 0, L.SEED_MIN, L.SEED_MAX),
        Field("ex", "int", 0, 0, L.INSIDE_BATCH_MAX - 1),
    ),
    "phase": (
        Field("cells", "multi", ["rnn", "lstm", "gru"], choices=CELLS),
        Field("wmin", "float", 0.5, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        Field("wmax", "float", 1.5, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        Field("nw", "int", 11, L.PHASE_SCALES_MIN, L.PHASE_SCALES_MAX),
        Field("Tmax", "int", 200, 10, L.PHASE_T_MAX),
        Field("nT", "int", 6, L.PHASE_LENGTHS_MIN, L.PHASE_LENGTHS_MAX),
        Field("H", "int", 16, L.HIDDEN_MIN, L.PHASE_HIDDEN_MAX),
        Field("init", "choice", "orthogonal", choices=INITS),
        Field("fb", "float", 1.0, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX),
        Field("seed", "int", 0, L.SEED_MIN, L.SEED_MAX),
    ),
    "runs": (Field("q", "str", ""),),
}


STUDY_PAGES = ("flow", "training")


def defaults(page: str) -> dict[str, Any]:
    """The default settings of ``page``."""
    return {f.name: (list(f.default) if f.kind == "multi" else f.default) for f in FIELDS[page]}


def parse_params(page: str, query: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Settings of ``page`` from a query dict, and one warning per ignored or replaced parameter.

    Pure (no streamlit): unknown names are ignored, bad values replaced by the default, each with a warning.
    """
    fields = {f.name: f for f in FIELDS[page]}
    values = defaults(page)
    warnings = []
    for name, raw in query.items():
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        if name.startswith("embed"):
            continue  # Streamlit's own display parameters
        f = fields.get(name)
        if f is None:
            warnings.append(f"Ignored unknown URL parameter `{name}`.")
            continue
        if f.kind == "str":
            values[name] = str(raw)[:200]
            continue
        try:
            values[name] = f.parse(str(raw))
        except ValueError as e:
            warnings.append(
                f"URL parameter `{name}`: {e}; using the default {f.format(f.default)}."
            )
    return values, warnings


def format_params(page: str, values: dict[str, Any]) -> dict[str, str]:
    """The query dict of ``values`` (every field of the page, in declaration order)."""
    out = {}
    for f in FIELDS[page]:
        if f.name in values:
            out[f.name] = str(values[f.name]) if f.kind == "str" else f.format(values[f.name])
    return out


def read_params(page: str) -> dict[str, Any]:
    """Settings of ``page`` from the URL; shows an ``st.warning`` for every value it had to replace.

    Study pages (Error flow, Training) opened without settings in the URL continue the last study of the
    session, so moving between them keeps what is on screen.
    """
    query = {k: st.query_params[k] for k in st.query_params}
    if not query and page in STUDY_PAGES and st.session_state.get("last_study"):
        return dict(st.session_state["last_study"])
    values, warnings = parse_params(page, query)
    for w in warnings:
        st.warning(w, icon=":material/link_off:")
    return values


def remember_study(values: dict[str, Any]) -> None:
    """Make ``values`` the session's current study (shared by the study pages)."""
    st.session_state["last_study"] = dict(values)


def flow_link(w: float, T: int) -> dict[str, str]:
    """Query parameters opening Error flow on RNN vs LSTM at weight scale w and length T (clamped to range)."""
    values = defaults("flow")
    values["ws"] = round(min(max(float(w), L.WEIGHT_SCALE_MIN), L.WEIGHT_SCALE_MAX), 2)
    values["T"] = int(min(max(int(T), L.SEQ_LEN_MIN), L.SEQ_LEN_MAX))
    return format_params("flow", values)


def write_params(page: str, values: dict[str, Any]) -> None:
    """Put the applied settings of ``page`` in the URL (only the fields ``values`` has), and remember as applied
    what the next read_params will find there, so an omitted field does not count as a change of the URL."""
    query = format_params(page, values)
    st.query_params.from_dict(query)
    st.session_state[_applied_key(page)] = parse_params(page, query)[0]


def widget_key(page: str, name: str) -> str:
    """Session key of the widget that edits field ``name`` of ``page``."""
    return f"{page}.{name}"


def _applied_key(page: str) -> str:
    return f"_applied.{page}"


def seed_widgets(page: str, values: dict[str, Any]) -> None:
    """Make the page's widgets show ``values`` when they differ from what the widgets were last seeded with.

    Call before drawing the widgets. A URL that changed under the page (a link, st.switch_page, the back button)
    re-seeds them; otherwise the widgets keep what the person is editing, and only a widget without state (first
    visit, or not drawn in the last run, which makes Streamlit drop its state) gets its value from ``values``.
    """
    ss = st.session_state
    changed = ss.get(_applied_key(page)) != values
    for f in FIELDS[page]:
        key = widget_key(page, f.name)
        if f.name in values and (changed or key not in ss):
            v = values[f.name]
            ss[key] = list(v) if isinstance(v, list) else v
    ss[_applied_key(page)] = dict(values)


def init_session() -> None:
    """Initialise the session keys every page relies on (the one place they are created)."""
    ss = st.session_state
    ss.setdefault("last_study", None)  # settings of the last study shown on Error flow / Training
    ss.setdefault("forecast_series", None)  # (name, tuple of floats) uploaded for the forecast task
    ss.setdefault("_forecast_sig", None)  # (file id, column, seq_len) of the upload last accepted
    ss.setdefault("runs_selected", [])  # run ids ticked on the Runs page
    for page in FIELDS:
        ss.setdefault(_applied_key(page), None)  # settings the page's widgets were last seeded with
