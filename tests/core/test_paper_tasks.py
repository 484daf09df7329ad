"""The papers' long-lag tasks: structure against the papers' text, closed-form chance levels against Monte Carlo,
determinism, and argument checks. Expected values come from the papers (quoted) or from sums written here."""

import math
import re
from collections import Counter

import numpy as np
import pytest

from lstmlab.core.paper_tasks import (
    ArjovskyCopy,
    BengioLatch,
    ContinualEmbeddedReber,
    DistractorLongLag,
    EmbeddedReber,
    HS97Adding,
    HS97Multiplication,
    HS97TemporalOrder,
    LeAdding,
    NoiseFreeLongLag,
    NoLocalRegularities,
    PascanuAddition,
    PascanuTemporalOrder,
)

K_SE = 4.5  # Monte-Carlo tolerance in standard errors (a false alarm about once in 150 000 checks)

# The Reber grammar written out again, independently of the module (Cleeremans et al. 1989 as drawn on
# cnl.salk.edu/~schraudo/teach/NNcourse/reber.html): from node 1, T S* X leads to node 4, P to node 3; node 3 is
# T* V then node 5; node 5: V ends, P X returns to node 3 or P S ends; node 4: S ends, X returns to node 3.
N3 = r"(?:T*VPX)*T*V(?:V|PS)"
REBER = rf"B(?:TS*X(?:S|X{N3})|P{N3})E"
EMBEDDED = re.compile(rf"B([TP]){REBER}\1E")
SYMBOLS = "BTPSXVE"
EDGES = {1: {"T": 2, "P": 3}, 2: {"S": 2, "X": 4}, 3: {"T": 3, "V": 5}, 4: {"X": 3, "S": 6}, 5: {"P": 4, "V": 6}}


def rng(seed=0):
    return np.random.default_rng(seed)


def assert_mc(values, expected, what=""):
    """The mean of i.i.d. ``values`` is ``expected`` within K_SE standard errors."""
    v = np.asarray(values, dtype=np.float64).ravel()
    se = v.std(ddof=1) / math.sqrt(v.size)
    assert abs(v.mean() - expected) <= K_SE * se + 1e-12, f"{what}: MC {v.mean():.6g} +- {se:.2g}, exact {expected:.6g}"
    return v.mean(), se


