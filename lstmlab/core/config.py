"""RunConfig: the one frozen description of a training run.

A run is fully determined by its config (plus the code): ``train(config)`` twice gives bit-identical
tables apart from wall-clock columns, and ``config.key`` is a content hash that names the experiment
across processes and machines.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from functools import cached_property
from numbers import Integral, Real
from typing import Any

import numpy as np

# Every choice a run can make, declared once; params, optim, tasks, the CLI flags, the dashboard's URL state and
# the run store take them from here. The order is the order people are offered them in.
# Each cell's gate blocks, side by side in its weight matrices in this order (PyTorch's).
GATES: dict[str, tuple[str, ...]] = {"rnn": ("h",), "lstm": ("i", "f", "n", "o"), "gru": ("r", "z", "n")}
CELLS = tuple(GATES)  # a cell exists where its gates are declared: ("rnn", "lstm", "gru")
TASKS = ("adding", "recall", "copy", "forecast")
# The papers' long-lag tasks (lstmlab.core.paper_tasks) as run tasks: name -> (its class in paper_tasks, {the class's
# parameter: the RunConfig field that sets it}, fixed parameters). A name is <paper>-<task>, at most 16 characters
# (the run store's task column); where a paper has variants of a task, its own experiment label tells them apart.
PAPER_TASKS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "hs97-reber": ("EmbeddedReber", {}, {}),
    "hs97-lag-2a": ("NoiseFreeLongLag", {"p": "seq_len"}, {}),
    "hs97-lag-2b": ("NoLocalRegularities", {"p": "seq_len"}, {}),
    "hs97-lag-2c": ("DistractorLongLag", {"q": "seq_len", "p": "n_symbols"}, {}),
    "hs97-adding": ("HS97Adding", {"T": "seq_len"}, {}),
    "hs97-multiply": ("HS97Multiplication", {"T": "seq_len"}, {}),
    "hs97-order-6a": ("HS97TemporalOrder", {}, {"relevant": 2}),
    "hs97-order-6b": ("HS97TemporalOrder", {}, {"relevant": 3}),
    "gsc00-reber": ("ContinualEmbeddedReber", {"T": "seq_len"}, {}),
    "bsf94-latch": ("BengioLatch", {"T": "seq_len", "L": "latch_steps", "s": "latch_noise"}, {}),
    "pmb13-order": ("PascanuTemporalOrder", {"min_length": "seq_len", "max_length": "seq_len_max"}, {}),
    "pmb13-addition": ("PascanuAddition", {"min_length": "seq_len", "max_length": "seq_len_max"}, {}),
    "asb16-copy": ("ArjovskyCopy", {"T": "seq_len"}, {}),
    "ljh15-adding": ("LeAdding", {"T": "seq_len"}, {}),
}
OPTIMIZERS = ("sgd", "momentum", "adam", "nesterov", "rmsprop")
INITS = ("orthogonal", "gaussian", "identity", "uniform")
# How a run ends besides its budget of ``steps`` updates (RunConfig.stop): "budget" runs them all; "train" stops at the
# first update after which the ``stop_window`` most recent training sequences hold at most ``stop_wrong`` wrong ones
# and (``stop_error`` > 0) their mean error is below ``stop_error`` (HS97's ST3(beta): beta = stop_error, window
# 2,000, none wrong); "eval" stops at the first recording whose held-out batch holds at most ``stop_wrong`` wrong
# sequences and (``stop_error`` > 0) a mean error below ``stop_error``. Criteria read a paper task's success rule.
STOPS = ("budget", "train", "eval")
DTYPES = ("float64", "float32")
MAX_PASS_BYTES = 4 * 2**30  # memory one BPTT pass may take; beyond it a run would thrash or be killed
PASS_ARRAYS = 24  # (T, B, H) arrays a pass keeps per layer, at most (LSTM: states, gates, their gradients, coefficients)
COPY_SYMBOLS = 10  # symbols to memorise in the copy task; its sequences need seq_len >= 2 * COPY_SYMBOLS + 1
MAX_SERIES = 1_000_000

# (lo, hi) inclusive bounds of the integer fields
_INT_RANGES = {
    "seq_len": (1, 5000),
    "hidden_size": (1, 1024),
    "layers": (1, 4),
    "batch_size": (1, 4096),
    "steps": (0, 1_000_000),
    "record_every": (1, 1_000_000),
    "eval_size": (1, 4096),
    "seed": (0, 2**32 - 1),
    "n_symbols": (2, 1000),
    "seq_len_max": (0, 5000),
    "latch_steps": (1, 5000),
    "stop_window": (1, 100_000),
    "stop_wrong": (0, 100_000),
    "test_size": (0, 100_000),
    "log_every": (1, 1_000_000),
}
# (lo, hi, lo_open, hi_open, text) bounds of the float fields; hi None = unbounded (but finite)
_FLOAT_RANGES = {
    "weight_scale": (0.0, 10.0, True, False, "a number in (0, 10]"),
    "forget_bias": (-10.0, 10.0, False, False, "a number in [-10, 10]"),
    "lr": (0.0, 10.0, True, False, "a number in (0, 10]"),
    "momentum": (0.0, 1.0, False, True, "a number in [0, 1)"),
    "clip": (0.0, None, False, False, "a finite number >= 0 (0 = no clipping)"),
    "noise": (0.0, 1e6, False, False, "a number in [0, 1e6]"),  # beyond, the synthetic series' spread overflows
    "latch_noise": (0.0, 1e6, False, False, "a number in [0, 1e6]"),
    "clip_value": (0.0, None, False, False, "a finite number >= 0 (0 = no clipping)"),
    "stop_error": (0.0, None, False, False, "a finite number >= 0 (0 = no error condition)"),
}
CHOICES = {"cell": CELLS, "task": TASKS + tuple(PAPER_TASKS), "optimizer": OPTIMIZERS, "init": INITS, "dtype": DTYPES,
           "stop": STOPS}
# Fields added after runs were first stored: ``key`` leaves each out while it holds its default, so the key of every
# config that could be written before it existed stays what it was (runs in a store keep being found by their key).
# A field added later belongs here too.
KEYED_WHEN_SET = ("seq_len_max", "latch_steps", "latch_noise", "gate_bias", "clip_value", "stop", "stop_window",
                  "stop_wrong", "stop_error", "test_size", "log_every")
MAX_GATE_BIAS_TEXT = 200


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Invalid values raise ``ValueError("field=value: expected ...")``.

    Numbers are normalised on construction (numpy scalars -> int/float, ``series`` -> tuple of floats), so
    equal configs compare, hash and serialise identically.
    """

    cell: str = "lstm"
    task: str = "adding"
    seq_len: int = 100  # total sequence length T fed to the network (copy: includes symbols, delimiter, answer)
    hidden_size: int = 32
    layers: int = 1
    weight_scale: float = 1.0  # multiplies the init; 1.0 with orthogonal Wh = spectral radius 1 at init
    init: str = "orthogonal"
    forget_bias: float = 1.0  # LSTM forget-gate bias (Gers et al. 2000; Jozefowicz et al. 2015): remember by default
    optimizer: str = "adam"
    lr: float = 1e-2  # high for Adam in general, right for these small nets with clipping
    momentum: float = 0.9  # used by "momentum" and "nesterov" only; Adam keeps beta1=0.9, beta2=0.999
    clip: float = 1.0  # global-norm clipping threshold (Pascanu et al. 2013); 0 = off
    batch_size: int = 64
    steps: int = 500  # optimiser updates
    record_every: int = 25  # eval + gradient-flow snapshot period (plus step 0 and the last step)
    eval_size: int = 256  # fixed held-out batch, drawn once from its own RNG stream
    seed: int = 0  # root of every RNG stream (init, data, eval, synthetic series)
    dtype: str = "float64"
    n_symbols: int = 8  # recall: number of classes K (chance accuracy 1/K, baseline loss log K); hs97-lag-2c: p
    noise: float = 0.1  # forecast: std of the gaussian noise added to the synthetic multi-sine series
    series: tuple[float, ...] | None = None  # forecast: user series (None = synthetic)
    series_name: str = ""  # display label of the user series; not used in computation
    # The papers' tasks and training (PAPER_TASKS, STOPS); each default leaves an existing run as it was.
    seq_len_max: int = 0  # pmb13-*: lengths seq_len .. seq_len_max - 1, as the authors' code draws them; 0 = seq_len
    latch_steps: int = 3  # bsf94-latch: L, the first steps whose inputs are learned (one set per class)
    latch_noise: float = 0.2  # bsf94-latch: s, the variance of the gaussian noise after them
    gate_bias: str = ""  # e.g. "i=-3,-6 o=-2,-4": a gate's biases, one value per equal group of its units (init_params)
    clip_value: float = 0.0  # element-wise gradient clipping at +-clip_value (ASB16's code), before ``clip``; 0 = off
    stop: str = "budget"  # "budget", "train" (HS97's ST3) or "eval": see STOPS; ``steps`` stays the budget
    stop_window: int = 2000  # stop="train": the most recent training sequences the criterion reads (HS97: 2,000)
    stop_wrong: int = 0  # stop="train"/"eval": wrong sequences allowed in the window or the held-out batch
    stop_error: float = 0.0  # stop="train"/"eval": their mean error must be below this (HS97's beta); 0 = not checked
    test_size: int = 0  # fresh test sequences scored when the run ends (HS97: 2,560); 0 = no test set
    log_every: int = 1  # one steps row per log_every updates (online runs need not record each one)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (normalising numbers and ``series`` in place), then the cross-field rules."""
        for name in (*_INT_RANGES, *_FLOAT_RANGES, *CHOICES, "gate_bias"):
            object.__setattr__(self, name, check_field(name, getattr(self, name)))
        if not isinstance(self.series_name, str) or len(self.series_name) > 200:
            raise ValueError(f"series_name={self.series_name!r}: expected a string of at most 200 characters")
        object.__setattr__(self, "series", _as_series(self.series))
        if self.task == "copy" and self.seq_len < 2 * COPY_SYMBOLS + 1:
            raise ValueError(
                f"seq_len={self.seq_len}: expected an integer from {2 * COPY_SYMBOLS + 1} to 5000 for task 'copy' "
                f"({COPY_SYMBOLS} symbols, at least one blank/delimiter step, {COPY_SYMBOLS} answer steps)"
            )
        if self.task == "adding" and self.seq_len < 2:
            raise ValueError(f"seq_len={self.seq_len}: expected an integer from 2 to 5000 for task 'adding'")
        self._check_paper_fields()
        if self.task == "forecast" and self.series is not None:
            n = len(self.series)
            if n < self.seq_len + 1:
                raise ValueError(
                    f"series: has {n} values; expected at least seq_len + 1 = {self.seq_len + 1} "
                    f"(one window of seq_len inputs and its next value)"
                )
            if max(self.series) == min(self.series):
                raise ValueError("series: is constant; expected a series with some variation (it is z-scored)")
            problem = zscore_problem(np.asarray(self.series))
            if problem:
                raise ValueError(f"series: {problem}")
        need = self.pass_bytes()
        if need > MAX_PASS_BYTES:
            raise ValueError(
                f"seq_len x max(batch_size, eval_size) x hidden_size x layers = {self.seq_len} x "
                f"{max(self.batch_size, self.eval_size)} x {self.hidden_size} x {self.layers}: a BPTT pass would "
                f"need about {need / 2**30:.1f} GiB; expected at most {MAX_PASS_BYTES / 2**30:.0f} GiB (lower one of them)"
            )

    def _check_paper_fields(self) -> None:
        """The paper tasks' parameters (checked by the task itself, its message naming the RunConfig field), the gate
        biases, and the training choices that need a paper task's success rule or fit only together."""
        for gate, values in parse_gate_bias(self.gate_bias).items():
            if gate not in GATES[self.cell]:
                raise ValueError(f"gate_bias={self.gate_bias!r}: gate {gate!r} is not a gate of cell {self.cell!r}; "
                                 f"expected some of {', '.join(map(repr, GATES[self.cell]))}")
            if len(values) > self.hidden_size:
                raise ValueError(f"gate_bias={self.gate_bias!r}: {len(values)} values for gate {gate!r}; expected at "
                                 f"most hidden_size = {self.hidden_size} (one group of units per value)")
        if self.record_every % self.log_every:
            raise ValueError(f"log_every={self.log_every}: expected a divisor of record_every = {self.record_every} "
                             "(every recording ends a steps row)")
        if self.task in PAPER_TASKS:
            if self.seq_len_max and self.seq_len_max < self.seq_len:
                raise ValueError(f"seq_len_max={self.seq_len_max}: expected 0 (every sequence seq_len long) or an "
                                 f"integer >= seq_len = {self.seq_len}")
            if paper_task(self).rule is None and self.stop != "budget":
                raise ValueError(f"stop={self.stop!r}: expected 'budget' for task {self.task!r}, which has no "
                                 "per-sequence success rule (its papers report the loss only)")
            limit = {"train": ("stop_window", self.stop_window), "eval": ("eval_size", self.eval_size)}.get(self.stop)
            if limit and self.stop_wrong >= limit[1]:
                raise ValueError(f"stop_wrong={self.stop_wrong}: expected fewer than {limit[0]} = {limit[1]} for "
                                 f"stop={self.stop!r} (else the criterion holds from the start)")
        elif self.stop != "budget" or self.test_size:
            field, value = ("stop", self.stop) if self.stop != "budget" else ("test_size", self.test_size)
            raise ValueError(f"{field}={value!r}: expected {'budget' if field == 'stop' else 0!r} for task "
                             f"{self.task!r}; stopping criteria and test sets count sequences wrong by a paper "
                             f"task's success rule (tasks {', '.join(PAPER_TASKS)})")

    def pass_bytes(self) -> int:
        """Upper estimate of the memory one BPTT pass of this run takes (the larger of a training and an eval batch)."""
        itemsize = 8 if self.dtype == "float64" else 4
        B = max(self.batch_size, self.eval_size)
        return PASS_ARRAYS * self.max_length() * B * self.hidden_size * self.layers * itemsize

    def max_length(self) -> int:
        """The longest sequence this run's task gives (or, where lengths are unbounded, one it exceeds with
        probability below 1e-9): ``seq_len`` for the lab's tasks."""
        if self.task not in PAPER_TASKS:
            return self.seq_len
        T = self.seq_len
        return {"hs97-reber": 100, "hs97-lag-2a": T, "hs97-lag-2b": T, "hs97-lag-2c": T + 200 + 3,
                "hs97-adding": T + T // 10, "hs97-multiply": T + T // 10, "hs97-order-6a": 110, "hs97-order-6b": 110,
                "gsc00-reber": T, "bsf94-latch": T, "pmb13-order": max(T, self.seq_len_max),
                "pmb13-addition": max(T, self.seq_len_max) * 11 // 10, "asb16-copy": T + 20,
                "ljh15-adding": T}[self.task]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``series`` as a list or None)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if d["series"] is not None:
            d["series"] = list(d["series"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of ``to_dict``; missing keys take defaults, unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig field(s) {unknown}: expected a subset of {sorted(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    @cached_property
    def key(self) -> str:
        """Stable content hash: first 16 hex chars of sha256 over canonical JSON of ``to_dict()`` without the
        ``KEYED_WHEN_SET`` fields that hold their default."""
        d = self.to_dict()
        for name in KEYED_WHEN_SET:
            if d[name] == _DEFAULTS[name]:
                del d[name]
        text = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def parse_gate_bias(text: str) -> dict[str, tuple[float, ...]]:
    """``RunConfig.gate_bias`` as {gate: values}: "i=-3,-6 o=-2" -> {"i": (-3.0, -6.0), "o": (-2.0,)}; "" -> {}.
    Gates are separated by blanks or ";", values by ","; ValueError naming the field on anything else."""
    out: dict[str, tuple[float, ...]] = {}
    for part in text.replace(";", " ").split():
        gate, eq, values = part.partition("=")
        try:
            numbers = tuple(float(v) for v in values.split(",")) if eq and gate else ()
        except ValueError:
            numbers = ()
        if not numbers or not all(math.isfinite(v) and abs(v) <= 100 for v in numbers):
            raise ValueError(f"gate_bias={text!r}: cannot read {part!r}; expected gate=value[,value...] with finite "
                             "values in [-100, 100], e.g. 'i=-3,-6 o=-2,-4'")
        if gate in out:
            raise ValueError(f"gate_bias={text!r}: gate {gate!r} given twice; expected each gate at most once")
        out[gate] = numbers
    return out


def paper_task(config: RunConfig):
    """The ``lstmlab.core.paper_tasks`` task a config names (``PAPER_TASKS``), or ValueError naming the RunConfig
    field whose value the task refuses."""
    from lstmlab.core import paper_tasks

    name, fields, fixed = PAPER_TASKS[config.task]
    kwargs = {param: getattr(config, field) for param, field in fields.items()}
    if kwargs.get("max_length") == 0:
        kwargs["max_length"] = None
    try:
        return getattr(paper_tasks, name)(**kwargs, **fixed, dtype=config.dtype)
    except ValueError as e:
        text = str(e)
        for param, field in fields.items():
            if text.startswith(f"{param}="):
                rest = text[len(param):]
                for other, other_field in fields.items():
                    rest = rest.replace(f" {other} = ", f" {other_field} = ")
                raise ValueError(f"{field}{rest}, as the paper's {param} of task {config.task!r}") from None
        raise ValueError(f"task={config.task!r}: {text}") from None


def seconds_from_environment(variable: str, default: float) -> float:
    """A duration from the environment variable ``variable`` (seconds), ``default`` when unset; ValueError naming
    the variable when it is not a number of seconds > 0."""
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{variable}={text!r}: expected a number of seconds > 0")
    return value


def check_field(name: str, value: Any) -> Any:
    """``value`` normalised as RunConfig field ``name`` holds it (an int, float or choice), or
    ``ValueError("name=value: expected ...")``; the rules that tie several fields together are validate()'s."""
    if name in _INT_RANGES:
        return _as_int(name, value, *_INT_RANGES[name])
    if name in _FLOAT_RANGES:
        return _as_float(name, value, *_FLOAT_RANGES[name])
    if name in CHOICES:
        _check_choice(name, value, CHOICES[name])
        return value
    if name == "gate_bias":
        if not isinstance(value, str) or len(value) > MAX_GATE_BIAS_TEXT:
            raise ValueError(f"gate_bias={_short(value)}: expected a string of at most {MAX_GATE_BIAS_TEXT} "
                             "characters such as 'i=-3,-6 o=-2,-4'")
        parse_gate_bias(value)
        return value
    raise ValueError(f"{name!r}: expected one of the fields {[*_INT_RANGES, *_FLOAT_RANGES, *CHOICES, 'gate_bias']}")


def _as_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r}: expected an integer from {lo} to {hi}")
    return int(value)


def _as_float(name: str, value: Any, lo: float, hi: float | None, lo_open: bool, hi_open: bool, text: str) -> float:
    ok = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        ok = False
    if ok:
        ok = (value > lo if lo_open else value >= lo) and (
            hi is None or (value < hi if hi_open else value <= hi)
        )
    if not ok:
        raise ValueError(f"{name}={_short(value)}: expected {text}")
    return float(value)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(repr(c) for c in choices)}")


def _as_series(series: Any) -> tuple[float, ...] | None:
    if series is None:
        return None
    try:
        n = None if isinstance(series, (str, bytes, dict)) else len(series)
    except TypeError:  # no length, or a 0-d array, whose len() raises
        n = None
    if n is None:
        raise ValueError(f"series={_short(series)}: expected None or a sequence of finite numbers")
    if n > MAX_SERIES:
        raise ValueError(f"series: has {len(series)} values; expected at most {MAX_SERIES}")
    try:
        arr = np.asarray(series)
    except (ValueError, TypeError) as e:
        raise ValueError(f"series={_short(series)}: expected a flat sequence of finite numbers ({e})") from None
    if arr.ndim != 1 or arr.dtype.kind not in "iuf":
        raise ValueError(f"series={_short(series)}: expected a flat sequence of finite numbers")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"series[{bad[0]}]={float(arr[bad[0]])!r}: expected finite numbers only")
    return tuple(arr.tolist())


def zscore_problem(values: np.ndarray) -> str:
    """Why the forecast task cannot z-score ``values`` (s - mean) / std in float64, or "" if it can.

    The mean and the spread overflow when values approach 1e308; the spread underflows to 0 when the values
    differ by less than about 1e-154 (their squares do), as for a denormal series.
    """
    with np.errstate(all="ignore"):
        v = np.asarray(values, dtype=np.float64)
        mean, std = v.mean(), v.std()
        ok = np.isfinite(mean) and np.isfinite(std) and std > 0 and np.isfinite((v - mean) / std).all()
    if ok:
        return ""
    return (f"cannot be z-scored in float64 (mean {mean:.3g}, standard deviation {std:.3g}); expected values that "
            "differ by more than about 1e-150 and stay below about 1e300 in magnitude (rescale the series)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
