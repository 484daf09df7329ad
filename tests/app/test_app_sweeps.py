"""AppTest: the Sweeps page over a tiny sweep trained by real jobs on the local worker pool."""

import numpy as np
import pytest


def test_an_empty_store_says_how_to_start_a_sweep(app):
    at = app("sweeps.py").run()
    assert not at.exception
    assert "No sweep in the run store yet" in at.info[0].value
    assert 'sweep="lag-limit"' in at.code[0].value


def test_the_page_shows_progress_phase_map_longest_solved_and_csv(app, tiny_sweep):
    at = app("sweeps.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="sweeps.name").value == "tiny" and at.query_params["name"] == "tiny"
    assert "16 of 16 runs ended" in at.get("progress")[0].proto.text
    assert len(at.get("vega_lite_chart")) == 2  # the trained phase map, a panel per cell
    longest, grid = at.dataframe[0].value, at.dataframe[1].value
    assert list(longest["cell"]) == ["RNN", "LSTM"]
    assert len(grid) == 8 and set(grid["verdict"]) <= {"solved", "unsolved"}
    # each grid point's median held-out loss, straight from the stored runs' eval tables
    runs = [tiny_sweep.load(i) for i in tiny_sweep.list()["id"]]
    for row in grid.itertuples():
        losses = [r.eval["loss"].iloc[-1] for r in runs if (r.config.cell, r.config.seq_len, r.config.weight_scale)
                  == (row.cell.lower(), row.seq_len, row.weight_scale)]
        assert len(losses) == 2 and row.eval_loss_median == pytest.approx(np.median(losses))
    assert len(at.get("download_button")) == 1
