"""How a run of a paper task ends and what it reports: the window of its most recent training sequences that the
"train" stopping criterion reads, the fresh test set scored when it ends, and its ending in words (``train`` uses them;
config.STOPS declares the criteria)."""
from __future__ import annotations

import math

import numpy as np

from lstmlab.core.config import RunConfig
from lstmlab.core.model import forward
from lstmlab.core.spec import ModelSpec


class Window:
    """The ``size`` most recent training sequences of a paper task: whether each was correct by its paper's rule
    (all True where the task has none), its error (``Score.error``), and how many of them are wrong."""

    def __init__(self, size: int) -> None:
        self.size, self.seen, self.pos, self.wrong, self.rule = size, 0, 0, 0, True
        self.correct = np.ones(size, dtype=bool)
        self.error = np.zeros(size)

    def add(self, correct: np.ndarray | None, error: np.ndarray) -> None:
        k = len(error)
        if correct is None:
            self.rule, correct = False, np.ones(k, dtype=bool)
        if k == 1:  # online training: one sequence per update
            self.wrong += int(not correct[0]) - int(not self.correct[self.pos])
            self.correct[self.pos], self.error[self.pos] = correct[0], error[0]
        else:
            keep = min(k, self.size)
            idx = (self.pos + np.arange(keep)) % self.size
            self.wrong -= int(np.count_nonzero(~self.correct[idx]))
            self.correct[idx], self.error[idx] = correct[-keep:], error[-keep:]
            self.wrong += int(np.count_nonzero(~self.correct[idx]))
        self.pos = (self.pos + k) % self.size
        self.seen += k

    def meets(self, wrong: int, error: float) -> bool:
        """Whether the window is full and holds at most ``wrong`` wrong sequences and (``error`` > 0) a mean error
        below ``error``."""
        return (self.seen >= self.size and self.wrong <= wrong
                and (error == 0 or float(np.mean(self.error)) < error))

    def stats(self) -> dict[str, float]:
        """window_wrong and window_error: the held sequences' wrong count and mean error (NaN where undefined)."""
        m = min(self.seen, self.size)
        if not m:
            return {"window_wrong": math.nan, "window_error": math.nan}
        return {"window_wrong": float(self.wrong) if self.rule else math.nan,
                "window_error": float(np.mean(self.error[:m]))}


# SeedSequence(seed) spawn key of the test set's stream: train's are 0-2, the synthetic series' tasks.SERIES_STREAM.
TEST_STREAM = 4
NO_TEST = {"test_wrong": math.nan, "test_loss": math.nan, "test_error": math.nan}


def test_set(config: RunConfig, task, spec: ModelSpec, params: dict, engine: str) -> dict[str, float]:
    """Score ``config.test_size`` fresh sequences of the task, drawn in batches as training draws them from a
    stream of their own (``TEST_STREAM``), with ``params``: the wrong ones by the paper's rule (NaN without a
    rule), the loss pooled over them as a batch pools it, and their mean error (``Score.error``)."""
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(TEST_STREAM,)))
    wrong, loss_sum, loss_count, error_sum, left = 0, 0.0, 0.0, 0.0, config.test_size
    while left:
        batch = task.draw(rng, min(config.batch_size, left))
        score = task.score(forward(spec, params, batch.x, engine=engine), batch)
        if score.correct is not None:
            wrong += int(np.count_nonzero(~score.correct))
        loss_sum += float(score.loss_sum.sum())
        loss_count += float(score.loss_count.sum())
        error_sum += float(score.error.sum())
        left -= len(score.error)
    return {"test_wrong": float(wrong) if task.metric_name == "correct" else math.nan,
            "test_loss": loss_sum / loss_count, "test_error": error_sum / config.test_size}


def ending_text(config: RunConfig, done: int, met: bool, last: dict) -> str:
    """How a paper task's finished run ended, in words: its criterion met or its budget spent, the updates and
    sequences, and its test set's result."""
    seqs = f"{done:,} updates, {done * config.batch_size:,} sequences"
    if config.stop == "budget":
        text = f"finished {done} steps ({seqs})"
    elif met:
        text = f"met the stopping criterion ({criterion_text(config)}) after {seqs}"
    else:
        text = f"finished {done} steps ({seqs}) without meeting the stopping criterion ({criterion_text(config)})"
    if config.test_size:
        if math.isnan(last["test_wrong"]):
            text += f"; test set: loss {last['test_loss']:.4g} over {config.test_size:,} sequences"
        else:
            text += f"; test set: {int(last['test_wrong']):,} of {config.test_size:,} sequences wrong"
    return text


def criterion_text(config: RunConfig) -> str:
    """The stopping criterion of a config in words, e.g. "at most 0 wrong of the 2,000 most recent training
    sequences, mean error below 0.01"."""
    where = (f"the {config.stop_window:,} most recent training sequences" if config.stop == "train"
             else f"the {config.eval_size:,} held-out sequences")
    text = f"at most {config.stop_wrong:,} wrong of {where}"
    return text + (f", mean error below {config.stop_error:g}" if config.stop_error else "")
