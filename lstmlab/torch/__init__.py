"""The PyTorch bridge: record the error flow of a user's own ``torch.nn.RNN``, ``LSTM`` or ``GRU`` while it trains,
into the run store, where the dashboard and the CSV export read it as they read the lab's own runs.

    from lstmlab.torch import watch
    with watch(model.lstm, store="lstmlab-data/runs.db", name="my-lstm", every=10) as rec:
        for x, y in loader:
            ...
            loss.backward()
            rec.step(loss)          # after backward, before the optimiser's step
            opt.step(); opt.zero_grad()

Only this package (and lstmlab.core.torch_interop, lazily) imports torch; it sits at the jobs layer.
"""

from lstmlab.torch.recorder import Recorder, RecorderWarning, watch

__all__ = ["Recorder", "RecorderWarning", "watch"]