def assert_ratio_mc(num, den, expected, what=""):
    """sum(num)/sum(den) over i.i.d. units is ``expected`` within K_SE delta-method standard errors."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    r = num.sum() / den.sum()
    se = np.std(num - r * den, ddof=1) / math.sqrt(num.size) / den.mean()
    assert abs(r - expected) <= K_SE * se, f"{what}: MC {r:.6g} +- {se:.2g}, closed form {expected:.6g}"


def decode(x):
    """(T, B, K) one-hot -> (T, B) ids; every step exactly one 1."""
    assert np.all(np.sum(x == 1, axis=-1) == 1) and np.all((x == 0) | (x == 1))
    return np.argmax(x, axis=-1)


def targets(task, n, batch, seed=0):
    """Final targets y of n sequences, sampled in batches."""
    r = rng(seed)
    return np.concatenate([task.sample(r, batch).y for _ in range(n // batch)])


ALL = [
    lambda dt: EmbeddedReber(dtype=dt), lambda dt: ContinualEmbeddedReber(T=40, dtype=dt),
    lambda dt: NoiseFreeLongLag(p=6, dtype=dt), lambda dt: NoLocalRegularities(p=6, dtype=dt),
    lambda dt: DistractorLongLag(q=8, p=5, dtype=dt),
    lambda dt: HS97Adding(T=20, dtype=dt), lambda dt: HS97Multiplication(T=20, dtype=dt),
    lambda dt: HS97TemporalOrder(2, dtype=dt), lambda dt: HS97TemporalOrder(3, dtype=dt),
    lambda dt: BengioLatch(T=10, dtype=dt), lambda dt: PascanuTemporalOrder(20, 40, dtype=dt),
    lambda dt: PascanuAddition(20, 40, dtype=dt), lambda dt: ArjovskyCopy(T=5, dtype=dt),
    lambda dt: LeAdding(T=12, dtype=dt),
]


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_declarations_and_shapes(make, dtype):
    task = make(dtype)
    assert task.head in ("last", "all", "mask") and task.loss in ("mse", "mse-onehot", "xent") and task.paper
    s = task.sample(rng(), 5)
    T = s.x.shape[0]
    assert s.x.shape == (T, 5, task.input_size) and s.x.dtype == np.dtype(dtype)
    assert s.mask.shape == (T, 5) and s.mask.dtype == bool
    if task.head == "last":
        assert s.mask[-1].all() and not s.mask[:-1].any()
        if task.loss == "mse":
            assert s.y.shape == (5, task.output_size) and s.y.dtype == np.dtype(dtype)
        else:
            assert s.y.shape == (5,) and s.y.dtype == np.int64 and 0 <= s.y.min() and s.y.max() < task.output_size
    else:
        assert s.y.shape == (T, 5) and s.y.dtype == np.int64 and s.y.max() < task.output_size
    assert set(task.chance()) >= {"loss", "correct"}


@pytest.mark.parametrize("make", ALL)
def test_sampling_is_a_function_of_the_generator(make):
    task = make("float64")
    a, b, c = task.sample(rng(3), 4), task.sample(rng(3), 4), task.sample(rng(4), 4)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and np.array_equal(a.mask, b.mask)
    assert a.x.shape != c.x.shape or not np.array_equal(a.x, c.x) or not np.array_equal(a.y, c.y)


@pytest.mark.parametrize("make, name, value", [
    (lambda: NoiseFreeLongLag(p=1), "p", 1), (lambda: NoiseFreeLongLag(p=0), "p", 0),
    (lambda: NoiseFreeLongLag(p=2.5), "p", 2.5), (lambda: NoLocalRegularities(p=2), "p", 2),
    (lambda: DistractorLongLag(q=-1), "q", -1),
    (lambda: DistractorLongLag(p=0), "p", 0), (lambda: HS97Adding(T=15), "T", 15), (lambda: HS97Adding(T=18), "T", 18),
    (lambda: HS97Adding(T=True), "T", True), (lambda: HS97Multiplication(T=7), "T", 7),
    (lambda: HS97TemporalOrder(4), "relevant", 4), (lambda: BengioLatch(T=3, L=3), "T", 3),
    (lambda: BengioLatch(L=0), "L", 0), (lambda: BengioLatch(s=-0.1), "s", -0.1),
    (lambda: BengioLatch(s=float("nan")), "s", float("nan")),
    (lambda: PascanuTemporalOrder(min_length=5), "min_length", 5),
    (lambda: PascanuTemporalOrder(50, 40), "max_length", 40), (lambda: PascanuAddition(min_length=9), "min_length", 9),
    (lambda: ArjovskyCopy(T=0), "T", 0), (lambda: LeAdding(T=1), "T", 1), (lambda: ContinualEmbeddedReber(T=0), "T", 0),
    (lambda: HS97Adding(dtype="int32"), "dtype", "int32"),
    (lambda: LeAdding().sample(rng(), 0), "batch", 0), (lambda: EmbeddedReber().fixed_sets(rng(), 0), "n_train", 0),
    (lambda: EmbeddedReber().encode(["BTBTXSETX"]), "strings[0]", "BTBTXSETX"),
    (lambda: EmbeddedReber().encode(["BTBTXSETE", "BTBTXSE"]), "strings[1]", "BTBTXSE"),
])
def test_bad_arguments_name_the_argument_and_value(make, name, value):
    with pytest.raises(ValueError, match=re.escape(f"{name}={value!r}")):
        make()


# --- Embedded Reber -----------------------------------------------------------------------------------------------

def parse(string):
    """The test's own walk: per symbol, the set of legal next symbols and the (node, choice) taken at each choice."""
    legal, choices, state = [], [], "start"
    for i, c in enumerate(string):
        if state == "start":
            state = "branch"
            legal.append("TP")
        elif state == "branch":
            choices.append(("branch", c))
            state, branch, node = ("inner", c, 0)
            legal.append("B")
        elif state == "inner":
            if node == 0:
                node = 1
            elif node == 6:
                state = "close"
                legal.append(branch)
                continue
            else:
                choices.append((node, c))
                node = EDGES[node][c]
            legal.append("".join(EDGES[node]) if node in EDGES else "E")
        elif state == "close":
            state = "end"
            legal.append("E")
        else:
            legal.append("")
    return legal, choices


