"""A PyTorch training process that records into a run store and dies without closing its recorder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DIES = """
import os, sys, torch
from lstmlab.torch import watch
module = eval(sys.argv[2], {"torch": torch})
rec = watch(module, store=sys.argv[1], every=1)
out, _ = module(torch.randn(5, 2, 3)); out.sum().backward(); rec.step(out.sum())
rec.flush()
print(rec.run_id, flush=True)
os._exit(0)  # the training process dies without closing the recorder
"""


def recording_that_died(store: str, module: str) -> str:
    """Record one step of ``module`` (an expression such as ``"torch.nn.RNN(3, 4)"``, input size 3) into ``store``
    in a process of its own that then dies; returns the run's id."""
    out = subprocess.run([sys.executable, "-c", DIES, store, module], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300, check=True)
    return out.stdout.strip()
