"""A PyTorch LSTM learns the adding problem while lstmlab records its error flow.

The model and the training loop are plain PyTorch (nn.LSTM, a linear head on the last output, MSE, Adam, gradient
clipping); the lab's adding problem (lstmlab.core.tasks) draws the batches: two marked numbers somewhere in a
sequence of T, their sum to predict, an input-blind predictor's MSE 1/6. ``lstmlab.torch.watch`` records the flow of
‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ through the module every ``--every`` steps into the run store, where the dashboard shows it as
it shows the lab's own runs: the first-step error collapses and recovers as the LSTM learns to carry the marked
numbers, as in the lab's own LSTM runs.

    python examples/torch_adding.py                       # T = 100, 800 steps: a few minutes on 2 cores
    python examples/torch_adding.py --seq-len 50 --steps 300 --store /tmp/runs.db
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lstmlab.core.config import RunConfig  # noqa: E402
from lstmlab.core.tasks import get_task  # noqa: E402
from lstmlab.store import default_url, display_location  # noqa: E402
from lstmlab.torch import watch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=100, help="sequence length T (default 100)")
    parser.add_argument("--hidden", type=int, default=32, help="LSTM units (default 32)")
    parser.add_argument("--steps", type=int, default=800, help="training steps (default 800)")
    parser.add_argument("--every", type=int, default=20, help="record every that many steps (default 20)")
    parser.add_argument("--store", default=None, help="run store path or SQLAlchemy URL (default: $LSTMLAB_DB or "
                                                      "./lstmlab-data/runs.db)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    task = get_task(RunConfig(task="adding", seq_len=args.seq_len, dtype="float32"))
    rng = np.random.default_rng(args.seed)
    lstm = torch.nn.LSTM(task.input_size, args.hidden, batch_first=True)
    head = torch.nn.Linear(args.hidden, 1)
    with torch.no_grad():
        lstm.bias_hh_l0[args.hidden : 2 * args.hidden] = 1.0  # forget-gate bias 1: remember by default
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)

    name = f"PyTorch LSTM, adding T={args.seq_len}"
    with watch(lstm, store=args.store, name=name, tags=["example"], every=args.every, steps=args.steps) as rec:
        for step in range(args.steps):
            x, y = task.sample(rng, 64)  # (T, B, 2), (B, 1)
            x = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2)))  # batch first
            out, _ = lstm(x)
            loss = torch.nn.functional.mse_loss(head(out[:, -1]), torch.from_numpy(y))
            loss.backward()
            rec.step(loss)  # after backward, before the optimiser's step (and before clipping changes the grads)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            if step % 100 == 0 or step == args.steps - 1:
                print(f"step {step:5d}  loss {loss.item():.4f}  (input-blind baseline {task.baseline:.4f})")

    store = display_location(args.store or default_url())
    print(f"\nRun {rec.run_id} is in the run store {store}" + (f"; missing recordings: {rec.missing}"
                                                              if rec.missing else "."))
    print("Open it in the dashboard:")
    print(f"    LSTMLAB_DB={args.store or default_url()} streamlit run streamlit_app.py")
    print(f"    then http://localhost:8501/error_flow?run={rec.run_id}  (and /training?run={rec.run_id}),")
    print("    or tick it on the Runs page. From the command line:")
    print(f"    python -m lstmlab --db {args.store or default_url()} show {rec.run_id[:8]}")


if __name__ == "__main__":
    main()
