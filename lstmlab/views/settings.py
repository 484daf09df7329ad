"""Page settings: the fields each dashboard page keeps in its URL, and the RunConfigs a study's settings name.

Every page's settings live in the address bar, so a URL reproduces what is on screen. Each page declares its fields
once (``FIELDS[page]``); the fields that are RunConfig fields (``run_field``) take their URL name, kind, choices,
label and help from their declaration in lstmlab.core.config (``FIELD_INFO``) and their interactive bounds from
lstmlab.views.limits, which must lie inside the declared ones. Pure: no streamlit (the dashboard's lstmlab.ui.state
reads and writes the URL with these).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lstmlab.core.config import CELLS, FIELD_INFO, MEMORY_CELLS, TASKS, FieldInfo, RunConfig, value_from_text
from lstmlab.views import limits as L
from lstmlab.views.text import CELL_LABELS, escape_markdown  # noqa: F401 - CELL_LABELS lives with the words people read

# Short names of RunConfig fields in the dashboard's URLs (``?T=100&ws=0.9``), as declared; other fields keep their own.
URL_NAMES = {name: info.url for name, info in FIELD_INFO.items() if info.url}
TASK_LABELS = {
    "adding": "Adding problem",
    "recall": "Recall the first symbol",
    "copy": "Copy",
    "forecast": "Forecast a series",
    # The papers' tasks (config.PAPER_TASKS), as each paper generates them; T sets the paper's length parameter.
    "hs97-reber": "HS97 1: embedded Reber grammar",
    "hs97-lag-2a": "HS97 2a: noise-free long lag (p = T)",
    "hs97-lag-2b": "HS97 2b: long lag, no local regularities (p = T)",
    "hs97-lag-2c": "HS97 2c: long lag among distractors (q = T)",
    "hs97-adding": "HS97 4: adding",
    "hs97-multiply": "HS97 5: multiplication",
    "hs97-order-6a": "HS97 6a: temporal order of 2 symbols",
    "hs97-order-6b": "HS97 6b: temporal order of 3 symbols",
    "gsc00-reber": "Gers et al. 2000: continual embedded Reber",
    "bsf94-latch": "Bengio et al. 1994: latch",
    "pmb13-order": "Pascanu et al. 2013: temporal order",
    "pmb13-addition": "Pascanu et al. 2013: addition",
    "asb16-copy": "Arjovsky et al. 2016: copying memory",
    "ljh15-adding": "Le et al. 2015: adding",
}
INSIDE_TASKS = tuple(t for t in TASKS if t != "forecast")  # Inside the LSTM has no upload box
INSIDE_CELLS = MEMORY_CELLS  # Inside the LSTM shows the cells with a cell state
GRADIENT_LABELS = {"full": "Full BPTT", "truncated": "Truncated (HS97: back in time only along the cell state)"}
PHASE_CELLS = ("rnn", "lstm", "gru")  # the phase map's cells at first (each more costs as much again)
NETWORKS = ("init", "trained", "stored", "torch")  # Inside the LSTM: which parameters are inspected
NETWORK_LABELS = {"init": "Freshly initialised", "trained": "Trained with these settings", "stored": "A stored run",
                  "torch": "A PyTorch state dict (.pt)"}
# Inside the LSTM, trained network: 600 Adam steps teach a 16-unit LSTM the adding problem at T = 50 for seeds
# 0-3 (held-out MSE 0.002-0.02 against the 0.167 baseline; 200 steps do not); timed in docs/performance.md#dashboard.
INSIDE_TRAIN_STEPS = 600
RUN_OWNERS = ("everyone", "mine")  # Runs page, signed in: whose runs are listed


@dataclass(frozen=True)
class Field:
    """One setting of a page: its URL name, type, default and allowed values (``lo`` … ``hi``, each end closed
    unless ``lo_open``/``hi_open``; None = unbounded), and the label and help its control shows."""

    name: str
    kind: str  # "int" | "float" | "choice" | "multi" | "bool" | "str"
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    lo_open: bool = False
    hi_open: bool = False
    label: str = ""
    help: str = ""
    run: str = ""  # the RunConfig field this setting sets ("" = the page's own setting)

    def parse(self, raw: str) -> Any:
        """The value of ``raw`` (a URL string); ValueError with a readable reason (plain text, quoting at most
        40 characters of ``raw``) if it is not allowed. Numbers are read as the command line reads them
        (lstmlab.core.config.value_from_text: "1e3" is the integer 1000)."""
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        if self.kind == "int":
            v = value_from_text("int", raw)
            if not isinstance(v, int):
                raise ValueError(f"'{shown}' is not an integer")
            return self._in_range(v, shown)
        if self.kind == "float":
            v = value_from_text("float", raw)
            if isinstance(v, str):
                raise ValueError(f"'{shown}' is not a number")
            if not math.isfinite(v):
                raise ValueError(f"'{shown}' is not a finite number")
            return self._in_range(v, shown)
        if self.kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"'{shown}' is not true/false")
        if self.kind == "choice":
            if raw not in self.choices:
                raise ValueError(f"'{shown}' is not one of {', '.join(self.choices)}")
            return raw
        if self.kind == "multi":
            items = [s for s in raw.split(",") if s]
            bad = [s for s in items if s not in self.choices]
            if bad or not items:
                raise ValueError(f"'{shown}' must be a comma-separated subset of {', '.join(self.choices)}")
            return [c for c in self.choices if c in items]  # canonical order, no duplicates
        raise AssertionError(self.kind)

    def _in_range(self, v, shown: str):
        if not FieldInfo("float", self.lo, self.hi, self.lo_open, self.hi_open).contains(v):
            try:
                shown = f"{v:g}"
            except OverflowError:  # an integer beyond the float range: say what was written
                pass
            raise ValueError(f"{shown} is outside {self.range_text()}")
        return v

    def range_text(self) -> str:
        """The allowed range as the dashboard says it: ``5 … 400``; an open end in parentheses, ``(0 … 10]``."""
        lo = "−∞" if self.lo is None else f"{self.lo:g}"
        hi = "∞" if self.hi is None else f"{self.hi:g}"
        if not (self.lo_open or self.hi_open):
            return f"{lo} … {hi}"
        return f"{'(' if self.lo_open else '['}{lo} … {hi}{')' if self.hi_open else ']'}"

    def format(self, v: Any) -> str:
        """The URL string of value ``v``."""
        if self.kind == "multi":
            return ",".join(v)
        if self.kind == "bool":
            return "1" if v else "0"
        if self.kind == "float":
            return f"{float(v):.6g}"
        return str(v)


def url_name(field: str) -> str:
    """The URL name of a RunConfig field (``seq_len`` -> ``T``), as its declaration gives it."""
    return FIELD_INFO[field].url or field


def run_field(field: str, default: Any, lo: float | None = None, hi: float | None = None,
              choices: tuple | None = None, help: str | None = None) -> Field:
    """The page field that sets RunConfig field ``field``, from its declaration (``FIELD_INFO[field]``): URL name,
    kind, label and help (``help`` replaces it on a page that says more), choices (``choices``: a subset the page
    offers), bounds (``lo`` … ``hi``: the page's interactive range, closed, inside the declared bounds; None: the
    declared end). ValueError if the page's range or choices are not within the declaration."""
    info = FIELD_INFO[field]
    name, label, help = info.url or field, info.label, info.help if help is None else help
    if info.kind == "choice":
        if choices is not None and not set(choices) <= set(info.choices):
            raise ValueError(f"{field}: choices {choices} are not all among the declared {info.choices}")
        return Field(name, "choice", default, choices=tuple(info.choices if choices is None else choices),
                     label=label, help=help, run=field)
    if info.kind not in ("int", "float"):
        raise ValueError(f"{field}: a {info.kind} field has no URL form")
    for end, value in (("lo", lo), ("hi", hi)):
        if value is not None and not info.contains(value):
            raise ValueError(f"{field}: the page's {end} = {value:g} lies outside the declared bounds: expected "
                             f"{info.expected()}")
    return Field(name, info.kind, default, info.lo if lo is None else lo, info.hi if hi is None else hi,
                 lo_open=lo is None and info.lo_open, hi_open=hi is None and info.hi_open, label=label, help=help,
                 run=field)


