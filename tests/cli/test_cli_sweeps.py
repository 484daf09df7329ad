"""`python -m lstmlab sweeps`: list the sweeps, print what one found and write it as CSV."""

import io

import numpy as np
import pandas as pd
import pytest

from lstmlab.cli import main


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_sweeps_ls_and_show_print_the_summary_and_write_csv(tiny_sweep, tmp_path):
    db = str(tmp_path / "runs.db")
    code, out, _ = _cli("sweeps", "ls", "--db", db)
    assert code == 0 and out.strip() == "tiny: 16 runs, 16 finished"
    csv = tmp_path / "tiny.csv"
    code, out, _ = _cli("sweeps", "show", "tiny", "--db", db, "--csv", str(csv))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sweep tiny: 16 runs, 16 finished"
    assert lines[1].split() == ["cell", "T", "w", "solved", "median", "loss", "min..max", "/baseline", "verdict"]
    grid_rows = [line.split() for line in lines[2:lines.index("longest sequence length solved") - 1]]
    assert len(grid_rows) == 8 and all(row[0] in ("RNN", "LSTM") and row[-1] in ("solved", "unsolved")
                                       for row in grid_rows)
    assert "longest sequence length solved" in out and f"wrote {csv}" in out
    table = pd.read_csv(csv)
    runs = [tiny_sweep.load(i) for i in tiny_sweep.list()["id"]]
    for row in table.itertuples():  # medians straight from the stored eval tables
        losses = [r.eval["loss"].iloc[-1] for r in runs
                  if (r.config.cell, r.config.seq_len, r.config.weight_scale) == (row.cell, row.seq_len, row.weight_scale)]
        assert row.eval_loss_median == pytest.approx(np.median(losses))
        assert f"{row.eval_loss_median:.3g}" in out


def test_sweeps_show_needs_a_known_name(tmp_path):
    db = str(tmp_path / "runs.db")
    code, _, err = _cli("sweeps", "show", "--db", db)
    assert code == 2 and "sweeps show: expected the NAME of a sweep" in err
    code, _, err = _cli("sweeps", "show", "nope", "--db", db)
    assert code == 1 and "nope" in err
