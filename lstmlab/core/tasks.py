"""Sequence tasks: batch generators with declared heads, losses and input-blind baselines.

Every task draws batches from an explicit ``np.random.Generator`` and returns ``x`` of shape
(T, B, input_size) in the config's dtype, and ``y`` of shape (B, O) ("last", mse), (B,) int64 ("last",
xent) or (T, B) int64 ("all", xent). ``baseline`` is the loss a predictor that ignores the input can reach
(exactly, not estimated), the line a trained network has to go below to show it learned anything.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from lstmlab.core.config import COPY_SYMBOLS, PAPER_TASKS, TASKS, RunConfig, paper_task
from lstmlab.core.model import output_units
from lstmlab.core.paper_tasks import PaperTask, Sequences

SERIES_STREAM = 3  # SeedSequence(seed).spawn index of the synthetic series; train uses 0, 1, 2
SYNTHETIC_WINDOWS = 10_000
# Periods (in steps) of the synthetic series: pairwise ratios are irrational, so it never repeats exactly.
SINE_PERIODS = (17.0, 17.0 * math.sqrt(2.0), 17.0 * math.pi)
SINE_AMPLITUDES = (1.0, 0.6, 0.3)
COPY_CATEGORIES = 8
COPY_BLANK, COPY_DELIM = 0, COPY_CATEGORIES + 1  # symbols are 1..8


@dataclass(frozen=True)
class Task(ABC):
    """Common declaration of a task; subclasses implement ``sample``.

    head:           "last" (many-to-one) or "all" (many-to-many)
    loss:           "mse" or "xent"
    input_size:     features per step of x
    output_size:    regression outputs or number of classes
    baseline:       loss of the best input-blind predictor (forecast: of the window-mean predictor)
    metric_name:    "mse" or "accuracy"
    chance_metric:  metric of that same baseline predictor
    baseline_name:  what the baseline predicts from, for labels
    """

    name: str
    seq_len: int
    dtype: str
    head: str
    loss: str
    input_size: int
    output_size: int
    baseline: float
    metric_name: str
    chance_metric: float
    baseline_name: str = "input-blind predictor"

    @abstractmethod
    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch (x, y): x (T, batch, input_size); y as the head and loss need it."""

    def metric(self, y_hat: np.ndarray, y: np.ndarray) -> float:
        """mse: mean squared error over all outputs; accuracy: fraction of argmax(y_hat) == y."""
        if self.metric_name == "mse":
            return float(np.mean((np.asarray(y_hat, dtype=np.float64) - y) ** 2))
        return float(np.mean(np.argmax(y_hat, axis=-1) == y))

    def draw(self, rng: np.random.Generator, batch: int) -> Batch:
        """A batch as training reads it (``sample`` with no mask and no per-sequence rule)."""
        x, y = self.sample(rng, batch)
        return Batch(x, y)

    def score(self, y_hat: np.ndarray, batch: Batch) -> Score:
        """The batch's metric from the head's outputs ``y_hat``; the lab's tasks judge no sequence on its own."""
        return Score(self.metric(y_hat, batch.y))


@dataclass(frozen=True)
class Batch:
    """x (T, B, input_size); y as the head and loss need it; mask (T, B) bool, the steps the loss reads where not
    all of head "all" (``bptt``'s mask), else None; seqs the paper task's Sequences (None for the lab's tasks)."""

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None
    seqs: Sequences | None = None


@dataclass(frozen=True)
class Score:
    """How a batch went: the task's metric over the batch; for a paper task also, per sequence (B,), whether its
    paper counts it correct (None: the task has no such rule), its error (the mean absolute error of its output
    units at its error steps, "xent": its mean cross-entropy there) and its loss as the sum of its terms over
    their count (the batch's loss pools them)."""

    metric: float
    correct: np.ndarray | None = None
    error: np.ndarray | None = None
    loss_sum: np.ndarray | None = None
    loss_count: np.ndarray | None = None


@dataclass(frozen=True)
class ForecastTask(Task):
    """Next-value prediction from a window of ``T`` past values of a z-scored series s.

    x[t, b, 0] = s[i_b + t] (t = 0..T-1),  y[b, 0] = s[i_b + T],  i_b ~ U{0, ..., N - T - 1}.
    ``baseline`` is the exact MSE, over all N - T windows, of predicting the window mean
    mean_t s[i + t]: a naive forecaster that uses the input, since the input-blind one (predict 0, MSE ~ 1)
    is too easy to beat. ``mean`` / ``std`` undo the z-score.
    """

    series: np.ndarray = field(default=None, repr=False, compare=False)
    mean: float = 0.0
    std: float = 1.0

    def sample(self, rng, batch):
        starts = rng.integers(0, self.series.size - self.seq_len, size=batch)
        idx = starts[None, :] + np.arange(self.seq_len)[:, None]  # (T, B)
        x = self.series[idx][:, :, None]
        y = self.series[starts + self.seq_len][:, None]
        return x, y