def field(page: str, name: str) -> Field:
    """The field of ``page`` whose URL name is ``name``."""
    return next(f for f in FIELDS[page] if f.name == name)


# The default study (Error flow, Training): on the adding problem at T = 100 with batch 32 the LSTM's first-step
# error collapses within 50 steps and recovers, as its held-out loss leaves the baseline, at steps 500, 825, 675 and
# 825 for seeds 0-3 (bench/default_study.py); by step 1,000 its held-out MSE is 0.001-0.004 against the 0.167
# baseline, while the RNN's stays at the baseline with its ratio at 1e-55 to 1e-8. With limits.FLOW_RECORDS
# recordings (every 25 steps) the heatmap shows the collapse and the recovery column by column.
DEFAULT_STUDY_STEPS = 1000


def _study_fields(steps: int = DEFAULT_STUDY_STEPS) -> tuple[Field, ...]:
    """Fields of one training study (Error flow and Training pages share them)."""
    return (
        Field("cells", "multi", ["rnn", "lstm"], choices=CELLS),
        run_field("task", "adding"),
        run_field("seq_len", 100, L.SEQ_LEN_MIN, L.SEQ_LEN_MAX),
        run_field("weight_scale", 1.0, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        run_field("hidden_size", 32, L.HIDDEN_MIN, L.HIDDEN_MAX),
        run_field("layers", 1, L.LAYERS_MIN, L.LAYERS_MAX),
        run_field("init", "orthogonal"),
        run_field("forget_bias", 1.0, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX),
        run_field("optimizer", "adam"),
        run_field("lr", 1e-2, L.LR_MIN, L.LR_MAX),
        run_field("clip", 1.0, L.CLIP_MIN, L.CLIP_MAX),
        run_field("gradient", "full"),
        run_field("steps", steps, L.STEPS_MIN, L.STEPS_MAX),
        run_field("batch_size", 32, L.BATCH_MIN, L.BATCH_MAX),
        run_field("seed", 0, L.SEED_MIN, L.SEED_MAX),
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
        run_field("cell", "lstm", choices=INSIDE_CELLS),
        run_field("gradient", "full"),
        run_field("steps", INSIDE_TRAIN_STEPS, L.STEPS_MIN, L.STEPS_MAX),
        Field("run", "str", ""),  # id of the stored run shown when net == "stored" ("" = the newest)
        run_field("seq_len", 50, L.SEQ_LEN_MIN, L.INSIDE_T_MAX),
        run_field("hidden_size", 16, L.HIDDEN_MIN, L.HIDDEN_MAX),
        run_field("weight_scale", 1.0, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        run_field("init", "orthogonal"),
        run_field("forget_bias", 1.0, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX),
        run_field("task", "adding", choices=INSIDE_TASKS),
        run_field("seed", 0, L.SEED_MIN, L.SEED_MAX),
        Field("ex", "int", 0, 0, L.INSIDE_BATCH_MAX - 1),
    ),
    "phase": (
        Field("cells", "multi", list(PHASE_CELLS), choices=CELLS),
        Field("wmin", "float", 0.5, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        Field("wmax", "float", 1.5, L.WEIGHT_SCALE_MIN, L.WEIGHT_SCALE_MAX),
        Field("nw", "int", 11, L.PHASE_SCALES_MIN, L.PHASE_SCALES_MAX),
        Field("Tmax", "int", 200, 10, L.PHASE_T_MAX),
        Field("nT", "int", 6, L.PHASE_LENGTHS_MIN, L.PHASE_LENGTHS_MAX),
        run_field("hidden_size", 16, L.HIDDEN_MIN, L.PHASE_HIDDEN_MAX),
        run_field("init", "orthogonal"),
        run_field("forget_bias", 1.0, L.FORGET_BIAS_MIN, L.FORGET_BIAS_MAX),
        run_field("seed", 0, L.SEED_MIN, L.SEED_MAX),
    ),
    "runs": (Field("q", "str", ""), Field("who", "choice", "everyone", choices=RUN_OWNERS)),
    "sweeps": (Field("name", "str", ""),),
}


STUDY_PAGES = ("flow", "training")
# Error flow and Training open stored runs by id instead of a study: ``?run=ID[,ID...]`` (ids or unique prefixes)
OPENED_RUNS = "run"
MAX_OPENED_RUNS = 6


def opened_run_ids(query: dict) -> list[str]:
    """The run ids a study page's URL opens (``OPENED_RUNS``), in order and without repeats; [] when it opens none.
    ValueError with a plain reason for more than MAX_OPENED_RUNS of them or one that is not a hex id (prefix)."""
    raw = query.get(OPENED_RUNS, "")
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else ""
    ids = list(dict.fromkeys(s.strip().lower() for s in str(raw).split(",") if s.strip()))
    if len(ids) > MAX_OPENED_RUNS:
        raise ValueError(f"the address opens {len(ids)} runs; a page shows at most {MAX_OPENED_RUNS}")
    bad = [i for i in ids if len(i) > 64 or any(ch not in "0123456789abcdef" for ch in i)]
    if bad:
        raise ValueError(f"'{bad[0][:40]}' is not a run id (hexadecimal digits)")
    return ids


def opened_runs_params(run_ids) -> dict[str, str]:
    """The query dict that opens ``run_ids`` on a study page."""
    return {OPENED_RUNS: ",".join(run_ids)}


def run_fields(page: str) -> dict[str, str]:
    """{URL name: RunConfig field} of the fields of ``page`` that set a RunConfig field."""
    return {f.name: f.run for f in FIELDS[page] if f.run}


def defaults(page: str) -> dict[str, Any]:
    """The default settings of ``page``."""
    return {f.name: (list(f.default) if f.kind == "multi" else f.default) for f in FIELDS[page]}


def parse_params(page: str, query: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Settings of ``page`` from a query dict, and one warning per ignored or replaced parameter.

    Pure (no streamlit): unknown names are ignored, bad values replaced by the default, each with a warning in
    Markdown, where every part the URL supplied is escaped.
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
            warnings.append(f"Ignored unknown URL parameter {escape_markdown(name, code=True, limit=80)}.")
            continue
        if f.kind == "str":
            values[name] = str(raw)[:200]
            continue
        try:
            values[name] = f.parse(str(raw))
        except ValueError as e:
            warnings.append(f"URL parameter `{name}`: {escape_markdown(e)}; using the default {f.format(f.default)}.")
    return values, warnings


def format_params(page: str, values: dict[str, Any]) -> dict[str, str]:
    """The query dict of ``values`` (every field of the page, in declaration order)."""
    out = {}
    for f in FIELDS[page]:
        if f.name in values:
            out[f.name] = str(values[f.name]) if f.kind == "str" else f.format(values[f.name])
    return out


def flow_link(w: float, T: int) -> dict[str, str]:
    """Query parameters opening Error flow on RNN vs LSTM at weight scale w and length T (clamped to range)."""
    values = defaults("flow")
    values[url_name("weight_scale")] = round(min(max(float(w), L.WEIGHT_SCALE_MIN), L.WEIGHT_SCALE_MAX), 2)
    values[url_name("seq_len")] = int(min(max(int(T), L.SEQ_LEN_MIN), L.SEQ_LEN_MAX))
    return format_params("flow", values)


@dataclass(frozen=True)
class Study:
    """Configs of the cells compared under one set of page settings."""

    configs: tuple  # RunConfig per cell, in the page's cell order
    work: int


def record_every(steps: int) -> int:
    """Recording period giving about limits.FLOW_RECORDS snapshots (plus step 0 and the last step)."""
    return max(1, math.ceil(max(steps, 1) / L.FLOW_RECORDS))


def study(values: dict, series: tuple | None = None, series_name: str = "") -> Study:
    """RunConfigs for the page settings ``values`` (fields of FIELDS["flow"]); ValueError if invalid."""
    cells = list(values["cells"])
    if not cells:
        raise ValueError("cells: choose at least one cell to train")
    extra = {}
    if values["task"] == "forecast" and series is not None:
        extra = {"series": tuple(series), "series_name": series_name}
    fields = {field: values[name] for name, field in run_fields("flow").items()}
    configs = tuple(RunConfig(cell=c, **fields, record_every=record_every(fields["steps"]), eval_size=L.EVAL_SIZE,
                              **extra) for c in cells)
    work = L.study_work(configs[0].max_length(), fields["hidden_size"], fields["layers"], fields["steps"],
                        fields["batch_size"], len(cells))
    return Study(configs=configs, work=work)


def inside_study_values(values: dict) -> dict:
    """Study settings (FIELDS["flow"]) of the Inside the LSTM settings ``values``: one one-layer LSTM (the page's
    cell: one of INSIDE_CELLS) with the page's task, length, size, init, gradient and seed, everything else at the
    Error flow page's defaults, so the same settings there train (and cache) the very same run."""
    study_values = defaults("flow")
    fields = {name: values[name] for name in run_fields("inside") if name != "cell"}
    study_values.update(fields, cells=[values.get("cell", "lstm")], layers=1)
    return study_values


def inside_config(values: dict) -> RunConfig:
    """The RunConfig of the network Inside the LSTM trains for ``values`` (its initialisation is the freshly
    initialised network); ValueError if the settings are invalid."""
    return study(inside_study_values(values)).configs[0]
