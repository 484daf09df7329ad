import math

import numpy as np
import pytest

from lstmlab.core.config import RunConfig
from lstmlab.core.tasks import get_task


def rng(seed=0):
    return np.random.default_rng(seed)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize(
    "task, T, head, loss, n_in, n_out, metric",
    [("adding", 12, "last", "mse", 2, 1, "mse"), ("recall", 9, "last", "xent", 6, 5, "accuracy"),
     ("copy", 25, "all", "xent", 10, 10, "accuracy"), ("forecast", 15, "last", "mse", 1, 1, "mse")],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_declarations_and_shapes(task, T, head, loss, n_in, n_out, metric, dtype):
    t = get_task(RunConfig(task=task, seq_len=T, n_symbols=5, dtype=dtype))
    assert (t.head, t.loss, t.input_size, t.output_size, t.metric_name) == (head, loss, n_in, n_out, metric)
    x, y = t.sample(rng(), 7)
    assert x.shape == (T, 7, n_in) and x.dtype == np.dtype(dtype)
    if loss == "mse":
        assert y.shape == (7, n_out) and y.dtype == np.dtype(dtype)
    else:
        assert y.dtype == np.int64 and y.shape == ((7,) if head == "last" else (T, 7))
        assert 0 <= y.min() and y.max() < n_out


@pytest.mark.parametrize("task", ["adding", "recall", "copy", "forecast"])
def test_sampling_is_a_function_of_the_generator(task):
    t = get_task(RunConfig(task=task, seq_len=30))
    x1, y1 = t.sample(rng(5), 4)
    x2, y2 = t.sample(rng(5), 4)
    x3, _ = t.sample(rng(6), 4)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)


def test_adding_structure_and_baseline():
    T = 20
    t = get_task(RunConfig(task="adding", seq_len=T))
    x, y = t.sample(rng(1), 20000)
    values, markers = x[..., 0], x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[: T // 2].sum(axis=0) == 1) and np.all(markers[T // 2:].sum(axis=0) == 1)
    assert np.all((values >= 0) & (values < 1))
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0))
    assert t.baseline == pytest.approx(1 / 6)
    assert np.mean((1.0 - y) ** 2) == pytest.approx(1 / 6, rel=0.03)
    # the constant 1 is the best input-blind constant: the empirical mean of y is 1
    assert y.mean() == pytest.approx(1.0, abs=0.01)
    # both marker positions reach every step of their half
    assert np.all(markers.sum(axis=1) > 0)


def test_recall_structure_and_baseline():
    K, T = 6, 8
    t = get_task(RunConfig(task="recall", seq_len=T, n_symbols=K))
    x, y = t.sample(rng(2), 6000)
    assert np.array_equal(np.argmax(x[0, :, :K], axis=1), y) and np.all(x[0, :, :K].sum(axis=1) == 1)
    assert np.all(x[1:T - 1] == 0)
    assert np.all(x[T - 1, :, K] == 1) and np.all(x[:T - 1, :, K] == 0)
    uniform = np.zeros((len(y), K))
    loss = -np.mean(log_softmax(uniform)[np.arange(len(y)), y])
    assert loss == pytest.approx(t.baseline) and t.baseline == pytest.approx(math.log(K))
    assert np.bincount(y, minlength=K) / len(y) == pytest.approx(np.full(K, 1 / K), abs=0.02)
    assert t.chance_metric == pytest.approx(1 / K)
    # a perfect classifier gets accuracy 1, a constant one about 1/K
    assert t.metric(np.eye(K)[y] * 5.0, y) == 1.0
    assert t.metric(np.tile(np.eye(K)[0], (len(y), 1)), y) == pytest.approx(1 / K, abs=0.02)