def test_reber_strings_follow_the_grammar_and_every_choice_is_a_fair_coin():
    task, r = EmbeddedReber(), rng(1)
    strings = [task.string(r) for _ in range(20000)]
    assert all(EMBEDDED.fullmatch(s) for s in strings)
    assert not EMBEDDED.fullmatch("BTBPVVEPE") and EMBEDDED.fullmatch("BTBPVVETE")
    counts = Counter(ch for s in strings for ch in parse(s)[1])
    for node in ["branch", 1, 2, 3, 4, 5]:
        options = "TP" if node == "branch" else EDGES[node]
        n = sum(counts[(node, c)] for c in options)
        first = counts[(node, options[0] if node == "branch" else next(iter(options)))]
        assert n > 5000 and abs(first / n - 0.5) <= K_SE * 0.5 / math.sqrt(n), (node, first, n)
    lengths = np.array([len(s) for s in strings])
    assert lengths.min() == 9  # B T B T X S E T E: the shortest, "as few as 9 steps"
    assert_mc(lengths, 12.0, "mean embedded string length 4 + E[m], E[m] = 8")


def test_reber_batches_encode_strings_with_padding_and_legal_next_symbols():
    task = EmbeddedReber()
    s = task.sample(rng(2), 64)
    for b in range(64):
        n = int(s.mask[:, b].sum())
        assert s.mask[:n, b].all() and not s.mask[n:, b].any() and np.all(s.x[n:, b] == 0)
        ids = decode(s.x[:n, b])
        string = "".join(SYMBOLS[i] for i in ids) + SYMBOLS[s.y[n - 1, b]]
        assert EMBEDDED.fullmatch(string) and n == len(string) - 1
        assert np.array_equal(s.y[: n - 1, b], ids[1:])
        legal = parse(string)[0]
        for t in range(n):
            assert "".join(c for c, on in zip(SYMBOLS, s.info["legal"][t, b]) if on) == "".join(
                c for c in SYMBOLS if c in legal[t])


def test_reber_fixed_sets_as_in_hs97():
    train, test = EmbeddedReber().fixed_sets(rng(3))
    assert len(train) == 256 and len(test) == 256 and not set(train) & set(test)
    assert all(EMBEDDED.fullmatch(s) for s in train + test)


def reber_losses(strings, closing):
    """Per string: summed squared error (over 7 units and all steps) of the grammar predictor (1/k on each of the k
    legal next symbols) with ``closing`` ('optimal', 'half': 1/2 on T and P, or 'T') at the closing step, whether
    it is correct by the paper's rule, and the number of steps."""
    legal, target, closing_step, starts = [], [], [], []
    for s in strings:
        starts.append(len(target))
        sets = parse(s)[0]
        for t in range(len(s) - 1):
            legal.append([c in sets[t] for c in SYMBOLS])
            target.append(SYMBOLS.index(s[t + 1]))
            closing_step.append(t == len(s) - 3)  # input: the inner E; target: the closing T or P
    legal, target, closing_step = np.array(legal), np.array(target), np.array(closing_step)
    out = legal / legal.sum(axis=1, keepdims=True)
    if closing == "half":
        out[closing_step] = [0, 0.5, 0.5, 0, 0, 0, 0]
    elif closing == "T":
        out[closing_step] = np.eye(7)[1]
    onehot = np.eye(7)[target]
    sums = np.add.reduceat(np.sum((out - onehot) ** 2, axis=1), starts)
    ok = np.all(out[onehot == 1].reshape(-1, 1) > np.where(onehot == 0, out, -1), axis=1)  # target unit on top
    right = np.logical_and.reduceat(ok | ~closing_step, starts) if closing != "optimal" else np.ones(len(starts), bool)
    return sums, np.diff(starts + [len(target)]), right


@pytest.fixture(scope="module")
def reber_strings():
    r = rng(4)
    return [EmbeddedReber().string(r) for _ in range(40000)]


