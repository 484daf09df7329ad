"""PyTorch recorder exactness: how far the flow ``lstmlab.torch.watch`` stores lies from PyTorch autograd.

For every module (``nn.RNN`` tanh and relu, ``nn.LSTM``, ``nn.GRU``), 1-3 layers, ``batch_first`` both ways and a loss
on the last output, on every output or on the final states (h_n, and c_n for the LSTM), one training step is recorded
into a real SQLite store (zero and given initial states, float64 and float32) and read back; the reference is
autograd on the module's cells unrolled in torch ops with ``retain_grad`` on every h_t, c_t and gate pre-activation
(tests/support/unrolled_torch.py, the same as the tests'). Each cell of the tables is the worst case over the
initial states and over the flow columns (dh_norm, dc_norm, dg_<gate>) of

    error = max_{l,t} |stored - autograd| / max_{l,t} |autograd|

(relative to the column's largest value, as the tests bound it: 1e-5 in float64, 1e-4 in float32). T = 7, batch 4,
3 inputs, 5 units, weights scaled away from PyTorch's small initialisation so that every path counts.

    python bench/torch_exactness.py

Results: bench/results/torch_exactness.json (see bench/report.py).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import Results, results_path  # noqa: E402
from lstmlab.store import RunStore  # noqa: E402
from tests.support.unrolled_torch import flow_norms  # noqa: E402
from tests.torch.test_torch_recorder import LOSSES, MODES, record_case, reference, stored_flow  # noqa: E402

MODULES = {"RNN_TANH": "nn.RNN tanh", "RNN_RELU": "nn.RNN relu", "LSTM": "nn.LSTM", "GRU": "nn.GRU"}


def worst_error(store: str, mode: str, layers: int, batch_first: bool, given_state: bool, loss_kind: str, dtype,
                seed: int) -> float:
    """One recorded step against autograd: the largest column error (module docstring)."""
    module, x_tm, h0, c0, loss_fn, rec, _, _ = record_case(store, mode, layers, batch_first, given_state, loss_kind,
                                                          dtype, seed)
    if rec.missing:
        raise RuntimeError(f"case {seed}: recordings missing: {rec.missing}")
    stored = stored_flow(RunStore(store).load(rec.run_id), 0, layers)
    expected = flow_norms(reference(module, x_tm, h0, c0, loss_fn), mode)
    return max(float(np.max(np.abs(stored[c] - want)) / np.max(np.abs(want))) for c, want in expected.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    results_path(ap)
    args = ap.parse_args()
    results = Results("torch_exactness", "PyTorch recorder exactness", libraries=("torch",))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "runs.db")
        seed = 0
        for dtype in (torch.float64, torch.float32):
            name = str(dtype).removeprefix("torch.")
            losses = [f"loss on {k.replace('_', ' ')}" for k in LOSSES]
            table = results.table(f"Worst error against autograd, {name} (zero and given initial states)",
                                  ["module", "layers", "batch_first", *losses])
            for mode, layers, batch_first in itertools.product(MODES, (1, 2, 3), (False, True)):
                row = []
                for loss_kind in LOSSES:
                    errors = []
                    for given_state in (False, True):
                        seed += 1
                        errors.append(worst_error(store, mode, layers, batch_first, given_state, loss_kind, dtype,
                                                  seed))
                    row.append(max(errors))
                table.add(MODULES[mode], layers, str(batch_first), *row)
    results.save(args.results)


if __name__ == "__main__":
    main()