def test_copy_structure_and_baseline():
    L = 30
    t = get_task(RunConfig(task="copy", seq_len=L))
    x, y = t.sample(rng(3), 8000)
    ids = np.argmax(x, axis=-1)
    assert np.all(x.sum(axis=-1) == 1)
    assert np.all((ids[:10] >= 1) & (ids[:10] <= 8))
    assert np.all(ids[10:L - 11] == 0) and np.all(ids[L - 11] == 9) and np.all(ids[L - 10:] == 0)
    assert np.all(y[:L - 10] == 0) and np.array_equal(y[L - 10:], ids[:10])
    # best input-blind predictor: the per-position empirical class distribution
    p = np.stack([np.bincount(y[s], minlength=10) / y.shape[1] for s in range(L)])  # (L, 10)
    with np.errstate(divide="ignore"):
        loss = -np.mean(np.log(p[np.arange(L)[:, None], y]))
    assert loss == pytest.approx(10 * math.log(8) / L, rel=0.01)
    assert t.baseline == pytest.approx(10 * math.log(8) / L)
    # metric counts the 10 recall steps only
    logits = np.eye(10)[y] * 3.0
    assert t.metric(logits, y) == 1.0
    logits[:L - 10] = 0.0
    logits[:L - 10, :, 5] = 1.0  # wrong on every blank step: still perfect on the recall steps
    assert t.metric(logits, y) == 1.0
    blank_everywhere = np.zeros((L, y.shape[1], 10))
    blank_everywhere[..., 0] = 1.0
    assert t.metric(blank_everywhere, y) == 0.0


def test_forecast_synthetic_series_and_baseline():
    T = 12
    c = RunConfig(task="forecast", seq_len=T, noise=0.2, seed=4)
    t = get_task(c)
    s = t.series
    assert s.size >= 10_000 + T
    assert s.mean() == pytest.approx(0.0, abs=1e-9) and s.std() == pytest.approx(1.0)
    assert np.array_equal(get_task(c).series, s)  # deterministic from the seed
    assert not np.array_equal(get_task(c.replace(seed=5)).series, s)
    # baseline = window-mean predictor over all windows, computed here the slow way
    windows = np.lib.stride_tricks.sliding_window_view(s, T + 1)
    assert t.baseline == pytest.approx(np.mean((windows[:, -1] - windows[:, :-1].mean(axis=1)) ** 2), rel=1e-9)
    # and the sampled batches agree with it (each sample is one of those windows)
    x, y = t.sample(rng(0), 20000)
    assert np.mean((y[:, 0] - x[:, :, 0].mean(axis=0)) ** 2) == pytest.approx(t.baseline, rel=0.05)
    assert 0.05 < t.baseline < 2.0


def test_forecast_noise_changes_series():
    quiet = get_task(RunConfig(task="forecast", seq_len=5, noise=0.0)).series
    noisy = get_task(RunConfig(task="forecast", seq_len=5, noise=1.0)).series
    # the noise-free multi-sine is smooth: tiny second differences compared with the noisy one
    assert np.std(np.diff(quiet, 2)) < 0.2 * np.std(np.diff(noisy, 2))


def test_forecast_user_series_windows():
    raw = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0])  # distinct values: a window is found by its first value
    T = 3
    t = get_task(RunConfig(task="forecast", seq_len=T, series=raw))
    z = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(t.series, z)
    assert (t.mean, t.std) == pytest.approx((raw.mean(), raw.std()))
    expected = np.mean([(z[i + T] - z[i:i + T].mean()) ** 2 for i in range(len(z) - T)])
    assert t.baseline == pytest.approx(expected)
    x, y = t.sample(rng(0), 500)
    starts = {int(np.flatnonzero(np.isclose(z, x[0, b, 0]))[0]) for b in range(500)}
    assert starts == set(range(len(z) - T))  # every window, and only complete windows, is drawn
    for b in range(5):
        i = int(np.flatnonzero(np.isclose(z[: len(z) - T], x[0, b, 0]))[0])
        np.testing.assert_allclose(x[:, b, 0], z[i:i + T])
        assert y[b, 0] == pytest.approx(z[i + T])


def test_forecast_minimal_series_length():
    t = get_task(RunConfig(task="forecast", seq_len=4, series=[1.0, 2.0, 0.0, 5.0, 3.0]))
    x, y = t.sample(rng(0), 3)
    assert x.shape == (4, 3, 1) and np.allclose(y[:, 0], t.series[4])


def test_mse_metric():
    t = get_task(RunConfig(task="adding", seq_len=4))
    assert t.metric(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])) == pytest.approx(2.5)