@pytest.mark.parametrize("which, closing", [("optimal", "optimal"), ("loss", "half"), ("correct", "T")])
def test_reber_chance_levels_match_monte_carlo(which, closing, reber_strings):
    task, strings = EmbeddedReber(), reber_strings
    sums, steps, right = reber_losses(strings, closing)
    chance = task.chance()[which]
    assert_ratio_mc(sums / 7, steps, chance.loss, which)
    if chance.correct in (0.0, 1.0):
        assert right.mean() == chance.correct
    else:
        assert_mc(right, chance.correct, which)


def test_reber_rule_is_the_legal_units_most_active():
    task = EmbeddedReber()
    s = task.encode(["BTBTXSETE", "BPBPVVEPE"])
    legal = s.info["legal"].astype(float)
    out = legal / legal.sum(axis=-1, keepdims=True)
    assert task.correct(out, s).tolist() == [True, True]
    tie = out.copy()
    tie[6, 0, [1, 2]] = 0.5  # T and P tie at the closing step of the first string
    assert task.correct(tie, s).tolist() == [False, True]
    above = out.copy()
    above[0, 1, 3] = 0.6  # at step 0 (input B) of the second string S, not a legal next symbol, beats T and P
    assert task.correct(above, s).tolist() == [True, False]


def test_continual_stream_is_unsegmented_embedded_strings():
    task = ContinualEmbeddedReber(T=3000)
    s = task.sample(rng(5), 2)
    assert s.mask.all()
    for b in range(2):
        ids = decode(s.x[:, b])
        stream = "".join(SYMBOLS[i] for i in ids) + SYMBOLS[s.y[-1, b]]
        assert np.array_equal(s.y[:-1, b], ids[1:])
        whole = re.match(rf"(?:B([TP]){REBER}\1E)+", stream)
        assert whole and whole.end() > len(stream) - 200 and stream[whole.end():][:1] in ("B", "")
        ends = [m.end() for m in re.finditer(r"E(?=B[TP]B)", stream[:whole.end()])]
        assert len(ends) > 100 and all(s.info["legal"][e - 1, b].tolist() == [1, 0, 0, 0, 0, 0, 0] for e in ends)


@pytest.mark.parametrize("which, closing", [("optimal", "optimal"), ("loss", "half")])
def test_continual_chance_levels_match_monte_carlo(which, closing):
    task = ContinualEmbeddedReber(T=300000)
    s = task.sample(rng(6), 1)
    stream = "".join(SYMBOLS[i] for i in decode(s.x[:, 0]))
    strings = [m.group(0) for m in re.finditer(rf"B([TP]){REBER}\1E", stream)]
    assert "".join(strings) == stream[: sum(map(len, strings))] and len(strings) > 20000
    sums, steps, _ = reber_losses(strings, closing)
    # in a stream each string has one more step, its E predicting the next B exactly (no error)
    assert_ratio_mc(sums / 7, steps + 1, task.chance()[which].loss, which)


# --- HS97 Experiment 2 ----------------------------------------------------------------------------------------------

def test_2a_sequences_are_the_two_of_the_paper():
    p = 7
    task = NoiseFreeLongLag(p=p)
    s = task.sample(rng(7), 4000)
    ids = decode(s.x)
    x_id, y_id = p - 1, p  # a_p = x, a_{p+1} = y
    assert s.x.shape[0] == p and s.mask.all()
    assert set(ids[0]) == {x_id, y_id} and np.all(ids[1:] == np.arange(p - 1)[:, None])
    assert np.array_equal(s.y[:-1], ids[1:]) and np.array_equal(s.y[-1], ids[0])
    assert_mc(ids[0] == y_id, 0.5, "each sequence with probability 0.5")


def test_2a_chance_levels():
    p = 7
    task = NoiseFreeLongLag(p=p)
    s = task.sample(rng(8), 20000)
    out = np.eye(p + 1)[s.y]
    out[-1] = 0.0
    out[-1, :, [p - 1, p]] = 0.5
    assert np.mean((out - np.eye(p + 1)[s.y]) ** 2) == pytest.approx(task.chance()["loss"].loss, rel=1e-12)
    assert not task.correct(out, s).any()
    out[-1] = np.eye(p + 1)[p - 1]  # always x
    sq = np.mean((out - np.eye(p + 1)[s.y]) ** 2, axis=(0, 2))
    assert_mc(sq, task.chance()["correct"].loss, "always x")
    assert_mc(task.correct(out, s), 0.5, "always x")
    wrong = np.eye(p + 1)[s.y] * 0.76 + 0.12  # every error 0.24 or 0.12: within 0.25
    assert task.correct(wrong, s).all()
    wrong[3, 0, 0] += 0.14  # one unit of one step 0.26 away (or more)
    assert task.correct(wrong, s).tolist()[:2] == [False, True]


