"""The dashboard's cached chart specs: Streamlit's own conversion of the same charts, Altair's validation aside."""

import pandas as pd
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from lstmlab.core.config import RunConfig
from lstmlab.training.train import train
from lstmlab.ui import cached, charts
from lstmlab.views import tables


def test_cached_specs_are_streamlits_conversion_of_the_same_charts():
    tiny = dict(task="adding", seq_len=12, hidden_size=4, steps=6, record_every=2, batch_size=4, eval_size=8)
    runs = {label: train(RunConfig(cell=cell, **tiny)) for label, cell in (("RNN", "rnn"), ("LSTM", "lstm"))}
    flows = {label: run.flow for label, run in runs.items()}
    lines = tables.flow_lines(flows, layer=0, weight_scale=1.0)
    heat = tables.heatmap_table(flows)
    built = [charts.flow_lag_chart(lines, phase, charts.lines_domain(lines), phase) for phase in lines["phase"].unique()]
    built += [charts.flow_heatmap(heat, charts.heat_domain(heat), cell) for cell in charts.panel_cells(heat)]
    built += [charts.cell_state_chart(tables.lstm_cell_lines(flows["LSTM"], 0, training=False), "cell state"),
              charts.training_chart(tables.training_long({k: r.steps for k, r in runs.items()},
                                                         {k: r.eval for k, r in runs.items()}, "loss"),
                                    "loss", "MSE", baseline=0.17, log=True),
              charts.gradnorm_chart(tables.gradnorm_long({k: r.steps for k, r in runs.items()}), 1.0, "gradients")]
    assert len(built) >= 6
    for chart in built:
        spec = cached.vega_lite_spec(chart)
        assert spec["datasets"], "the data travels as Arrow datasets"
        assert spec == _convert_altair_to_vega_lite_spec(chart)


def _panel_specs(build, cells):
    return [build(cell, legend=i == 0).to_dict(validate=False) for i, cell in enumerate(cells)]


def _colour(spec):
    """The colour encoding of a panel's first layer (the map itself)."""
    return spec["layer"][0]["encoding"]["color"]


def test_map_panels_share_one_colour_scale_and_take_their_columns_width():
    """A map drawn as one chart per cell: every panel has the same colour domain (from every cell's values, here
    spanning different ranges per cell), only the first draws the colour legend, and none fixes its width (Streamlit
    draws it at its column's width) while each keeps its plot height."""
    from lstmlab.views import probes

    grid = probes.phase_map(["rnn", "lstm", "gru"], [0.5, 1.0, 1.5], [10, 20], 4, "orthogonal", 1.0, 0)
    tiny = dict(task="adding", seq_len=8, hidden_size=4, steps=4, record_every=2, batch_size=4, eval_size=8)
    flows = {label: train(RunConfig(cell=cell, **tiny)).flow for label, cell in (("RNN", "rnn"), ("GRU", "gru"))}
    heat = tables.heatmap_table(flows)
    maps = {
        "phase map": (lambda cell, legend: charts.phase_map_chart(grid, cell, legend), grid),
        "error-flow heatmap": (lambda cell, legend: charts.flow_heatmap(heat, charts.heat_domain(heat), cell, legend),
                               heat),
    }
    for what, (build, df) in maps.items():
        cells = charts.panel_cells(df)
        assert cells == [c for c in ("RNN", "LSTM", "GRU") if c in set(df["cell"])], what
        specs = _panel_specs(build, cells)
        domains = [_colour(s)["scale"]["domain"] for s in specs]
        assert all(d == domains[0] for d in domains), what
        assert "legend" not in _colour(specs[0]) and all(_colour(s)["legend"] is None for s in specs[1:]), what
        assert all("width" not in s and s["height"] > 0 and s["autosize"]["type"] == "fit-x" for s in specs), what
        assert [s["title"] for s in specs] == cells, what
    lo, hi = charts.heat_domain(heat)
    assert lo <= heat["log10"].min() and heat["log10"].max() <= hi  # both cells' values, not one panel's


def test_sweep_map_panels_share_one_colour_scale():
    summary = pd.DataFrame({"cell": ["rnn", "rnn", "lstm", "lstm"], "seq_len": [5, 10, 5, 10],
                            "weight_scale": [1.0] * 4, "verdict": ["unsolved", "unsolved", "solved", "solved"],
                            "log10_ratio": [0.0, 0.1, -2.5, -1.5], "mark": ["✗", "✗", "✓", "✓"], "loss": ["1"] * 4,
                            "spread": [""] * 4, "seeds": ["2"] * 4, "note": [""] * 4})
    cells = charts.panel_cells(summary)
    assert cells == ["rnn", "lstm"]
    specs = _panel_specs(lambda cell, legend: charts.sweep_map_chart(summary, cell, legend), cells)
    assert _colour(specs[0])["scale"]["domain"][0] == -2.5  # the floor comes from the LSTM's panel
    assert all(_colour(s)["scale"]["domain"] == _colour(specs[0])["scale"]["domain"] for s in specs)
    assert [s["title"] for s in specs] == ["RNN", "LSTM"] and all("width" not in s for s in specs)


def _rule_values(spec: dict) -> list:
    """The x values of a panel's σ_max·γ = 1 rule (its inline data)."""
    [rule] = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    return [row["w"] for row in spec["datasets"][rule["data"]["name"]]]


