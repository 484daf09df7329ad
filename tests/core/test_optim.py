import copy
import math

import numpy as np
import pytest

from lstmlab.core.config import OPTIMIZERS
from lstmlab.core.optim import SGD, Adam, Momentum, clip_by_global_norm, global_norm, l2_norm, make_optimizer


def run(opt, params, grad_seq):
    state = opt.init(params)
    for g in grad_seq:
        params, state = opt.update(params, g, state)
    return params, state


def test_sgd_hand_step():
    p, _ = run(SGD(0.1), {"w": np.array([1.0, -2.0])}, [{"w": np.array([0.5, 0.25])}])
    np.testing.assert_allclose(p["w"], [0.95, -2.025], rtol=0, atol=1e-15)


def test_momentum_hand_steps():
    grads = [{"w": np.array([1.0])}, {"w": np.array([2.0])}]
    p, s = run(Momentum(0.1, 0.9), {"w": np.array([1.0])}, grads)
    # v1 = 1, p1 = 1 - 0.1 = 0.9;  v2 = 0.9 + 2 = 2.9, p2 = 0.9 - 0.29 = 0.61
    assert p["w"][0] == pytest.approx(0.61, abs=1e-14) and s["v"]["w"][0] == pytest.approx(2.9)
    p, _ = run(Momentum(0.1, 0.9, nesterov=True), {"w": np.array([1.0])}, grads)
    # p1 = 1 - 0.1 (1 + 0.9) = 0.81;  p2 = 0.81 - 0.1 (2 + 0.9 * 2.9) = 0.349
    assert p["w"][0] == pytest.approx(0.349, abs=1e-14)


def test_adam_hand_steps():
    lr, eps = 0.01, 1e-8
    p0 = np.array([1.0, 1.0])
    g1, g2 = np.array([2.0, -0.5]), np.array([1.0, 0.5])
    p, s = run(Adam(lr), {"w": p0}, [{"w": g1}])
    # first step: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps)
    np.testing.assert_allclose(p["w"], [1 - lr * 2 / (2 + eps), 1 + lr * 0.5 / (0.5 + eps)], rtol=1e-14)
    p, s = run(Adam(lr), {"w": p0}, [{"w": g1}, {"w": g2}])
    expected = []
    for a, b, x0 in [(2.0, 1.0, 1.0), (-0.5, 0.5, 1.0)]:
        x1 = x0 - lr * a / (abs(a) + eps)
        m = 0.9 * (0.1 * a) + 0.1 * b
        v = 0.999 * (0.001 * a * a) + 0.001 * b * b
        expected.append(x1 - lr * (m / (1 - 0.9**2)) / (math.sqrt(v / (1 - 0.999**2)) + eps))
    np.testing.assert_allclose(p["w"], expected, rtol=1e-13)
    assert s["t"] == 2


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_update_does_not_mutate_inputs(name):
    r = np.random.default_rng(0)
    opt = make_optimizer(name, 0.1, 0.9)
    params = {"a": r.standard_normal((3, 4)), "b": r.standard_normal(4)}
    grads = {k: r.standard_normal(v.shape) for k, v in params.items()}
    state = opt.init(params)
    _, state = opt.update(params, grads, state)  # a non-trivial state to check
    before = copy.deepcopy((params, grads, state))
    new_params, new_state = opt.update(params, grads, state)
    for got, want in zip((params, grads), before[:2]):
        assert all(np.array_equal(got[k], want[k]) for k in want)
    assert state["t"] == before[2]["t"]
    for key in ("m", "v"):
        if key in state:
            assert all(np.array_equal(state[key][k], before[2][key][k]) for k in params)
    assert all(not np.shares_memory(new_params[k], params[k]) for k in params)
    assert new_state["t"] == state["t"] + 1


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_float32_params_stay_float32(name):
    opt = make_optimizer(name, 0.1)
    p = {"w": np.ones(3, dtype=np.float32)}
    new, _ = opt.update(p, {"w": np.full(3, 0.5, dtype=np.float32)}, opt.init(p))
    assert new["w"].dtype == np.float32