def test_2b_random_middle_and_chance_levels():
    p = 6
    task = NoLocalRegularities(p=p)
    s = task.sample(rng(18), 60000)
    ids = decode(s.x)
    assert set(ids[0]) == {p - 1, p} and np.array_equal(s.y[-1], ids[0]) and np.array_equal(s.y[:-1], ids[1:])
    counts = np.bincount(ids[1:].ravel(), minlength=p + 1)
    assert counts[p - 1:].sum() == 0 and np.all(np.abs(counts[:p - 1] / counts.sum() - 1 / (p - 1)) < 0.003)
    onehot = np.eye(p + 1)[s.y]
    base = np.zeros_like(onehot)
    base[:-1, :, : p - 1] = 1 / (p - 1)
    for which, last in [("optimal", onehot[-1]), ("loss", np.eye(p + 1)[[p - 1, p]].mean(axis=0)),
                        ("correct", np.eye(p + 1)[p - 1])]:
        out = base.copy()
        out[-1] = last
        assert_mc(np.mean((out - onehot) ** 2, axis=(0, 2)), task.chance()[which].loss, which)
        right = task.correct(out, s)
        if task.chance()[which].correct in (0.0, 1.0):
            assert right.mean() == task.chance()[which].correct
        else:
            assert_mc(right, task.chance()[which].correct, which)


def test_2c_structure_and_geometric_length():
    q, p = 12, 5
    task = DistractorLongLag(q=q, p=p)
    r, ks, seen = rng(9), [], Counter()
    for _ in range(20000):
        s = task.sample(r, 2)
        ids = decode(s.x)
        T = ids.shape[0]
        assert np.all(ids[0] == p + 1) and np.all(ids[-1] == p)  # b first, the trigger e last
        assert np.array_equal(ids[1] - (p + 2), s.y)  # x -> 0, y -> 1
        assert np.all(ids[2:-1] < p)
        ks.append(T - 3 - q)
        seen.update(ids[2:-1].ravel().tolist())
    ks = np.array(ks)
    assert ks.min() == 0  # minimal length q + 4, counting the final symbol the net must output
    assert_mc(ks == 0, 0.1, "P(k = 0) = 1/10")
    assert_mc(ks >= 10, 0.9**10, "P(k >= 10) = (9/10)^10")
    assert_mc(ks + q + 4, q + 13, "expected length 4 + q + E[k]")  # the paper prints q + 14, its sum gives q + 13
    assert set(seen) == set(range(p)) and max(seen.values()) / min(seen.values()) < 1.05


def test_2c_chance_and_rule():
    task = DistractorLongLag(q=3, p=4)
    y = targets(task, 40000, 100)
    assert_mc(y == 0, 0.5, "x or y")
    assert task.chance()["loss"].loss == 0.25 and task.chance()["correct"].correct == 0.5
    s = task.sample(rng(), 3)
    out = np.eye(2)[s.y] * 0.62 + 0.19
    assert task.correct(out, s).all() and not task.correct(np.full((3, 2), 0.5), s).any()
    assert not task.correct(np.eye(2)[s.y] * 0.58 + 0.21, s).any()