def test_the_phase_map_boundary_sits_at_one_over_gamma_within_the_map():
    from lstmlab.views import probes

    df = probes.phase_map(["rnn", "rnn_logistic"], [1.0, 3.0, 5.0], [10], 4, "orthogonal", 1.0, 0)
    assert _rule_values(charts.phase_map_chart(df, "RNN").to_dict(validate=False)) == [1.0]
    assert _rule_values(charts.phase_map_chart(df, "Logistic RNN", gamma=0.25).to_dict(validate=False)) == [4.0]
    narrow = df[df["weight_scale"] < 2]  # the map ends below 4: no line for the logistic RNN
    assert _rule_values(charts.phase_map_chart(narrow, "Logistic RNN", gamma=0.25).to_dict(validate=False)) == []


def test_flow_lines_bound_the_logistic_rnn_by_a_quarter_of_the_weight_scale():
    tiny = dict(task="adding", seq_len=8, hidden_size=4, steps=0, record_every=1, batch_size=4, eval_size=8)
    flows = {"Logistic RNN": train(RunConfig(cell="rnn_logistic", **tiny)).flow,
             "ReLU RNN": train(RunConfig(cell="rnn_relu", **tiny)).flow}
    lines = tables.flow_lines(flows, layer=0, weight_scale=2.0, gammas={"Logistic RNN": 0.25, "ReLU RNN": 1.0})
    bound = lines[lines["kind"] == "bound"].set_index(["series", "lag"])["value"]
    v0 = {label: float(lines[(lines["series"] == label) & (lines["lag"] == 0)]["value"].iloc[0]) for label in flows}
    assert bound.loc[("Logistic RNN bound (0.25·2)^lag", 3)] == v0["Logistic RNN"] * 0.5 ** 3
    assert bound.loc[("ReLU RNN bound 2^lag", 3)] == v0["ReLU RNN"] * 2.0 ** 3
    chart = charts.flow_lag_chart(lines, lines["phase"].iloc[0], charts.lines_domain(lines), "init").to_dict()
    assert "(γw)^lag" in str(chart)


def _loss_rows(ratios: dict[str, list[float]], paper: float | None = None) -> pd.DataFrame:
    """A card's chart rows (lstmlab.views.reproductions.Card.rows) of loss / baseline per model at T = 100, 200."""
    from lstmlab.views.reproductions import CHART_COLUMNS

    rows = [{"source": "lab (paper scale)", "model": m, "setting": f"T={T}", "x": float(T), "loss_ratio": r,
             "loss_ratio_min": r / 2, "loss_ratio_max": r * 1.5} for m, rs in ratios.items()
            for T, r in zip((100, 200), rs)]
    if paper is not None:
        rows.append({"source": "paper (X)", "model": next(iter(ratios)), "setting": "T=200", "x": 200.0,
                     "loss_ratio": paper, "figure": "at the baseline"})
    return pd.DataFrame(rows, columns=CHART_COLUMNS).astype({c: float for c in CHART_COLUMNS[3:-1]})


def test_the_loss_chart_draws_the_reference_levels_and_goes_log_over_a_decade():
    levels = (("chance baseline", 1.0), ("success: at most 0.1 x baseline", 0.1))
    spread = charts.reproduction_chart(_loss_rows({"irnn": [0.01, 0.05], "rnn": [1.0, 1.0]}), "loss_ratio", "T",
                                       levels).to_dict()
    rules = [layer for layer in spread["layer"] if layer["mark"]["type"] == "rule"]
    refs = [r for r in rules if r["encoding"]["y"]["field"] == "level"]
    assert [row["level"] for row in spread["datasets"][refs[0]["data"]["name"]]] == [1.0, 0.1]
    assert any(r["encoding"]["y"]["field"] == "loss_ratio_min" for r in rules)  # the range over seeds
    assert all(layer["encoding"]["y"]["scale"] == {"type": "log"} for layer in spread["layer"])
    near = charts.reproduction_chart(_loss_rows({"lstm": [0.8, 1.0]}, paper=1.0), "loss_ratio", "T",
                                     levels[:1]).to_dict()
    assert all(layer["encoding"]["y"]["scale"] == {"zero": True} for layer in near["layer"])
    points = [layer for layer in near["layer"] if layer["mark"]["type"] == "point"]
    assert {p["mark"]["filled"] for p in points} == {True, False}  # the lab's filled, the paper's hollow
    assert cached.vega_lite_spec(charts.reproduction_chart(_loss_rows({"lstm": [0.8, 1.0]}), "loss_ratio", "T",
                                                           levels))["datasets"]


def test_the_papers_points_are_diamonds_even_where_the_lab_has_none():
    """A chart of sequences until the criterion where no seed of the lab's met it holds only the paper's point."""
    rows = _loss_rows({"lstm97": [0.02, 0.02]}, paper=None)
    rows = pd.concat([rows, pd.DataFrame([{"source": "paper (HS97)", "model": "lstm97", "setting": "T=200",
                                           "x": 200.0, "sequences": 482_000.0}])], ignore_index=True)
    alone = charts.reproduction_chart(rows, "sequences", "T").to_dict()
    both = charts.reproduction_chart(rows.assign(sequences=rows["sequences"].fillna(1e5)), "sequences", "T").to_dict()
    shapes = [{d: r for d, r in zip(layer["encoding"]["shape"]["scale"]["domain"],
                                    layer["encoding"]["shape"]["scale"]["range"])}
              for spec in (alone, both) for layer in spec["layer"] if "shape" in layer["encoding"]]
    assert shapes[0] == {"paper (HS97)": "diamond"}
    assert shapes[-1] == {"lab (paper scale)": "circle", "paper (HS97)": "diamond"}
