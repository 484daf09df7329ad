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
# Each cell's gate blocks, side by side in its weight matrices in this order (PyTorch's where PyTorch has the cell):
#   rnn           h_t = tanh(a_t)                   a_t = x_t Wx + b + h_{t-1} Wh  (Elman)
#   lstm          input, forget, candidate, output  (with the forget gate of Gers et al. 2000)
#   gru           reset, update, candidate          (Cho et al. 2014, PyTorch's formulation)
#   rnn_relu      h_t = max(a_t, 0)                 (with init "irnn": the IRNN of Le, Jaitly & Hinton 2015)
#   rnn_logistic  h_t = sigma(a_t)                  (the logistic units of Hochreiter & Schmidhuber 1997, of
#                                                    Pascanu et al. 2013's "sigmoid" RNN)
#   lstm97        input, cell input, output         (Hochreiter & Schmidhuber 1997: no forget gate, s_t = s_{t-1} +
#                                                    i_t g(a_n), h_t = o_t h(s_t), g = 4 sigma - 2, h = 2 sigma - 1)
# The equations, one line each, are the reference engine's step functions (lstmlab.engines.reference).
GATES: dict[str, tuple[str, ...]] = {"rnn": ("h",), "lstm": ("i", "f", "n", "o"), "gru": ("r", "z", "n"),
                                     "rnn_relu": ("h",), "rnn_logistic": ("h",), "lstm97": ("i", "n", "o")}
CELLS = tuple(GATES)  # a cell exists where its gates are declared
MEMORY_CELLS = ("lstm", "lstm97")  # the cells with a cell state c_t beside h_t (HS97's s_t)
# How the error flows back in time (ModelSpec.gradient, RunConfig.gradient):
#   full       backpropagation through time through every path;
#   truncated  h_{t-1} enters the product h_{t-1} Wh as a constant: the error reaching a gate's pre-activation is
#              not sent further back through Wh (the weight gradients still use it), so it reaches earlier steps
#              only along the cell's own state (the LSTMs' c_t; the GRU's z_t h_{t-1}; a plain RNN: not at all).
#              A stacked layer still passes its error to the layer below at the same step (through Wx).
#              For lstm97 this is HS97's truncated gradient (section 4): error flows back only through the CEC.
GRADIENTS = ("full", "truncated")
# gamma = max |f'| of the plain RNNs' activations: their error shrinks by at most gamma * sigma_max(Wh) per step
# back (Pascanu et al. 2013: 1 for tanh, 1/4 for the logistic sigmoid; 1 for the ReLU)
RNN_GAMMA = {"rnn": 1.0, "rnn_relu": 1.0, "rnn_logistic": 0.25}
TASKS = ("adding", "recall", "copy", "forecast")
OPTIMIZERS = ("sgd", "momentum", "adam", "nesterov")
INITS = ("orthogonal", "gaussian", "identity", "irnn")
DTYPES = ("float64", "float32")
# The code that runs BPTT passes (lstmlab.engines), the first the default. Chosen per process by the environment
# variable ENGINE_VARIABLE, not per run: engines agree to rounding, and the run store records which one trained a run.
ENGINES = ("compiled", "reference")
ENGINE_VARIABLE = "LSTMLAB_ENGINE"
# Threads one pass may use (the compiled engine runs its batch's shards side by side; results do not depend on it).
# Per process, set by its entry point from THREADS_VARIABLE, else 1, else POOL_THREADS in a local pool's workers
# (which run at POOL_WORKER_NICE: a job takes a second core while one is free, and two jobs per core share them
# at no measured loss); `lstmlab run --threads N` sets it for one run.
THREADS_VARIABLE = "LSTMLAB_THREADS"
POOL_THREADS = 2

# Life of a run in the store. A job's run is queued, then running, then ends finished, diverged, stopped or failed;
# "lost" is never written: it is a running run whose heartbeat is older than LOST_AFTER_S (its worker died).
STATUSES = ("queued", "running", "finished", "diverged", "stopped", "failed", "lost")
ACTIVE_STATUSES = ("queued", "running")
RESUBMITTABLE_STATUSES = ("lost", "stopped", "failed")
POOL_WORKER_NICE = 10  # niceness a local pool worker adds to itself: the server owning the pool comes first
HEARTBEAT_S = 1.0  # a running job writes its heartbeat (and reads its stop request) this often
LOST_AFTER_S = 30.0  # silence after which a running job counts as lost: many beats, longer than any store stall
LOST_AFTER_ENV = "LSTMLAB_LOST_AFTER_S"  # overrides LOST_AFTER_S for every store this process opens
# How long a job rides out an unreachable store (retrying its writes, training paused at its next record) before it
# ends "failed" with the store's error. Below LOST_AFTER_S, so a job that rode one out beats before it reads as lost.
OUTAGE_S = 20.0
OUTAGE_ENV = "LSTMLAB_OUTAGE_S"  # overrides OUTAGE_S for the jobs (and the waits) of this process
SCHEDULER_ENV = "LSTMLAB_SCHEDULER"  # Dask scheduler address (tcp://host:8786); unset = the local process pool
SCHEDULER_TIMEOUT_S = 10.0  # how long connecting to a Dask scheduler may take before it counts as unreachable
SCHEDULER_TAKE_S = 120.0  # how long a submission waits for the scheduler to take its task (the first imports lstmlab)
MAX_SWEEP_RUNS = 2000  # configs x seeds one sweep may hold

