"""lstmlab: see how error signals flow back through RNN, LSTM and GRU networks.

Pure numpy RNNs (tanh, ReLU, logistic), LSTMs (modern and 1997) and GRU with hand-written backpropagation through
time, full or truncated, that records dL/dh_t and dL/dc_t at every step. The package is layered, each layer importing only those below it (tests/project/test_layers.py enforces it):

    core      spec, params, model, engines, optim, tasks, analysis, gradcheck, jacobian, torch interop, RunConfig
    runs      what a run is made of: Run, Record, the tables' layout, run statuses
    training  train(config), the threads a process uses
    store     runs on SQLite or PostgreSQL, who may change them, the job queue's rows
    jobs      executors (local pool, Dask), submitting and running jobs, sweeps, quotas
    views     dashboard view models (settings, text, tables, probes, uploads, exports) without Streamlit
    ui, cli   the dashboard's Streamlit parts; the command line

The names below are the core's public API; each is imported on first use, so ``import lstmlab.store`` (or the
command line's ``ls``) loads no compiler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {
    "GATES": "lstmlab.core.config",
    "GradCheck": "lstmlab.core.gradcheck",
    "grad_check": "lstmlab.core.gradcheck",
    "jacobian_spectrum": "lstmlab.core.jacobian",
    "cell_state_jacobian": "lstmlab.core.jacobian",
    "BPTTResult": "lstmlab.core.model",
    "bptt": "lstmlab.core.model",
    "forward": "lstmlab.core.model",
    "init_params": "lstmlab.core.params",
    "ModelSpec": "lstmlab.core.spec",
}
__all__ = list(_PUBLIC)

if TYPE_CHECKING:
    from lstmlab.core.config import GATES
    from lstmlab.core.gradcheck import GradCheck, grad_check
    from lstmlab.core.jacobian import cell_state_jacobian, jacobian_spectrum
    from lstmlab.core.model import BPTTResult, bptt, forward
    from lstmlab.core.params import init_params
    from lstmlab.core.spec import ModelSpec


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lstmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