def test_make_optimizer_rejects_unknown():
    with pytest.raises(ValueError, match="optimizer='adagrad'"):
        make_optimizer("adagrad", 0.1)
    assert make_optimizer("momentum", 0.2, 0.5) == Momentum(0.2, 0.5)


def test_clip_by_global_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    out, n, clipped = clip_by_global_norm(grads, 1.0)
    assert n == 5.0 and clipped
    np.testing.assert_allclose(out["a"], [0.6, 0.0]) and np.testing.assert_allclose(out["b"], [[0.8]])
    assert grads["a"][0] == 3.0  # input untouched
    for max_norm in (5.0, 10.0, 0.0):
        out, n, clipped = clip_by_global_norm(grads, max_norm)
        assert n == 5.0 and not clipped and out["a"] is grads["a"]


def test_clip_non_finite_and_huge():
    out, n, clipped = clip_by_global_norm({"a": np.array([np.nan, 1.0])}, 1.0)
    assert math.isnan(n) and not clipped
    out, n, clipped = clip_by_global_norm({"a": np.array([np.inf, 1.0])}, 1.0)
    assert n == math.inf and not clipped
    huge = {"a": np.array([3e200, 4e200]), "b": np.array([1e-300])}
    out, n, clipped = clip_by_global_norm(huge, 1.0)
    assert n == pytest.approx(5e200) and clipped
    np.testing.assert_allclose(out["a"], [0.6, 0.8])


def test_norms_float32_accumulate_in_float64():
    a = np.full(10_000, 1e-3, dtype=np.float32)
    assert l2_norm(a) == pytest.approx(math.sqrt(10_000 * float(np.float32(1e-3)) ** 2), rel=1e-12)
    assert global_norm({"x": np.array([3.0]), "y": np.array([4.0])}) == 5.0


# --- PyTorch as the reference implementation -------------------------------------------------------------


def _torch_run(torch, make, params, grad_seq):
    tp = [torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in sorted(params)]
    opt = make(tp)
    for g in grad_seq:
        for t, k in zip(tp, sorted(params)):
            t.grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step()
    return {k: t.detach().numpy() for t, k in zip(tp, sorted(params))}


def _random_problem(seed=0, steps=6):
    r = np.random.default_rng(seed)
    params = {"l0.Wh": r.standard_normal((4, 8)), "head.b": r.standard_normal(3)}
    grads = [{k: r.standard_normal(v.shape) * 10.0 ** r.uniform(-3, 1) for k, v in params.items()} for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_matches_torch_optim(name):
    torch = pytest.importorskip("torch")
    lr, mu = 0.05, 0.8
    makers = {
        "sgd": lambda p: torch.optim.SGD(p, lr=lr),
        "momentum": lambda p: torch.optim.SGD(p, lr=lr, momentum=mu),
        "nesterov": lambda p: torch.optim.SGD(p, lr=lr, momentum=mu, nesterov=True),
        "adam": lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    }
    params, grads = _random_problem()
    want = _torch_run(torch, makers[name], params, grads)
    got, _ = run(make_optimizer(name, lr, mu), params, grads)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("max_norm", [0.1, 1.0, 1e6])
def test_clip_matches_torch(max_norm):
    torch = pytest.importorskip("torch")
    params, grads = _random_problem(seed=1, steps=1)
    g = grads[0]
    tp = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
    for t, v in zip(tp, g.values()):
        t.grad = torch.tensor(v)
    tnorm = float(torch.nn.utils.clip_grad_norm_(tp, max_norm))
    out, n, clipped = clip_by_global_norm(g, max_norm)
    assert n == pytest.approx(tnorm, rel=1e-13)
    assert clipped == (tnorm > max_norm)
    for t, k in zip(tp, g):
        # torch divides by (norm + 1e-6): agreement to ~1e-6 relative
        np.testing.assert_allclose(out[k], t.grad.numpy(), rtol=1e-6)


def test_make_optimizer_accepts_exactly_the_configs_choices():
    for name in OPTIMIZERS:
        assert make_optimizer(name, 0.1).init({"w": np.zeros(2)})["t"] == 0
    with pytest.raises(ValueError, match="optimizer='adagrad': expected one of 'sgd', 'momentum', 'adam', 'nesterov', "
                                         "'rmsprop'"):
        make_optimizer("adagrad", 0.1)
