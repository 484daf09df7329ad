"""RunConfig: the one frozen description of a training run.

A run is fully determined by its config (plus the code): ``train(config)`` twice gives bit-identical
tables apart from wall-clock columns, and ``config.key`` is a content hash that names the experiment
across processes and machines.

Every field is declared once, in RunConfig's body, with ``declare(default, kind, ...)``: its kind ("int",
"float", "choice", "series" or "text"), its bounds (``ge``/``gt`` and ``le``/``lt``: closed or open ends; an
int has closed ends) or choices, its URL name on the dashboard, a short label and one sentence of help. The
declarations are ``FIELD_INFO[name]`` (a ``FieldInfo``), and everything that checks, parses or describes a field
takes it from there: RunConfig's own check (``check_field``), ModelSpec's fields of the same quantity, the
command line's flag (type, help, bounds), ``ls`` filters and sweep axes, and the dashboard's URL fields and their
help (lstmlab.views.settings; its sliders' narrower ranges are lstmlab.views.limits', inside these bounds).

Adding a field: one line in RunConfig's body, e.g.::

    delay: int = declare(0, "int", ge=0, le=1000, label="Delay", help="Blank steps between cue and answer.")

with a comment on a non-obvious default. It then has a flag (``--delay``) with that help and type, is a sweep
axis, is checked with ``delay=...: expected an integer from 0 to 1000``, and enters ``to_dict()`` and so ``key``.
A dashboard page that offers it adds ``settings.run_field("delay", default, lo, hi)`` to its fields, ``lo`` … ``hi``
its interactive range in lstmlab.views.limits (``url="d"`` in the declaration gives it a short URL name). Rules
tying several fields together go in ``validate()``.
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
#   lstm97fc      input, cell input, output         (lstm97 in HS97's fully connected hidden layer: the gates and cell
#                                                    inputs read every hidden unit's output of the step before, the
#                                                    gates' too: u_{t-1} = [h_{t-1}, i_{t-1}, o_{t-1}])
#   lstm97ig      input, cell input                 (the memory cell of HS97's Experiment 2 nets: input gate only,
#                                                    s_t = s_{t-1} + i_t g(a_n), g = 2 sigma - 1, h_t = s_t)
# The equations, one line each, are the reference engine's step functions (lstmlab.core.engines.reference).
GATES: dict[str, tuple[str, ...]] = {"rnn": ("h",), "lstm": ("i", "f", "n", "o"), "gru": ("r", "z", "n"),
                                     "rnn_relu": ("h",), "rnn_logistic": ("h",), "lstm97": ("i", "n", "o"),
                                     "lstm97fc": ("i", "n", "o"), "lstm97ig": ("i", "n")}
CELLS = tuple(GATES)  # a cell exists where its gates are declared
MEMORY_CELLS = ("lstm", "lstm97", "lstm97fc", "lstm97ig")  # the cells with a cell state c_t beside h_t (HS97's s_t)
CAROUSEL_CELLS = ("lstm97", "lstm97fc", "lstm97ig")  # HS97's cells: s_t = s_{t-1} + i_t g(a_n), the carousel exactly 1
# The cells whose recurrent input is more than h_{t-1}: the width of that input in units of H (Wh has 3H rows)
SOURCE_BLOCKS = {"lstm97fc": 3}
# How the error flows back in time (ModelSpec.gradient, RunConfig.gradient):
#   full       backpropagation through time through every path;
#   truncated  h_{t-1} enters the product h_{t-1} Wh as a constant: the error reaching a gate's pre-activation is
#              not sent further back through Wh (the weight gradients still use it), so it reaches earlier steps
#              only along the cell's own state (the LSTMs' c_t; the GRU's z_t h_{t-1}; a plain RNN: not at all).
#              A stacked layer still passes its error to the layer below at the same step (through Wx).
#              For lstm97 and lstm97fc this is HS97's truncated gradient (section 4): error flows back only through
#              the CEC.
GRADIENTS = ("full", "truncated")
# gamma = max |f'| of the plain RNNs' activations: their error shrinks by at most gamma * sigma_max(Wh) per step
# back (Pascanu et al. 2013: 1 for tanh, 1/4 for the logistic sigmoid; 1 for the ReLU)
RNN_GAMMA = {"rnn": 1.0, "rnn_relu": 1.0, "rnn_logistic": 0.25}
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
INITS = ("orthogonal", "gaussian", "identity", "irnn", "uniform")
# Whether the biases train (RunConfig.biases): "trained" (every layer's and the head's), or "none": every bias, the
# forget gate's and the head's included, is zero and stays zero (HS97's nets of Experiment 2 have no biases).
BIASES = ("trained", "none")
# Whether each layer reads its own state of the step before (RunConfig.recurrent): "trained", or "none": every layer's
# recurrent weights Wh are zero and stay zero, so a layer reads only the layer below (HS97's net of Task 2a, whose
# memory cell is fed by the inputs alone; a carousel cell still carries its state).
RECURRENT = ("trained", "none")
# Whether the head reads the network's input beside the top layer's state (RunConfig.direct): "no", or "yes":
# y_t = h_t W + x_t Wx + b, the input-to-output weights of HS97's nets of Experiment 2a, whose layers each connect to
# all layers below.
DIRECT = ("no", "yes")
# How a run ends besides its budget of ``steps`` updates (RunConfig.stop): "budget" runs them all; "train" stops at the
# first update after which the ``stop_window`` most recent training sequences hold at most ``stop_wrong`` wrong ones
# and (``stop_error`` > 0) their mean error is below ``stop_error`` (HS97's ST3(beta): beta = stop_error, window
# 2,000, none wrong); "eval" stops at the first recording whose held-out batch holds at most ``stop_wrong`` wrong
# sequences and (``stop_error`` > 0) a mean error below ``stop_error``. Criteria read a paper task's success rule.
STOPS = ("budget", "train", "eval")
DTYPES = ("float64", "float32")
# RunConfig fields added after configs were first stored, each with the value every earlier config meant: a config
# holding it hashes without the field, so its key, and the stored runs the key finds, stay what they were.
KEY_DEFAULTS = {"gradient": "full", "seq_len_max": 0, "latch_steps": 3, "latch_noise": 0.2, "gate_bias": "",
                "clip_value": 0.0, "stop": "budget", "stop_window": 2000, "stop_wrong": 0, "stop_error": 0.0,
                "test_size": 0, "log_every": 1, "source": "", "biases": "trained", "direct": "no", "join_after": 0,
                "recurrent": "trained"}
# Fields set by a recorder of runs trained outside the lab (lstmlab.torch), never by a lab run's flags or sweeps
RECORDER_FIELDS = ("source",)
MAX_PASS_BYTES = 4 * 2**30  # memory one BPTT pass may take; beyond it a run would thrash or be killed
PASS_ARRAYS = 24  # (T, B, H) arrays a pass keeps per layer, at most (LSTM: states, gates, their gradients, coefficients)
COPY_SYMBOLS = 10  # symbols to memorise in the copy task; its sequences need seq_len >= 2 * COPY_SYMBOLS + 1
MAX_SERIES = 1_000_000

KINDS = ("int", "float", "choice", "series", "text")


@dataclass(frozen=True)
class FieldInfo:
    """The declaration of one field: what it accepts and how it is named and explained.

    Bounds: ``lo`` and ``hi`` (None = unbounded, but finite), each end closed unless ``lo_open``/``hi_open``; an
    "int" has closed ends, a "text" field's ``hi`` is its length in characters. ``note`` follows what is expected
    in an error ("0 = no clipping"); ``url`` is the dashboard's URL name ("" = the field's name).
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    url: str = ""
    label: str = ""
    help: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}: expected one of {', '.join(map(repr, KINDS))}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"choices={self.choices!r}: expected choices exactly for kind 'choice'")
        if self.kind in ("int", "text") and (self.lo_open or self.hi_open or not all(
                b is None or isinstance(b, int) for b in (self.lo, self.hi))):
            raise ValueError(f"kind={self.kind!r}: expected closed integer bounds (ge, le)")

    def contains(self, value: float) -> bool:
        """Whether the number ``value`` lies within the bounds (the kind aside)."""
        lo_ok = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        return lo_ok and (self.hi is None or (value < self.hi if self.hi_open else value <= self.hi))

    def expected(self) -> str:
        """What the field accepts, as an error message says it after "expected" ("an integer from 1 to 5000")."""
        if self.kind == "int":
            text = f"an integer from {self.lo} to {self.hi}"
        elif self.kind == "float":
            if self.lo is not None and self.hi is not None:
                text = (f"a number in {'(' if self.lo_open else '['}{_number_text(self.lo)}, "
                        f"{_number_text(self.hi)}{')' if self.hi_open else ']'}")
            else:
                ends = [f"{'>' if self.lo_open else '>='} {_number_text(self.lo)}" if self.lo is not None else "",
                        f"{'<' if self.hi_open else '<='} {_number_text(self.hi)}" if self.hi is not None else ""]
                text = " ".join(["a finite number", *filter(None, ends)])
        elif self.kind == "choice":
            text = f"one of {', '.join(repr(c) for c in self.choices)}"
        elif self.kind == "series":
            text = "None or a sequence of finite numbers"
        else:
            text = f"a string of at most {self.hi} characters"
        return f"{text} ({self.note})" if self.note else text

    def check(self, name: str, value: Any) -> Any:
        """``value`` normalised as field ``name`` holds it (an int, float, choice, tuple of floats or string), or
        ``ValueError("name=value: expected ...")``."""
        if self.kind == "series":
            return _as_series(value)
        if self.kind == "int":
            ok = (type(value) is int or isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))) \
                and self.contains(value)
        elif self.kind == "float":
            ok = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
            try:
                ok = ok and math.isfinite(value) and self.contains(value)
            except OverflowError:  # an integer beyond the float range
                ok = False
        elif self.kind == "choice":
            ok = isinstance(value, str) and value in self.choices
        else:
            ok = isinstance(value, str) and (self.hi is None or len(value) <= self.hi)
        if not ok:
            raise ValueError(f"{name}={_short(value)}: expected {self.expected()}")
        return int(value) if self.kind == "int" else float(value) if self.kind == "float" else value