# Short names of RunConfig fields in the dashboard's URLs (``?T=100&ws=0.9``); other fields keep their own name.
URL_NAMES = {"seq_len": "T", "hidden_size": "H", "weight_scale": "ws", "forget_bias": "fb", "optimizer": "opt",
             "batch_size": "batch"}

MAX_PASS_BYTES = 4 * 2**30  # memory one BPTT pass may take; beyond it a run would thrash or be killed
PASS_ARRAYS = 24  # (T, B, H) arrays a pass keeps per layer, at most (LSTM: states, gates, their gradients, coefficients)
COPY_SYMBOLS = 10  # symbols to memorise in the copy task; its sequences need seq_len >= 2 * COPY_SYMBOLS + 1
MAX_SERIES = 1_000_000

# Reading a run's error flow (lstmlab.analysis.recovery, the Error flow reading, a sweep's verdicts).
# The first-step ratio ||dL/dh_1|| / ||dL/dh_T|| has collapsed once its minimum lies COLLAPSE_DECADES below its value
# at initialisation, and has recovered once it climbs back to RECOVERED_RATIO or more: at least 1 % of the error at
# the last step reaches the first (the LSTM that learned the adding problem at T = 100 sits at 0.04-0.2, the RNN's
# ratio wanders between 1e-60 and 1e-5; a threshold relative to the start would count the RNN's wandering when it
# starts low, as at weight scale 0.9). A held-out loss below LEFT_BASELINE x the task's baseline has left the
# baseline (on the adding problem at T = 100 this happens within a recording of the recovery:
# bench/default_study.py); below SOLVED_FRACTION x the baseline the task counts as solved.
COLLAPSE_DECADES = 2.0
RECOVERED_RATIO = 1e-2
LEFT_BASELINE = 0.5
SOLVED_FRACTION = 0.1

# RunConfig fields added after configs were first stored, each with the value every earlier config meant: a config
# holding it hashes without the field, so its key, and the stored runs the key finds, stay what they were.
KEY_DEFAULTS = {"gradient": "full"}

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
    "n_symbols": (2, 256),
}
# (lo, hi, lo_open, hi_open, text) bounds of the float fields; hi None = unbounded (but finite)
_FLOAT_RANGES = {
    "weight_scale": (0.0, 10.0, True, False, "a number in (0, 10]"),
    "forget_bias": (-10.0, 10.0, False, False, "a number in [-10, 10]"),
    "lr": (0.0, 10.0, True, False, "a number in (0, 10]"),
    "momentum": (0.0, 1.0, False, True, "a number in [0, 1)"),
    "clip": (0.0, None, False, False, "a finite number >= 0 (0 = no clipping)"),
    "noise": (0.0, 1e6, False, False, "a number in [0, 1e6]"),  # beyond, the synthetic series' spread overflows
}
CHOICES = {"cell": CELLS, "task": TASKS, "optimizer": OPTIMIZERS, "init": INITS, "dtype": DTYPES,
           "gradient": GRADIENTS}


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
    gradient: str = "full"  # "full" BPTT or "truncated" (HS97's: back in time only along the cell state; GRADIENTS)
    batch_size: int = 64
    steps: int = 500  # optimiser updates
    record_every: int = 25  # eval + gradient-flow snapshot period (plus step 0 and the last step)
    eval_size: int = 256  # fixed held-out batch, drawn once from its own RNG stream
    seed: int = 0  # root of every RNG stream (init, data, eval, synthetic series)
    dtype: str = "float64"
    n_symbols: int = 8  # recall: number of classes K (chance accuracy 1/K, baseline loss log K)
    noise: float = 0.1  # forecast: std of the gaussian noise added to the synthetic multi-sine series
    series: tuple[float, ...] | None = None  # forecast: user series (None = synthetic)
    series_name: str = ""  # display label of the user series; not used in computation

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (normalising numbers and ``series`` in place), then the cross-field rules."""
        for name in (*_INT_RANGES, *_FLOAT_RANGES, *CHOICES):
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

    def pass_bytes(self) -> int:
        """Upper estimate of the memory one BPTT pass of this run takes (the larger of a training and an eval batch)."""
        itemsize = 8 if self.dtype == "float64" else 4
        B = max(self.batch_size, self.eval_size)
        return PASS_ARRAYS * self.seq_len * B * self.hidden_size * self.layers * itemsize

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
        """Stable content hash: first 16 hex chars of sha256 over canonical JSON of ``to_dict()``, without the
        fields of KEY_DEFAULTS that hold their default (so a config keeps the key it had before they existed)."""
        d = {k: v for k, v in self.to_dict().items() if k not in KEY_DEFAULTS or v != KEY_DEFAULTS[k]}
        text = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
    raise ValueError(f"{name!r}: expected one of the fields {[*_INT_RANGES, *_FLOAT_RANGES, *CHOICES]}")


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
