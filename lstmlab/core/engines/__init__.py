"""The engines that run a layer's forward pass and backpropagation through time.

``compiled`` (the default): each layer's time loop in one numba kernel (:mod:`lstmlab.core.engines.compiled`).
``reference``: plain numpy, one line per equation, the code to read (:mod:`lstmlab.core.engines.reference`).
The engine is chosen by name (``ENGINES``); by default from the environment variable ``ENGINE_VARIABLE``, else
the first of ``ENGINES``. An engine's module is imported when it is first asked for, so importing the package (and
everything that only names an engine) loads no compiler.

An engine is a module with ``unroll(cell, x, Wx, b, Wh, bhn, h0, c0) -> Unroll`` (one layer forward, its
input projection x_t Wx + b included),
``backprop(cell, run, inject, Wh, overwrite_inject, x, gradient, dc_last) -> Flow``
(:mod:`lstmlab.core.engines.base`; with ``overwrite_inject`` true the engine may accumulate dL/dh_t in inject's memory,
like SciPy's ``overwrite_a``; given the layer's input ``x`` it may sum dWx, db and dWh on its way; ``gradient``
"full" or "truncated", ``lstmlab.core.config.GRADIENTS``; ``dc_last``: dL/dc_T from outside the layer, for a cell
with a cell state),
``matmul(a, b)`` (a @ b for a (..., K) array and a (K, N) matrix: the products of the rest of the pass),
``each(fn, items)`` (``[fn(item) for item in items]``, side by side in the threads the calling thread may use),
``warm(first)``, ``using_threads(n)`` (a context manager: the threads the calling thread's passes may use) and
``VERSION``; ``lstmlab.core.model`` does the rest of a pass (head, loss, the weight gradients an
engine did not sum) the same way for all of them, with the engine's ``matmul``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

# The code that runs BPTT passes (this package), the first the default. Chosen per process by the environment
# variable ENGINE_VARIABLE, not per run: engines agree to rounding, and the run store records which one trained a run.
ENGINES = ("compiled", "reference")
ENGINE_VARIABLE = "LSTMLAB_ENGINE"


def engine_name(name: str | None = None) -> str:
    """``name``, or the environment's choice, or the default; ValueError naming the source if unknown."""
    source = "engine"
    if name is None:
        source, name = ENGINE_VARIABLE, os.environ.get(ENGINE_VARIABLE) or ENGINES[0]
    if name not in ENGINES:
        raise ValueError(f"{source}={name!r}: expected one of {', '.join(map(repr, ENGINES))}")
    return name


def get(name: str | None = None) -> ModuleType:
    """The engine module called ``name`` (see :func:`engine_name`)."""
    return importlib.import_module(f"{__name__}.{engine_name(name)}")


def version(name: str | None = None) -> str:
    """What a run records as its engine version: the engine's own version and the libraries it runs on."""
    return get(name).VERSION


def warm(name: str | None = None, first: bool = False) -> None:
    """Have the engine ready for its first pass (the compiled one loads or compiles its kernels; ``first``: those
    of the default study's cells first)."""
    get(name).warm(first=first)


def using_threads(n: int, name: str | None = None):
    """A context manager: within it, the passes the calling thread runs on the engine may use ``n`` threads."""
    return get(name).using_threads(n)