def declare(default: Any, kind: str, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, choices: tuple[str, ...] = (), url: str = "", label: str = "", help: str = "",
            note: str = "") -> Any:
    """A RunConfig field with default ``default`` and its declaration (``FieldInfo``): ``ge``/``gt`` its lower end,
    closed or open, ``le``/``lt`` its upper end; the rest as in ``FieldInfo``."""
    if ge is not None and gt is not None or le is not None and lt is not None:
        raise ValueError("expected at most one lower end (ge or gt) and one upper end (le or lt)")
    info = FieldInfo(kind, lo=gt if ge is None else ge, hi=lt if le is None else le, lo_open=gt is not None,
                     hi_open=lt is not None, choices=tuple(choices), url=url, label=label, help=help, note=note)
    return dataclasses.field(default=default, metadata={"info": info})

MAX_GATE_BIAS_TEXT = 200


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Invalid values raise ``ValueError("field=value: expected ...")``.

    Numbers are normalised on construction (numpy scalars -> int/float, ``series`` -> tuple of floats), so
    equal configs compare, hash and serialise identically.
    """

    cell: str = declare("lstm", "choice", choices=CELLS, label="Cell",
                        help="Recurrent cell: rnn (tanh Elman), lstm or gru.")
    task: str = declare("adding", "choice", choices=TASKS + tuple(PAPER_TASKS), label="Task",
                        help="Adding: sum the two marked numbers of a long sequence (Hochreiter & Schmidhuber 1997). "
                             "Recall: name the symbol seen at the first step. "
                             f"Copy: repeat {COPY_SYMBOLS} symbols after a delay. "
                             "Forecast: predict the next value of a series (synthetic, or one given). "
                             "The papers' tasks follow, each generated as its paper does; T sets its length parameter.")
    # total sequence length T fed to the network (copy: includes symbols, delimiter, answer)
    seq_len: int = declare(100, "int", ge=1, le=5000, url="T", label="Sequence length T",
                           help="Time steps per sequence: the longest distance the error has to travel back.")
    hidden_size: int = declare(32, "int", ge=1, le=1024, url="H", label="Hidden size", help="Units per layer.")
    layers: int = declare(1, "int", ge=1, le=4, label="Layers",
                          help="Recurrent layers stacked; layer k > 0 reads the hidden states of layer k - 1.")
    # 1.0 with orthogonal Wh = spectral radius 1 at init
    weight_scale: float = declare(1.0, "float", gt=0.0, le=10.0, url="ws", label="Weight scale",
                                  help="Multiplies the recurrent weights at init; with orthogonal or identity init it "
                                       "is σ_max of every gate block of W_h (gaussian: about the spectral radius).")
    init: str = declare("orthogonal", "choice", choices=INITS, label="Init of W_h",
                        help="orthogonal: every singular value = weight scale; gaussian: N(0, w²/H); "
                             "identity: w·I; irnn: w·I with input and output weights ~ N(0, 0.001²) "
                             "(the IRNN of Le et al. 2015 with the ReLU RNN); uniform: every weight and bias in [-w, w] "
                             "(the papers' ranges).")
    # LSTM forget-gate bias (Gers et al. 2000; Jozefowicz et al. 2015): remember by default
    forget_bias: float = declare(1.0, "float", ge=-10.0, le=10.0, url="fb", label="Forget bias (LSTM)",
                                 help="Initial bias of the forget gate; 1 keeps the carousel open.")
    optimizer: str = declare("adam", "choice", choices=OPTIMIZERS, url="opt", label="Optimiser",
                             help="Update rule: sgd, momentum (heavy ball), adam, nesterov or rmsprop.")
    # The default is high for Adam in general, right for these small nets with clipping. The bound admits HS97's
    # rates on the lab's mean loss: HS97's lr 1.0 on its sum of p (p + 1) squared errors is 5,050 at p = 100.
    lr: float = declare(1e-2, "float", gt=0.0, le=10_000.0, label="Learning rate", help="Step size of the optimiser.")
    # used by "momentum" and "nesterov" only; Adam keeps beta1=0.9, beta2=0.999
    momentum: float = declare(0.9, "float", ge=0.0, lt=1.0, label="Momentum",
                              help="Momentum coefficient of the momentum and nesterov optimisers.")
    clip: float = declare(1.0, "float", ge=0.0, note="0 = no clipping", label="Clip norm (0 = off)",
                          help="Global gradient-norm clipping threshold (Pascanu et al. 2013).")
    gradient: str = declare("full", "choice", choices=GRADIENTS, label="Gradient",
                            help="Full: backpropagation through time along every path. Truncated: the error reaching "
                                 "a gate is not sent back through W_h (Hochreiter & Schmidhuber 1997), so it crosses "
                                 "time steps only along the cell state (LSTMs), the GRU's z·h path, or not at all "
                                 "(plain RNNs); it still reaches the layer below.")
    batch_size: int = declare(64, "int", ge=1, le=4096, url="batch", label="Batch size",
                              help="Sequences per update.")
    steps: int = declare(500, "int", ge=0, le=1_000_000, label="Training steps",
                         help="Optimiser updates; 0 keeps the network at its initialisation.")
    record_every: int = declare(25, "int", ge=1, le=1_000_000, label="Record every",
                                help="Steps between recordings of the held-out loss and the error flow (step 0 "
                                     "and the last step are recorded too).")
    # a fixed held-out batch, drawn once from its own RNG stream
    eval_size: int = declare(256, "int", ge=1, le=4096, label="Held-out batch",
                             help="Sequences in the fixed held-out batch the error flow is measured on.")
    seed: int = declare(0, "int", ge=0, le=2**32 - 1, label="Seed",
                        help="Root of every random stream: initialisation, training data, held-out batch, "
                             "synthetic series.")
    dtype: str = declare("float64", "choice", choices=DTYPES, label="Precision",
                         help="float64 (gradient studies need its range) or float32.")
    n_symbols: int = declare(8, "int", ge=2, le=1000, label="Symbols",
                             help="Recall: number of classes K (chance accuracy 1/K, baseline loss log K); "
                                  "hs97-lag-2c: its p.")
    # beyond 1e6 the synthetic series' spread overflows
    noise: float = declare(0.1, "float", ge=0.0, le=1e6, label="Noise",
                           help="Forecast: standard deviation of the gaussian noise added to the synthetic "
                                "multi-sine series.")
    series: tuple[float, ...] | None = declare(None, "series", label="Series",
                                               help="Forecast: the series to learn (None = the synthetic series).")
    series_name: str = declare("", "text", le=200, label="Series name",
                               help="Display label of the series; not used in computation.")
    # The papers' tasks and training (PAPER_TASKS, STOPS); each default leaves an existing run as it was.
    seq_len_max: int = declare(0, "int", ge=0, le=5000, label="Longest length",
                               help="pmb13-*: lengths seq_len .. seq_len_max - 1, as the authors' code draws them; "
                                    "0 = seq_len.")
    latch_steps: int = declare(3, "int", ge=1, le=5000, label="Latch steps L",
                               help="bsf94-latch: L, the first steps whose inputs are learned (one set per class).")
    latch_noise: float = declare(0.2, "float", ge=0.0, le=1e6, label="Latch noise s",
                                 help="bsf94-latch: s, the variance of the gaussian noise after them.")
    gate_bias: str = declare("", "text", le=MAX_GATE_BIAS_TEXT, note="such as 'i=-3,-6 o=-2,-4'", label="Gate biases",
                             help="A gate's initial biases, one value per equal group of its units, e.g. "
                                  "'i=-3,-6 o=-2' (HS97's memory blocks); overrides the forget bias for f.")
    biases: str = declare("trained", "choice", choices=BIASES, label="Biases",
                          help="trained: every unit has a bias and learns it; none: every bias (the forget gate's and "
                               "the head's too) is zero and stays zero, as in HS97's nets of Experiment 2.")
    recurrent: str = declare("trained", "choice", choices=RECURRENT, label="Recurrent weights",
                             help="trained: each layer reads its own state of the step before through W_h; none: "
                                  "W_h is zero and stays zero, so a layer reads only its input (HS97's net of Task "
                                  "2a, whose memory cell is fed by the inputs alone; its cell state still carries "
                                  "the past).")
    direct: str = declare("no", "choice", choices=DIRECT, label="Input-to-output weights",
                          help="yes: the output layer reads each step's input beside the top layer's state "
                               "(y = h W + x Wx + b), as in HS97's nets of Experiment 2a; no: the state only.")
    join_after: int = declare(0, "int", ge=0, le=10_000_000, note="0 = from the start",
                              label="Hidden layer joins after",
                              help="The head reads the recurrent layer only after this many updates: until then its "
                                   "weights from the layer are held at zero (no error reaches the layer, which stays "
                                   "as drawn), then they start from their drawn values. HS97's nets of Experiment 2 "
                                   "add the memory cell once the error stops decreasing.")
    clip_value: float = declare(0.0, "float", ge=0.0, note="0 = no clipping", label="Clip value (0 = off)",
                                help="Element-wise gradient clipping at ±clip_value (Arjovsky et al.'s code), "
                                     "before the norm clipping.")
    stop: str = declare("budget", "choice", choices=STOPS, label="Stop",
                        help="budget: train every step; train: stop once the last stop_window training sequences "
                             "meet the criterion (HS97's ST3); eval: once the held-out batch does. steps stays the "
                             "budget.")
    stop_window: int = declare(2000, "int", ge=1, le=100_000, label="Stop window",
                               help="stop=train: the most recent training sequences the criterion reads (HS97: 2,000).")
    stop_wrong: int = declare(0, "int", ge=0, le=100_000, label="Wrong allowed",
                              help="stop=train/eval: wrong sequences allowed in the window or the held-out batch.")
    stop_error: float = declare(0.0, "float", ge=0.0, note="0 = no error condition", label="Stop error",
                                help="stop=train/eval: their mean error must be below this (HS97's beta); 0 = not "
                                     "checked.")
    test_size: int = declare(0, "int", ge=0, le=100_000, label="Test set",
                             help="Fresh test sequences scored when the run ends (HS97: 2,560); 0 = no test set.")
    log_every: int = declare(1, "int", ge=1, le=1_000_000, label="Log every",
                             help="One steps row per log_every updates (online runs need not record each one).")
    # A run the lab did not train has task "": cell, hidden_size, layers and dtype describe its module, seq_len and
    # batch_size its first recorded batch, record_every how often it was recorded, steps the steps its recorder was
    # told to expect (0: unknown); the lab's training fields keep their defaults and mean nothing for it.
    source: str = declare("", "text", le=500, label="Source",
                          help="Where a run the lab did not train was recorded (lstmlab.torch: \"PyTorch 2.13.0: "
                               "torch.nn.LSTM(...)\"); empty for the lab's own runs.")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (normalising numbers and ``series`` in place), then the cross-field rules."""
        recorded = check_field("source", self.source) != ""
        for name in FIELD_INFO:
            if not (recorded and name == "task"):
                object.__setattr__(self, name, check_field(name, getattr(self, name)))
        if recorded:
            if self.task != "":
                raise ValueError(f"task={self.task!r}: expected '' for a run recorded elsewhere (source "
                                 f"{_short(self.source)}), which has no lab task")
            return  # the rules below are those of the lab's tasks and of its own passes
        longest = FIELD_INFO["seq_len"].hi
        if self.task == "copy" and self.seq_len < 2 * COPY_SYMBOLS + 1:
            raise ValueError(
                f"seq_len={self.seq_len}: expected an integer from {2 * COPY_SYMBOLS + 1} to {longest} for task 'copy' "
                f"({COPY_SYMBOLS} symbols, at least one blank/delimiter step, {COPY_SYMBOLS} answer steps)"
            )
        if self.task == "adding" and self.seq_len < 2:
            raise ValueError(f"seq_len={self.seq_len}: expected an integer from 2 to {longest} for task 'adding'")
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
        if self.biases == "none" and self.gate_bias:
            raise ValueError(f"gate_bias={self.gate_bias!r}: given with biases='none', which holds every bias at "
                             "zero; expected '' or biases='trained'")
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
        """Stable content hash: first 16 hex chars of sha256 over canonical JSON of ``to_dict()``, without the
        fields of KEY_DEFAULTS that hold their default (so a config keeps the key it had before they existed)."""
        d = {k: v for k, v in self.to_dict().items() if k not in KEY_DEFAULTS or v != KEY_DEFAULTS[k]}
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