# --- HS97 Experiments 4 and 5 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [HS97Adding, HS97Multiplication])
def test_marked_pairs_follow_the_paper(cls):
    T = 40
    task, r = cls(T=T), rng(10)
    lengths, first, second, zero_marked = Counter(), Counter(), Counter(), []
    for _ in range(3000):
        s = task.sample(r, 16)
        n = s.x.shape[0]
        lengths[n] += 1
        v, m = s.x[..., 0], s.x[..., 1]
        assert T <= n <= T + T // 10 and set(np.unique(m)) <= {-1.0, 0.0, 1.0}
        assert np.all((v >= cls.low) & (v <= 1.0))
        assert np.all((m == 1).sum(axis=0) == 2) and np.all((m[1:-1] == -1).sum(axis=0) == 0)
        for b in range(16):
            pos = np.flatnonzero(m[:, b] == 1)
            assert pos[0] < 10 and pos[1] <= T // 2 - 1  # one of the first ten; one of the first T/2 - 1 unmarked
            assert m[n - 1, b] == -1 and (m[0, b] == -1) != (pos[0] == 0)
            a, c = v[pos, b]
            zero_marked.append(pos[0] == 0)
            if pos[0] == 0:  # the first pair's value does not count
                want = 0.5 + c / 4 if cls is HS97Adding else c
            else:
                want = 0.5 + (a + c) / 4 if cls is HS97Adding else a * c
            assert s.y[b, 0] == pytest.approx(want, abs=1e-12)
            first[pos[0]] += 1
            second[pos[1]] += 1
    assert set(lengths) == set(range(T, T + T // 10 + 1))
    assert set(first) == set(range(10)) and set(second) == set(range(1, T // 2))  # the later mark <= T/2 - 1
    assert_mc(zero_marked, 0.1 + 0.9 / (T // 2 - 1), "P(first pair marked)")


def test_hs97_adding_chance_levels():
    task = HS97Adding(T=100)
    y = targets(task, 10**6, 20000)[:, 0]
    best = task.chance()["loss"]
    assert task.chance()["correct"] == best
    mse, se = assert_mc((y - 0.5) ** 2, best.loss, "MSE of the constant 0.5")
    assert abs(mse - 1 / 24) > 10 * se  # 1/24 would ignore that the first pair's value does not count
    assert_mc(np.abs(y - 0.5) < 0.04, best.correct, "constant 0.5 within 0.04")
    assert_mc(y, 0.5, "E[y] = 0.5, the best constant")
    for c in (0.47, 0.53):  # the density peaks at 1/2: moving the constant loses correct sequences
        assert np.mean(np.abs(y - c) < 0.04) < np.mean(np.abs(y - 0.5) < 0.04)


def test_hs97_multiplication_chance_levels():
    task = HS97Multiplication(T=100)
    y = targets(task, 10**6, 20000)[:, 0]
    at_mean, best = task.chance()["loss"], task.chance()["correct"]
    p0 = 0.1 + 0.9 / 49  # the first pair marked: by X1 (1/10) or by X2 (9/10 times 1/(T/2 - 1))
    mu = p0 * 0.5 + (1 - p0) * 0.25
    assert_mc(y, mu, "E[y]")
    assert_mc((y - mu) ** 2, at_mean.loss, "MSE of the constant E[y]")
    assert_mc(np.abs(y - mu) < 0.04, at_mean.correct, "constant E[y] within 0.04")
    assert_mc((y - 0.04) ** 2, best.loss, "MSE of the constant 0.04")
    assert_mc(np.abs(y - 0.04) < 0.04, best.correct, "constant 0.04 within 0.04")
    assert best.correct > 2 * at_mean.correct
    for c in (0.03, 0.05, 0.1):
        assert np.mean(np.abs(y - c) < 0.04) < np.mean(np.abs(y - 0.04) < 0.04)


def test_hs97_rule_is_absolute_error_below_004():
    task = HS97Adding()
    s = task.sample(rng(), 4)
    out = s.y + np.array([[0.039], [-0.039], [0.041], [-0.041]])
    assert task.correct(out, s).tolist() == [True, True, False, False]


# --- HS97 Experiment 6 ----------------------------------------------------------------------------------------------

RULES = {2: {"XX": "Q", "XY": "R", "YX": "S", "YY": "U"},
         3: {"XXX": "Q", "XXY": "R", "XYX": "S", "XYY": "U", "YXX": "V", "YXY": "A", "YYX": "B", "YYY": "C"}}
WINDOWS = {2: [(10, 20), (50, 60)], 3: [(10, 20), (33, 43), (66, 76)]}


@pytest.mark.parametrize("relevant", [2, 3])
def test_temporal_order_follows_the_paper(relevant):
    task, r = HS97TemporalOrder(relevant), rng(11)
    names = "abcdEBXY"
    lengths, positions = Counter(), [Counter() for _ in range(relevant)]
    for _ in range(1500):
        s = task.sample(r, 20)
        ids = decode(s.x)
        n = ids.shape[0]
        lengths[n] += 1
        assert np.all(ids[0] == 4) and np.all(ids[-1] == 5)  # starts with E, ends with the trigger B
        for b in range(20):
            seq = "".join(names[i] for i in ids[:, b])
            where = [t + 1 for t, c in enumerate(seq) if c in "XY"]  # positions counted from 1 at the E
            assert len(where) == relevant and set(seq[1:-1]) <= set("abcdXY")
            for k, (t, (lo, hi)) in enumerate(zip(where, WINDOWS[relevant])):
                assert lo <= t <= hi
                positions[k][t] += 1
            order = "".join(seq[t - 1] for t in where)
            assert task.output_symbols[s.y[b]] == RULES[relevant][order]
    assert set(lengths) == set(range(100, 111))
    assert all(set(positions[k]) == set(range(lo, hi + 1)) for k, (lo, hi) in enumerate(WINDOWS[relevant]))


@pytest.mark.parametrize("relevant", [2, 3])
def test_temporal_order_chance_levels(relevant):
    task, K = HS97TemporalOrder(relevant), 2**relevant
    y = targets(task, 200000, 5000, seed=12)
    onehot = np.eye(K)[y]
    assert np.mean((1 / K - onehot) ** 2) == pytest.approx(task.chance()["loss"].loss, rel=1e-12)
    assert_mc(np.mean((np.eye(K)[0] - onehot) ** 2, axis=1), task.chance()["correct"].loss, "constant Q")
    assert_mc(y == 0, task.chance()["correct"].correct, "constant Q correct")
    assert_mc(y == K - 1, 1 / K, "classes uniform")
    s = task.sample(rng(), 2)
    assert task.correct(np.eye(K)[s.y] * 0.42 + 0.29, s).all()  # errors 0.29
    assert not task.correct(np.eye(K)[s.y] * 0.38 + 0.31, s).any()  # errors 0.31
    assert not task.correct(np.full((2, K), 1 / K), s).any()


# --- BSF94 latch ------------------------------------------------------------------------------------------------------

def test_latch_gives_noise_after_the_free_inputs_and_the_class():
    task = BengioLatch(T=30, L=3, s=0.2)
    s = task.sample(rng(13), 40000)
    assert np.all(s.x[:3] == 0)
    assert_mc(s.x[3:, :, 0] ** 2, 0.2, "noise variance s")
    assert_mc(s.x[3:, :, 0], 0.0, "noise mean 0")
    assert np.array_equal(s.y[:, 0], np.where(s.info["labels"] == 1, 0.8, -0.8))
    assert_mc(s.info["labels"], 0.5, "classes equally likely")
    assert np.mean(s.y[:, 0] ** 2) == pytest.approx(task.chance()["loss"].loss)
    assert_mc((0.8 - s.y[:, 0]) ** 2, task.chance()["correct"].loss, "constant 0.8")
    assert_mc(task.correct(np.full((40000, 1), 0.8), s), 0.5, "constant 0.8 correct")
    assert not task.correct(np.zeros((40000, 1)), s).any()


# --- PMB13 ------------------------------------------------------------------------------------------------------------

def test_pascanu_temporal_order_follows_the_code():
    task, r = PascanuTemporalOrder(30, 60), rng(14)
    lengths, p0s, p1s = Counter(), Counter(), Counter()
    for _ in range(2000):
        s = task.sample(r, 8)
        ids = decode(s.x)
        n = ids.shape[0]
        lengths[n] += 1
        w = int(n * 0.1)
        for b in range(8):
            rel = np.flatnonzero(ids[:, b] < 2)
            assert len(rel) == 2 and w <= rel[0] < 2 * w and int(n * 0.5) <= rel[1] < int(n * 0.5) + w
            assert s.y[b] == ids[rel[0], b] + 2 * ids[rel[1], b]
            p0s[rel[0] - w] += 1
            p1s[rel[1] - int(n * 0.5)] += 1
    assert set(lengths) == set(range(30, 60))  # RNN.py: min_length + randint(max_length - min_length)
    assert set(p0s) == set(range(5)) and set(p1s) == set(range(5))
    y = targets(PascanuTemporalOrder(50), 100000, 1000)
    assert_mc(y == 0, 0.25, "argmax of the uniform prediction (class 0) right")
    assert task.chance()["loss"].loss == pytest.approx(math.log(4))
    s = task.sample(rng(), 3)
    logits = np.eye(4)[s.y] * 0.1
    assert task.correct(logits, s).all() and not task.correct(np.eye(4)[(s.y + 1) % 4], s).any()


def test_pascanu_addition_follows_the_code():
    L = 50
    task, r = PascanuAddition(L), rng(15)
    lengths = Counter()
    for _ in range(3000):
        s = task.sample(r, 8)
        n = s.x.shape[0]
        lengths[n] += 1
        m, v = s.x[..., 0], s.x[..., 1]
        assert np.all((m == 1).sum(axis=0) == 2) and np.all((v >= 0) & (v < 1))
        for b in range(8):
            p0, p1 = np.flatnonzero(m[:, b])
            assert p0 < int(n * 0.1) and int(n * 0.1) <= p1 < int(n * 0.1) + int(n * 0.4)
            assert s.y[b, 0] == pytest.approx((v[p0, b] + v[p1, b]) / 2)
    assert set(lengths) == set(range(L, L + int(L * 0.1)))  # l = length + randint(int(0.1 length))
    y = targets(PascanuAddition(100), 10**6, 20000)[:, 0]
    c = task.chance()["loss"]
    assert_mc((y - 0.5) ** 2, c.loss, "MSE of 0.5")
    assert_mc((y - 0.5) ** 2 <= 0.04, c.correct, "squared error of 0.5 at most 0.04")
    s = task.sample(rng(), 2)
    assert task.correct(s.y + [[0.199], [-0.201]], s).tolist() == [True, False]


# --- ASB16, LJH15 -----------------------------------------------------------------------------------------------------

def test_copy_layout_is_memory_problem_py():
    T = 13
    task = ArjovskyCopy(T=T)
    s = task.sample(rng(16), 3000)
    ids = decode(s.x)
    assert ids.shape[0] == T + 20 and task.input_size == 10 and task.output_size == 9
    assert np.all((ids[:10] >= 1) & (ids[:10] <= 8)) and np.all(ids[10:T + 9] == 0)
    assert np.all(ids[T + 9] == 9) and np.all(ids[T + 10:] == 0)
    assert np.all(s.y[:T + 10] == 0) and np.array_equal(s.y[T + 10:], ids[:10])
    assert set(np.unique(ids[:10])) == set(range(1, 9))
    probs = np.zeros((T + 20, 3000, 9))
    probs[:T + 10, :, 0] = 1.0
    probs[T + 10:, :, 1:] = 1 / 8
    picked = np.take_along_axis(probs, s.y[..., None], axis=-1)[..., 0]
    assert np.mean(-np.log(picked)) == pytest.approx(task.chance()["loss"].loss, rel=1e-12)
    assert task.chance()["loss"].loss == pytest.approx(10 * math.log(8) / (T + 20))
    assert_mc(s.y[T + 10:] == 1, 1 / 8, "a fixed guess at a recall step")  # so all 10 right: 8^-10
    assert task.correct(np.eye(9)[s.y], s).all() and not task.correct(probs, s).all()


def test_le_adding_structure_and_baseline():
    T = 30
    task = LeAdding(T=T)
    s = task.sample(rng(17), 20000)
    v, m = s.x[..., 0], s.x[..., 1]
    assert np.all(m[: T // 2].sum(axis=0) == 1) and np.all(m[T // 2:].sum(axis=0) == 1)
    assert np.all(m.sum(axis=1) > 0)  # every step of both halves is reached
    assert np.allclose(s.y[:, 0], (v * m).sum(axis=0))
    y = targets(LeAdding(100), 10**6, 20000)[:, 0]
    assert_mc((y - 1.0) ** 2, task.chance()["loss"].loss, "MSE of the constant 1")
    with pytest.raises(ValueError, match="no per-sequence success rule"):
        task.correct(s.y, s)
