"""AppTest: error-flow, training and overlay views given runs with zeros, inf and NaN draw and say so."""

from streamlit.testing.v1 import AppTest


def _script():
    import numpy as np
    import pandas as pd

    from lstmlab.config import RunConfig
    from lstmlab.train import Run
    from lstmlab.ui import views

    def flow(cell, T=30, steps=(0, 5, 10), lstm=False, bad=None):
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

    def steps_table(n, bad=False):
        d = {"step": np.arange(1, n + 1), "loss": np.linspace(1, 0.1, n), "metric": np.linspace(1, 0.1, n),
             "grad_norm": np.full(n, 2.0), "clipped": np.arange(n) % 2 == 0, "forget_mean": np.full(n, 0.7),
             "wall_time": np.arange(n) * 0.01, "gnorm:head.W": np.full(n, 1.0), "gnorm:l0.Wh": np.zeros(n),
             "sigma_max:l0": np.full(n, 1.0)}
        if bad:
            d["loss"][-1] = np.inf
            d["grad_norm"][-1] = np.nan
            d["gnorm:head.W"][-1] = np.inf
        return pd.DataFrame(d)

    def run(cell, status, bad):
        cfg = RunConfig(cell=cell, seq_len=30, hidden_size=4, steps=10)
        return Run(run_id=cell * 8, config=cfg, status=status, message=f"{status} at step 10", created_at=0.0,
                   wall_time=0.1, steps=steps_table(10, bad == "inf"), flow=flow(cell, lstm=cell == "lstm", bad=bad),
                   eval=pd.DataFrame({"step": [0, 5, 10], "loss": [1.0, 0.5, np.nan], "metric": [1.0, 0.5, np.inf]}))

    runs = {"RNN": run("rnn", "diverged", "inf"), "LSTM": run("lstm", "finished", "zero")}
    views.error_flow_view(runs, weight_scale=0.5)
    views.training_view(runs)
    views.runs_overlay_view(runs)


def test_views_survive_non_finite_values():
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert not at.exception
    assert any("diverged" in e.value for e in at.error)
    reading = at.info[0].value
    assert "0 (vanished)" in reading and "undefined after 10 steps" in reading  # the RNN's last norm is inf
    specs = " ".join(c.proto.spec for c in at.get("vega_lite_chart"))
    assert "vanished (0)" in specs and ("overflow (inf)" in specs or "NaN" in specs)


def test_a_ratio_over_a_zero_last_norm_reads_undefined_not_overflow():
    import pandas as pd

    from lstmlab.ui import shaping

    T = 5
    flow = pd.DataFrame({"step": [0] * T, "layer": [0] * T, "t": range(1, T + 1), "lag": range(T - 1, -1, -1),
                         "dh_norm": [1e-3, 1e-3, 1e-3, 1e-3, 0.0], "dc_norm": [float("nan")] * T})
    text = shaping.reading({"RNN": flow})
    assert "**RNN**: undefined at initialisation" in text and "overflow" not in text and "∞" not in text


def test_phase_map_keeps_gradients_far_below_the_square_underflow():
    import math

    from lstmlab.ui import probes

    df = probes.phase_map(["rnn"], [0.3, 0.9], [10, 400], 16, "orthogonal", 1.0, 0).set_index(
        ["weight_scale", "seq_len"])
    tiny = df.loc[(0.3, 400)]
    assert tiny["state"] == "finite" and tiny["ratio"] > 0  # about 1e-216: squares of it underflow to 0
    assert -230 < math.log10(tiny["ratio"]) < -200
    assert df.loc[(0.9, 10), "ratio"] > df.loc[(0.9, 400), "ratio"] > tiny["ratio"]