@dataclass(frozen=True)
class AddingTask(Task):
    """Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015; Arjovsky et al. 2016).

    x[:, b, 0] ~ U(0, 1) values; x[:, b, 1] markers, exactly two ones: one at a uniform step of the first half
    [0, T//2) and one in the second half [T//2, T).  y[b, 0] = sum of the two marked values.
    Best input-blind predictor: E[y] = 1 with MSE Var(u1 + u2) = 2 / 12 = 1/6.
    """

    def sample(self, rng, batch):
        T, half = self.seq_len, self.seq_len // 2
        values = rng.random((T, batch))
        first = rng.integers(0, half, size=batch)
        second = rng.integers(half, T, size=batch)
        cols = np.arange(batch)
        markers = np.zeros((T, batch))
        markers[first, cols] = 1.0
        markers[second, cols] = 1.0
        x = np.stack([values, markers], axis=-1).astype(self.dtype)
        y = (values[first, cols] + values[second, cols])[:, None].astype(self.dtype)
        return x, y


@dataclass(frozen=True)
class RecallTask(Task):
    """Remember one of K symbols across T - 1 silent steps.

    Channels 0..K-1: one-hot symbol at step 0 (zeros afterwards); channel K: query marker, 1 at step T-1 only.
    y[b] = the symbol (int class). Input-blind: uniform prediction, loss log K, accuracy 1/K.
    """

    def sample(self, rng, batch):
        K, T = self.output_size, self.seq_len
        y = rng.integers(0, K, size=batch)
        x = np.zeros((T, batch, K + 1), dtype=self.dtype)
        x[0, np.arange(batch), y] = 1.0
        x[T - 1, :, K] = 1.0
        return x, y.astype(np.int64)


@dataclass(frozen=True)
class CopyTask(Task):
    """Copy memory (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016) with total length L = seq_len.

    Classes: 0 blank, 1..8 symbols, 9 delimiter; inputs are one-hot over these 10.
      x = [s_1 .. s_10, blank x (L - 21), delimiter, blank x 10]
      y = [blank x (L - 10), s_1 .. s_10]                          (prediction at every step)
    Arjovsky et al. write the length as T + 20 with T the delay between a symbol and its recall; here that
    delay is L - 20 and the input-blind baseline (blank where blanks are certain, uniform over the 8 symbols
    at the 10 recall steps) is 10 log 8 / L.  ``metric`` is the accuracy over the 10 recall steps only, since
    predicting blank everywhere already gets (L - 10) / L of all steps right; its chance level is 1/8.
    """

    def sample(self, rng, batch):
        L, n = self.seq_len, COPY_SYMBOLS
        symbols = rng.integers(1, COPY_CATEGORIES + 1, size=(n, batch))
        ids = np.full((L, batch), COPY_BLANK, dtype=np.int64)
        ids[:n] = symbols
        ids[L - n - 1] = COPY_DELIM
        x = np.eye(self.input_size, dtype=self.dtype)[ids]
        y = np.full((L, batch), COPY_BLANK, dtype=np.int64)
        y[L - n:] = symbols
        return x, y

    def metric(self, y_hat, y):
        n = COPY_SYMBOLS
        return float(np.mean(np.argmax(y_hat[-n:], axis=-1) == y[-n:]))