# The declaration of every RunConfig field, in field order; a field declared without declare() is an error here.
FIELD_INFO: dict[str, FieldInfo] = {}
for _field in dataclasses.fields(RunConfig):
    if "info" not in _field.metadata:
        raise TypeError(f"RunConfig.{_field.name}: expected a declaration, declare(default, kind, ...)")
    FIELD_INFO[_field.name] = _field.metadata["info"]
del _field
if any(_DEFAULTS[name] != value for name, value in KEY_DEFAULTS.items()):
    raise AssertionError("KEY_DEFAULTS must hold each field's default")
CHOICES = {name: info.choices for name, info in FIELD_INFO.items() if info.kind == "choice"}


def check_field(name: str, value: Any) -> Any:
    """``value`` normalised as RunConfig field ``name`` holds it (an int, float, choice, series or text), or
    ``ValueError("name=value: expected ...")``; the rules that tie several fields together are validate()'s."""
    info = FIELD_INFO.get(name)
    if info is None:
        raise ValueError(f"{name!r}: expected one of the fields {list(FIELD_INFO)}")
    value = info.check(name, value)
    if name == "gate_bias":
        parse_gate_bias(value)
    return value


def value_from_text(kind: str, text: str) -> Any:
    """The value that ``text`` (a command-line, sweep or URL value) writes for a field of ``kind``, for the check
    to judge: an "int" from "12", "1e3" or "12.0" (a number with a fraction stays a float), a "float", a "series"
    of numbers separated by commas or whitespace (None for "" or "none"); text that writes no such value comes
    back unchanged, so that the check names it."""
    if kind == "series":
        if text.strip().lower() in ("", "none"):
            return None
        try:
            return tuple(float(v) for v in text.replace(",", " ").split())
        except ValueError:
            return text
    if kind not in ("int", "float"):
        return text
    if kind == "int":
        try:
            return int(text)
        except ValueError:  # not a plain integer (or beyond int()'s 4300 digits): maybe a float that is one
            pass
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if kind == "int" and number.is_integer() else number


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


def _number_text(x: float) -> str:
    """A bound as people write it: 0, 10, -10, 0.5, 1e6."""
    text = f"{x:g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
