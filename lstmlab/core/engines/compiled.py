"""The compiled engine (the default): each layer's time loop, forward and backward, in one numba kernel.

It computes what :mod:`lstmlab.core.engines.reference` computes, in the same order of operations where it
matters, and agrees with it to about 1e-14 relative in float64 (tests hold it to 1e-12, and to 1e-4 in
float32); the kernels are in :mod:`lstmlab.core.engines.kernels`.

Compiled code is cached on disk (numba's ``cache=True``): in ``__pycache__`` beside the kernels' source
when that directory is writable, else in the user's cache directory (numba's own fallback for a read-only
install), or wherever ``NUMBA_CACHE_DIR`` says. The first process to use a cell and dtype compiles its kernels
(:func:`ready`; seconds per set, one process at a time under a file lock), later ones load them, far faster
(docs/performance.md#training). :func:`warm` does that ahead of the first pass; ``scripts/install.sh`` at install.

A pass cuts its batch into shards (:func:`shards`, fixed by the batch size alone), each kernel call runs one
shard, and with :func:`set_threads` above one the shards run side by side in threads. Every shard's rows come
from the same calls whatever the number of threads, and the shards' partial sums (dWx, db, dWh) are added in
shard order, so a pass gives bit-identical results with any number of threads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from functools import reduce

import numba
import numpy as np
from filelock import FileLock, Timeout

from lstmlab.core.config import CAROUSEL_CELLS, CELLS, GRADIENTS, MEMORY_CELLS, SOURCE_BLOCKS
from lstmlab.core.engines import blas, kernels, memory
from lstmlab.core.engines.base import Flow, Unroll

VERSION = f"5 (numba {numba.__version__}, numpy {np.__version__}, {blas.VERSION})"

_CONSTANTS = {np.dtype(d): kernels.constants(d) for d in (np.float64, np.float32)}

# A shard has at least SHARD_ROWS examples and a batch at most MAX_SHARDS shards: every shard makes small products
# of its own each step, which a one-thread pass pays for, more the smaller the shards (docs/performance.md#training).
SHARD_ROWS = 32
MAX_SHARDS = 2
# A multiple of OpenBLAS's row blocks (GEMM_P: 384 for float32 on AVX-512 machines, 512 or 768 on others): a
# row's sum may depend on where its block starts, so parts cut at a block's start keep every bit.
MATMUL_ROWS = 1536

_threads = 1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_local = threading.local()  # a thread's own setting (using_threads)


def shards(B: int) -> list[tuple[int, int]]:
    """The batch's shards as row ranges [b0, b1): B // SHARD_ROWS of them, 1 to MAX_SHARDS, near-equal."""
    return _spans(B, max(1, min(MAX_SHARDS, B // SHARD_ROWS)))


def _spans(N: int, n: int) -> list[tuple[int, int]]:
    """range(N) cut into n near-equal ranges [start, stop), in order."""
    return [(N * s // n, N * (s + 1) // n) for s in range(n)]


def set_threads(n: int) -> int:
    """How many threads a pass may run its shards in (1: the calling thread alone); returns it.

    Process-wide: set by the programs' entry points (:func:`lstmlab.training.runtime.configure_worker`), never by a pass.
    More threads than MAX_SHARDS are never used.
    """
    global _threads
    _threads = _checked(n)
    return n


def _checked(n: int) -> int:
    """``n`` if it is a count of threads, else ValueError naming it."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads={n!r}: expected an integer >= 1")
    return n


def threads() -> int:
    """The threads a pass of the calling thread may run its shards in (:func:`set_threads`, :func:`using_threads`)."""
    return getattr(_local, "threads", _threads)


@contextlib.contextmanager
def using_threads(n: int):
    """Within the block, the passes the calling thread runs may use ``n`` threads (see :func:`set_threads`); other
    threads' passes and the process-wide setting are untouched. For a caller that knows the cores are its own
    for the moment (a PyTorch recorder computing between the steps of a training loop, whose threads wait)."""
    before = getattr(_local, "threads", None)
    _local.threads = _checked(n)
    try:
        yield n
    finally:
        if before is None:
            del _local.threads
        else:
            _local.threads = before


def each(fn, items: list) -> list:
    """[fn(item) for item in items], side by side in the threads the calling thread may use (:func:`threads`, at
    most MAX_SHARDS): the calling thread runs the first item and each of the pool's threads one of the next, then
    whichever thread is free takes the next item left. Returns only when every call has ended, the first failed
    item's exception raised (no item starts after a failure). ``fn`` runs numpy, BLAS or kernels, which let go
    of the GIL; a pass within it uses one thread."""
    n = min(threads(), MAX_SHARDS, len(items))
    if n <= 1:
        return [fn(item) for item in items]
    global _pool
    with _pool_lock:  # one pool for every thread's passes, started by the first that needs it
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_SHARDS - 1, thread_name_prefix="lstmlab-shard",
                                       initializer=_one_thread)
    results: list = [None] * len(items)
    errors: dict[int, BaseException] = {}
    lock, left = threading.Lock(), iter(range(n, len(items)))

    def run(i: int | None) -> None:
        while i is not None:
            try:
                results[i] = fn(items[i])
            except BaseException as e:  # noqa: BLE001 -- raised by the calling thread once every item has ended
                errors[i] = e
            with lock:
                i = None if errors else next(left, None)

    futures = [_pool.submit(run, i) for i in range(1, n)]
    try:
        with using_threads(1):
            run(0)
    finally:
        wait(futures)  # no thread goes on writing into the arrays after an error here
    if errors:
        raise errors[min(errors)]
    return results


def _one_thread() -> None:
    _local.threads = 1  # a pool thread's passes stay in it: the pool's one thread never waits for itself


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for a (..., K) array and a (K, N) matrix: (..., N), by the engine's own BLAS at one thread
    (:func:`lstmlab.core.engines.blas.matmul`, with numpy's routine for the shape); the leading axes of ``a`` are the
    rows of one product (numpy's ``@`` makes one product per leading index: the same sums, rounded differently
    where BLAS blocks them differently). With threads (:func:`threads`) and at least 2 MATMUL_ROWS rows, the rows
    are cut at multiples of MATMUL_ROWS into one product per thread, side by side: BLAS computes each row of a
    product alone, in blocks of rows that the cut keeps whole, so the cut changes no bit (tests/core/test_engines.py)."""
    a2 = a if a.ndim == 2 else a.reshape(-1, a.shape[-1])
    rows = a2.shape[0]
    n = min(threads(), MAX_SHARDS, rows // MATMUL_ROWS)
    if n <= 1 or b.ndim != 2 or not a2.flags.c_contiguous:
        out = blas.matmul(a2, b)
    else:
        cuts = [MATMUL_ROWS * (rows // MATMUL_ROWS * s // n) for s in range(n)] + [rows]
        out = np.concatenate(each(lambda s: blas.matmul(a2[cuts[s] : cuts[s + 1]], b), list(range(n))))
    return out if a.ndim == 2 else out.reshape(a.shape[:-1] + (b.shape[1],))


def unroll(cell: str, x: np.ndarray, Wx: np.ndarray, b: np.ndarray, Wh: np.ndarray, bhn=None, h0=None,
           c0=None) -> Unroll:
    """Run one layer over every step of its input ``x`` (T, B, I) from ``h0``, ``c0`` (B, H), zero by default.

    The cache is (tanh(c_t),) for the LSTM, (tanh(c_t / 2),) for lstm97 and lstm97fc (h(c_t)), (hn_t,) for the
    GRU (the candidate's hidden part), () for the RNNs and lstm97ig; lstm97fc's recurrent input
    u_t = [h_t, i_t, o_t] is the Unroll's ``src``.
    """
    ready(cell, x.dtype)
    return _unroll(cell, x, Wx, b, Wh, bhn, h0, c0)


def _unroll(cell, x, Wx, b, Wh, bhn=None, h0=None, c0=None) -> Unroll:
    blas.ensure_one_thread()
    T, B, _ = x.shape
    GH = Wh.shape[1]
    H = GH // _GATE_BLOCKS[KERNEL_SET[cell]]
    _check_sources(cell, Wh, H)
    dtype = x.dtype
    K = _CONSTANTS[dtype]
    x, Wx, b, Wh = (np.ascontiguousarray(a) for a in (x, Wx, b, Wh))
    h = memory.empty((T + 1, B, H), dtype)
    h[0] = 0.0 if h0 is None else h0
    c, gates, cache, u = None, h[1:], (), None
    if cell in kernels.RNN_ACTIVATIONS:
        kernel, arrays = kernels.rnn_forward, (x, Wx, b, Wh, h)
        after = (kernels.RNN_ACTIVATIONS[cell],)
    else:
        gates, aux = memory.empty((T, B, GH), dtype), memory.empty((T, B, H), dtype)
        cache, after = (aux,), ()
        if cell in MEMORY_CELLS:
            c = memory.empty((T + 1, B, H), dtype)
            c[0] = 0.0 if c0 is None else c0
            if cell == "lstm":
                kernel, arrays = kernels.lstm_forward, (x, Wx, b, Wh, h, c, gates, aux)
            elif cell == "lstm97ig":
                kernel, arrays, cache = kernels.lstm97ig_forward, (x, Wx, b, Wh, h, c, gates), ()
            else:
                kernel, arrays = kernels.lstm97_forward, (x, Wx, b, Wh, h, c, gates, aux, _sources(cell, h, Wh))
                u = arrays[-1] if arrays[-1].shape[0] else None
        else:
            kernel, arrays = kernels.gru_forward, (x, Wx, b, Wh, np.ascontiguousarray(bhn), h, gates, aux)
    each(lambda rows: kernel(*arrays, K, *after, *rows), shards(B))
    return Unroll(h, c, gates, cache, u)


def _check_sources(cell: str, Wh: np.ndarray, H: int) -> None:
    """ValueError unless Wh has a row per unit of the cell's recurrent input (the kernels do not check bounds)."""
    S = SOURCE_BLOCKS.get(cell, 1) * H
    if Wh.shape != (S, _GATE_BLOCKS[KERNEL_SET[cell]] * H):
        raise ValueError(f"Wh: shape {Wh.shape} for cell {cell!r} with {H} units; expected "
                         f"{(S, _GATE_BLOCKS[KERNEL_SET[cell]] * H)}")


def _sources(cell: str, h: np.ndarray, Wh: np.ndarray) -> np.ndarray:
    """The recurrent input u for lstm97_forward to fill: (T + 1, B, 3H) for lstm97fc, with u_0 = [h_0, 0, 0] from
    ``h`` (T + 1, B, H); for lstm97 an array without rows (the kernel reads h)."""
    if cell not in SOURCE_BLOCKS:
        return np.empty((0, 0, 0), dtype=h.dtype)
    T1, B, H = h.shape
    u = memory.empty((T1, B, Wh.shape[0]), h.dtype)
    u[0] = 0.0
    u[0, :, :H] = h[0]
    return u


def backprop(cell: str, run: Unroll, inject: np.ndarray, Wh: np.ndarray, overwrite_inject: bool = False,
             x: np.ndarray | None = None, gradient: str = "full", dc_last: np.ndarray | None = None) -> Flow:
    """Backpropagation through time over one layer, t = T ... 1 (see reference.backprop; ``gradient`` "full" or
    "truncated", config.GRADIENTS).

    ``overwrite_inject``: dL/dh_t may be accumulated in inject's memory (the caller has no further use for it).
    ``x``: the layer's input (T, B, I), given when the weight gradients are wanted: then dWh is summed here (in
    the shards' time spans, side by side), and with I <= kernels.SMALL_INPUT the kernels sum dWx and db step by
    step (in float64, returned in the dtype); otherwise the flow leaves them to the caller.
    ``dc_last`` (B, H), cells with a cell state only (config.MEMORY_CELLS): dL/dc_T arriving from outside the
    layer (:func:`_handing_on`).
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient={gradient!r}: expected one of {', '.join(map(repr, GRADIENTS))}")
    ready(cell, inject.dtype)
    if dc_last is None:
        return _backprop(cell, run, inject, Wh, overwrite_inject, x, gradient)
    if cell not in MEMORY_CELLS:
        raise ValueError(f"dc_last: given for cell {cell!r}, which has no cell state; expected None")
    T = inject.shape[0]
    padded, dh, xs = _handing_on(cell, run, inject, dc_last, x)
    flow = _backprop(cell, padded, dh, Wh, True, xs, gradient)
    return Flow(flow.dh[:T], flow.dc[:T], flow.da[:T], flow.da[:T], flow.dWx, flow.db, flow.dWh)


def _handing_on(cell: str, run: Unroll, inject: np.ndarray, dc_last: np.ndarray, x: np.ndarray | None):
    """A memory cell's run, inject and input with a step T + 1 appended that hands ``dc_last`` to c_T, so that the
    kernel, whose carousel starts from zero, starts it from dc_last: (run, inject, x) of T + 1 steps.

    LSTM: the step's gates are i = 0, f = 1, n = 0, o = 1 and its tanh(c) is 0, its inject dc_last; backward it
    gives dc_{T+1} = dc_last * o * (1 - 0) = dc_last and hands dc_{T+1} f = dc_last on to c_T. lstm97: i = 0, n = 0,
    o = 2, h(c) = 0: dc_{T+1} = dc_last * o * (1 - 0) / 2 = dc_last, handed on with weight 1. Nothing else is added
    (each da is a product with i (1 - i), f (1 - f), i, or h(c) = tanh(c) = 0: exactly 0), all exact in floating
    point. Its x is zero and its h_{T+1} unread, so the weight sums are unchanged. lstm97fc as lstm97: the
    step's da is 0, so it hands nothing on through u_T Wh either. lstm97ig: i = 0, n = 0: dc_{T+1} = dc_last.
    """
    T, B, H = inject.shape
    dtype = inject.dtype
    gates = memory.empty((T + 1,) + run.gates.shape[1:], dtype)
    gates[:T] = run.gates
    gates[T] = 0.0
    if cell == "lstm":  # blocks i f n o
        gates[T, :, H : 2 * H] = 1.0
        gates[T, :, 3 * H :] = 1.0
    elif cell != "lstm97ig":  # lstm97 and lstm97fc, blocks i n o
        gates[T, :, 2 * H :] = 2.0
    cache = ()
    if run.cache:
        aux = memory.empty((T + 1, B, H), dtype)
        aux[:T] = run.cache[0]
        aux[T] = 0.0
        cache = (aux,)
    dh = memory.empty((T + 1, B, H), dtype)
    dh[:T] = inject
    dh[T] = dc_last
    h, src, xs = run.h, run.src, None
    if x is not None:  # dWh sums u_{t-1}^T da_t over the T + 1 steps: the step's da is 0
        h, src = (None if a is None else _one_more_row(a) for a in (run.h, run.src))
        xs = np.zeros((T + 1,) + x.shape[1:], dtype=dtype)
        xs[:T] = x
    return Unroll(h, run.c, gates, cache, src), dh, xs


def _one_more_row(a: np.ndarray) -> np.ndarray:
    """``a`` (R, ...) with a row of zeros appended: (R + 1, ...)."""
    out = memory.empty((a.shape[0] + 1,) + a.shape[1:], a.dtype)
    out[:-1] = a
    out[-1] = 0.0
    return out


def _backprop(cell, run, inject, Wh, overwrite_inject=False, x=None, gradient="full") -> Flow:
    blas.ensure_one_thread()
    T, B, H = inject.shape
    GH = run.gates.shape[2]
    _check_sources(cell, Wh, H)
    dtype = inject.dtype
    K = _CONSTANTS[dtype]
    Wh = np.ascontiguousarray(Wh)
    dh = _own(inject, overwrite_inject)
    da = memory.empty((T, B, GH), dtype)
    parts = shards(B)
    sums = x is not None and x.shape[2] <= kernels.SMALL_INPUT
    if sums:
        x = np.ascontiguousarray(x, dtype=dtype)
        dWx, db = np.zeros((len(parts), x.shape[2], GH)), np.zeros((len(parts), GH))
    else:
        dWx, db = np.empty((len(parts), 0, GH)), np.empty((len(parts), 0))
    xs = x if sums else np.empty((0, B, 1), dtype=dtype)
    dc, dhh = None, da
    after = (gradient == "full",)
    if cell in kernels.RNN_ACTIVATIONS:
        kernel, arrays = kernels.rnn_backward, (run.h, Wh, dh, da)
        after = (kernels.RNN_ACTIVATIONS[cell],) + after
    elif cell == "lstm":
        dc = memory.empty((T, B, H), dtype)
        kernel, arrays = kernels.lstm_backward, (run.c, run.gates, run.cache[0], Wh, dh, dc, da)
    elif cell == "lstm97ig":
        dc = memory.empty((T, B, H), dtype)
        kernel, arrays = kernels.lstm97ig_backward, (run.gates, Wh, dh, dc, da)
    elif cell in CAROUSEL_CELLS:
        dc = memory.empty((T, B, H), dtype)
        kernel, arrays = kernels.lstm97_backward, (run.gates, run.cache[0], Wh, dh, dc, da)
    else:
        dhh = memory.empty((T, B, GH), dtype)
        kernel, arrays = kernels.gru_backward, (run.h, run.gates, run.cache[0], Wh, dh, da, dhh)
    each(lambda s: kernel(*arrays, xs, dWx[s], db[s], K, *after, *parts[s]), list(range(len(parts))))
    if x is None:
        return Flow(dh, dc, da, dhh)
    dWh = _time_sum(run.sources[:-1], dhh, len(parts))
    if not sums:
        return Flow(dh, dc, da, dhh, dWh=dWh)
    return Flow(dh, dc, da, dhh, _in_order(dWx).astype(dtype, copy=False), _in_order(db).astype(dtype, copy=False),
                dWh)


def _time_sum(a: np.ndarray, d: np.ndarray, n: int) -> np.ndarray:
    """sum_t a_t^T d_t for (T, B, M) and (T, B, N): one product per time span of n near-equal ones (side by
    side when threads allow), added in order. A span's rows are contiguous, unlike a shard's."""
    T, M, N = a.shape[0], a.shape[2], d.shape[2]
    return _in_order(each(lambda span: matmul(a[slice(*span)].reshape(-1, M).T, d[slice(*span)].reshape(-1, N)),
                           _spans(T, n)))


def _in_order(parts) -> np.ndarray:
    """parts[0] + parts[1] + ..., added in that order."""
    return reduce(np.add, parts)


def _own(a: np.ndarray, overwrite: bool) -> np.ndarray:
    """``a`` itself when it may be overwritten and is a writable C-contiguous array, else a C-contiguous copy."""
    if overwrite and a.flags.c_contiguous and a.flags.writeable:
        return a
    out = memory.empty(a.shape, a.dtype)
    out[...] = a
    return out


# Kernel sets by name and dtype, in the order :func:`warm` readies them: the default study's cells first. A set is
# named after the cell whose kernels it holds; the plain RNNs share the "rnn" set, lstm97fc the "lstm97" one
# (KERNEL_SET).
KERNEL_SETS = tuple((name, np.dtype(dtype)) for dtype in (np.float64, np.float32)
                    for name in ("lstm", "rnn", "gru", "lstm97", "lstm97ig"))
KERNEL_SET = {cell: "rnn" if cell in kernels.RNN_ACTIVATIONS else "lstm97" if cell == "lstm97fc" else cell
              for cell in CELLS}
LOCK_TIMEOUT_S = 600.0  # a compile that holds a kernel set's file lock longer is taken for stuck: compile anyway
_GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3, "lstm97": 3, "lstm97ig": 2}
_ready: set = set()
_ready_locks = {key: threading.Lock() for key in KERNEL_SETS}


def ready(cell: str, dtype) -> None:
    """Have the kernels of one cell and dtype loaded in this process (compiled first if the disk cache has
    none), once; later calls return at once. The cells of one kernel set (:data:`KERNEL_SET`) share it.

    Compiling takes seconds per set, so processes that start together (a dashboard's server and its job
    workers on a fresh install) must not each compile the same set: a file lock per set beside numba's
    cache (:func:`lock_path`) lets one compile it while the others wait, then load it from the cache.
    """
    key = (KERNEL_SET.get(cell, cell), np.dtype(dtype))
    if key in _ready:
        return
    if key not in _ready_locks:
        raise ValueError(f"cell={cell!r}, dtype={np.dtype(dtype).name!r}: expected one of "
                         + ", ".join(f"{c}/{d.name}" for name, d in KERNEL_SETS for c in CELLS
                                     if KERNEL_SET[c] == name))
    with _ready_locks[key]:
        if key in _ready:
            return
        try:
            lock = FileLock(lock_path(*key), timeout=LOCK_TIMEOUT_S)
            lock.acquire()
        except (OSError, Timeout):
            lock = None  # no lock to be had: compile or load unguarded, as numba alone would
        try:
            _one_unit_pass(*key)
        finally:
            if lock is not None:
                lock.release()
        _ready.add(key)


def lock_path(cell: str, dtype) -> str:
    """The file lock of one kernel set (named as in KERNEL_SETS): in numba's cache directory of the kernels, else
    the temp directory."""
    try:
        folder = kernels.lstm_forward._cache.cache_path
    except AttributeError:  # caching off
        folder = tempfile.gettempdir()
    return os.path.join(folder, f"lstmlab-{cell}-{np.dtype(dtype).name}.lock")


def _one_unit_pass(cell: str, dtype) -> None:
    """Run every kernel of a kernel set and dtype once (forward, backward with and without the input sums)."""
    G = _GATE_BLOCKS[cell]
    Wx, b, Wh = np.zeros((1, G), dtype=dtype), np.zeros(G, dtype=dtype), np.zeros((1, G), dtype=dtype)
    run = _unroll(cell, np.zeros((1, 1, 1), dtype=dtype), Wx, b, Wh, np.zeros(1, dtype=dtype))
    for x in (None, np.zeros((1, 1, 1), dtype=dtype)):
        _backprop(cell, run, np.zeros((1, 1, 1), dtype=dtype), Wh, x=x)


def warm(first: bool = False) -> None:
    """Load (compiling where the disk cache has none) every kernel set in the order of :data:`KERNEL_SETS`;
    ``first``: only the first two, float64 LSTM and RNN (the default study's)."""
    for cell, dtype in KERNEL_SETS[:2] if first else KERNEL_SETS:
        ready(cell, dtype)
