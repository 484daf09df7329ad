"""AppTest: the Error flow, Training and Runs pages draw stored runs whose tables hold zeros, inf and NaN, and say
so (the study pages fetch a finished run of their config from the run store instead of training it)."""

import numpy as np
import pandas as pd

from lstmlab.runs.records import Run, initial_params
from lstmlab.store import RunStore
from lstmlab.views import settings

QUERY = dict(cells="rnn,lstm", T="30", H="4", steps="10", batch="8")


def _flow(T=30, steps=(0, 5, 10), lstm=False, bad=None):
    rows = []
    for s in steps:
        for t in range(1, T + 1):
            lag = T - t
            v = 0.5 ** lag
            if bad == "zero" and lag > 10:
                v = 0.0
            if bad == "inf" and s == steps[-1]:
                v = np.inf if lag < 5 else np.nan
            rows.append({"step": s, "layer": 0, "t": t, "lag": lag, "dh_norm": v,
                         "dc_norm": 0.9 ** lag if lstm else np.nan})
    return pd.DataFrame(rows)


def _steps(n, bad=False):
    d = {"step": np.arange(1, n + 1), "loss": np.linspace(1, 0.1, n), "metric": np.linspace(1, 0.1, n),
         "grad_norm": np.full(n, 2.0), "clipped": np.arange(n) % 2 == 0, "forget_mean": np.full(n, 0.7),
         "wall_time": np.arange(n) * 0.01, "gnorm:head.W": np.full(n, 1.0), "gnorm:l0.Wh": np.zeros(n),
         "sigma_max:l0": np.full(n, 1.0)}
    if bad:
        d["loss"][-1] = np.inf
        d["grad_norm"][-1] = np.nan
        d["gnorm:head.W"][-1] = np.inf
    return pd.DataFrame(d)


def _store_runs(tmp_path):
    """A finished RNN run whose last recording overflowed and an LSTM run whose early error vanished, stored under
    the very configs the study pages build for QUERY."""
    configs = settings.study(settings.parse_params("flow", QUERY)[0]).configs
    store = RunStore(tmp_path / "runs.db")
    for config, bad in zip(configs, ("inf", "zero")):
        store.save(Run(run_id=config.cell * 8, config=config, status="finished", message="finished 10 steps",
                       created_at=0.0, wall_time=0.1, steps=_steps(10, bad == "inf"),
                       flow=_flow(lstm=config.cell == "lstm", bad=bad), params=initial_params(config),
                       eval=pd.DataFrame({"step": [0, 5, 10], "loss": [1.0, 0.5, np.nan],
                                          "metric": [1.0, 0.5, np.inf]})))


def _specs(at):
    return " ".join(c.proto.spec for c in at.get("vega_lite_chart"))


def test_error_flow_draws_and_names_non_finite_values(app, tmp_path):
    _store_runs(tmp_path)
    at = app("error_flow.py", **QUERY).run()
    assert not at.exception and not at.error
    reading = at.info[0].value
    assert "0 (vanished)" in reading and "undefined after 10 steps" in reading  # the RNN's last norm is inf
    specs = _specs(at)
    assert "vanished (0)" in specs and ("overflow (inf)" in specs or "NaN" in specs)


def test_training_draws_non_finite_losses_and_gradients(app, tmp_path):
    _store_runs(tmp_path)
    at = app("training.py", **QUERY).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) >= 6
    assert any(m.value == "NaN" for m in at.metric)  # the held-out loss of the last recording


def test_runs_overlay_draws_non_finite_values(app, tmp_path):
    _store_runs(tmp_path)
    at = app("runs.py").run()
    at.multiselect(key="runs_selected").set_value(list(at.dataframe[0].value["id"])).run()
    assert not at.exception
    assert "0 (vanished)" in at.info[0].value
    assert "vanished (0)" in _specs(at)