def synthetic_series(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """s[t] = sum_k A_k sin(2 pi t / P_k + phi_k) + noise * e_t,  phi_k ~ U(0, 2 pi), e_t ~ N(0, 1); (n,) float64."""
    phases = rng.uniform(0.0, 2.0 * np.pi, size=len(SINE_PERIODS))
    eps = rng.standard_normal(n)
    t = np.arange(n, dtype=np.float64)[:, None]
    waves = np.asarray(SINE_AMPLITUDES) * np.sin(2.0 * np.pi * t / np.asarray(SINE_PERIODS) + phases)
    return waves.sum(axis=1) + noise * eps


def window_mean_mse(s: np.ndarray, T: int) -> float:
    """Exact MSE over all windows i = 0..N-T-1 of predicting s[i + T] by mean(s[i : i + T]), in O(N)."""
    c = np.concatenate([[0.0], np.cumsum(s, dtype=np.float64)])
    means = (c[T:-1] - c[: -T - 1]) / T
    return float(np.mean((s[T:] - means) ** 2))


@dataclass(frozen=True)
class PaperRunTask(Task):
    """A paper task (``lstmlab.core.paper_tasks``, named in ``config.PAPER_TASKS``) as training reads it.

    Its head "mask" is the model's head "all" with the mask; its baseline is its ``chance()["loss"]`` and, where
    its paper judges sequences, the metric is the fraction of sequences correct by that rule ("correct", chance:
    ``chance()["correct"]``), else the MSE. bsf94-latch: the free inputs h_{c,t} of BSF94 (one per class c and
    step t < L, added to the unit's input) are the input weights of 2L one-hot channels, channel c L + t on at step
    t of a class-c sequence, beside the noise channel; the lab's network learns also the noise channel's weight,
    biases and a linear head, which BSF94's single unit has not.
    """

    paper: PaperTask = field(default=None, repr=False)

    def draw(self, rng, batch):
        seqs = self.paper.sample(rng, batch)
        x = seqs.x
        if "labels" in seqs.info:  # bsf94-latch: the class's free-input channels at its first L steps
            L, (T, B, _) = self.paper.L, x.shape
            free = np.zeros((T, B, 2 * L), dtype=x.dtype)
            channel = seqs.info["labels"][None, :] * L + np.arange(L)[:, None]  # (L, B)
            free[np.arange(L)[:, None], np.arange(B)[None, :], channel] = 1
            x = np.concatenate([x, free], axis=-1)
        mask = None if self.head == "last" or seqs.mask.all() else seqs.mask
        return Batch(x, seqs.y, mask, seqs)

    def sample(self, rng, batch):
        b = self.draw(rng, batch)
        return b.x, b.y

    def score(self, y_hat, batch):
        shown = output_units(np.asarray(y_hat, dtype=np.float64), self.loss)
        units = 1 if self.loss == "xent" else shown.shape[-1]
        if self.loss == "xent":
            z = shown - shown.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            terms = error = -np.take_along_axis(logp, batch.y[..., None], axis=-1)[..., 0]
        else:
            diff = shown - (batch.y if self.loss == "mse" else np.eye(units)[batch.y])
            terms, error = np.einsum("...o,...o->...", diff, diff), np.abs(diff).sum(axis=-1) / units
        if self.head == "last":  # one error step, the last
            loss_sum, err, count = terms, error, np.full(len(error), units)
        else:
            mask = batch.seqs.mask
            steps = mask.sum(axis=0)
            loss_sum = np.where(mask, terms, 0.0).sum(axis=0)
            err, count = np.where(mask, error, 0.0).sum(axis=0) / steps, steps * units
        if self.paper.rule is None:
            return Score(float(loss_sum.sum() / count.sum()), None, err, loss_sum, count)
        correct = self.paper.correct(shown, batch.seqs)
        return Score(float(np.mean(correct)), correct, err, loss_sum, count)

    def metric(self, y_hat, y):
        raise ValueError(f"task {self.name!r}: read its metric with score(y_hat, batch), which has the sequences")


def paper_run_task(config: RunConfig) -> PaperRunTask:
    """The paper task a config names, as training reads it (``PaperRunTask``)."""
    paper = paper_task(config)
    chance = paper.chance()
    latch = config.task == "bsf94-latch"
    return PaperRunTask(
        config.task, config.seq_len, config.dtype, "last" if paper.head == "last" else "all", paper.loss,
        paper.input_size + (2 * paper.L if latch else 0), paper.output_size, chance["loss"].loss,
        "correct" if paper.rule else "mse",
        chance["correct"].correct if paper.rule else chance["loss"].loss,
        chance["loss"].predictor, paper=paper)


def get_task(config: RunConfig, rng: np.random.Generator | None = None) -> Task:
    """Build the task a config describes. ``rng`` only drives the synthetic forecast series; by default it
    is derived from ``config.seed`` (SeedSequence spawn index ``SERIES_STREAM``), so the series is fixed
    by the config."""
    if config.task in PAPER_TASKS:
        return paper_run_task(config)
    T, dt = config.seq_len, config.dtype
    if config.task == "adding":
        return AddingTask("adding", T, dt, "last", "mse", 2, 1, 1.0 / 6.0, "mse", 1.0 / 6.0)
    if config.task == "recall":
        K = config.n_symbols
        return RecallTask("recall", T, dt, "last", "xent", K + 1, K, math.log(K), "accuracy", 1.0 / K)
    if config.task == "copy":
        n = COPY_DELIM + 1
        baseline = COPY_SYMBOLS * math.log(COPY_CATEGORIES) / T
        return CopyTask("copy", T, dt, "all", "xent", n, n, baseline, "accuracy", 1.0 / COPY_CATEGORIES)
    if config.task == "forecast":
        if config.series is None:
            if rng is None:
                rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(SERIES_STREAM,)))
            raw = synthetic_series(SYNTHETIC_WINDOWS + T, config.noise, rng)
        else:
            raw = np.asarray(config.series, dtype=np.float64)
        mean, std = float(raw.mean()), float(raw.std())
        s = (raw - mean) / std
        base = window_mean_mse(s, T)
        return ForecastTask("forecast", T, dt, "last", "mse", 1, 1, base, "mse", base, "window-mean predictor",
                            series=s.astype(dt), mean=mean, std=std)
    raise ValueError(f"task={config.task!r}: expected one of {', '.join(map(repr, TASKS))}")
