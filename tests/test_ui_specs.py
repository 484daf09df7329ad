"""The dashboard's cached chart specs: Streamlit's own conversion of the same charts, Altair's validation aside."""

from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from lstmlab import tables
from lstmlab.config import RunConfig
from lstmlab.train import train
from lstmlab.ui import cached, charts


def test_cached_specs_are_streamlits_conversion_of_the_same_charts():
    tiny = dict(task="adding", seq_len=12, hidden_size=4, steps=6, record_every=2, batch_size=4, eval_size=8)
    runs = {label: train(RunConfig(cell=cell, **tiny)) for label, cell in (("RNN", "rnn"), ("LSTM", "lstm"))}
    flows = {label: run.flow for label, run in runs.items()}
    lines = tables.flow_lines(flows, layer=0, weight_scale=1.0)
    heat = tables.heatmap_table(flows)
    built = [charts.flow_lag_chart(lines, phase, charts.lines_domain(lines), phase) for phase in lines["phase"].unique()]
    built += [charts.flow_heatmap(heat, charts.heat_domain(heat)),
              charts.cell_state_chart(tables.lstm_cell_lines(flows["LSTM"], 0, training=False), "cell state"),
              charts.training_chart(tables.training_long({k: r.steps for k, r in runs.items()},
                                                         {k: r.eval for k, r in runs.items()}, "loss"),
                                    "loss", "MSE", baseline=0.17, log=True),
              charts.gradnorm_chart(tables.gradnorm_long({k: r.steps for k, r in runs.items()}), 1.0, "gradients")]
    assert len(built) >= 6
    for chart in built:
        spec = cached.vega_lite_spec(chart)
        assert spec["datasets"], "the data travels as Arrow datasets"
        assert spec == _convert_altair_to_vega_lite_spec(chart)
