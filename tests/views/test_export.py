"""CSV export: read back with pandas equals the in-memory tables; formula injection is neutralised."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from lstmlab.core.config import RunConfig
from lstmlab.store import scalar_config_fields
from lstmlab.training.train import train
from lstmlab.views import export
from tests.support.runs import make_run

IDENT = ["run_id", "name", *scalar_config_fields()]


def read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


@pytest.fixture
def runs():
    return [make_run(1), make_run(2, cell="gru", layers=2, task="recall", lr=0.5)]


@pytest.mark.parametrize("table", ["steps", "flow", "eval"])
def test_single_run_csv_reads_back_equal(runs, table):
    run = runs[0]
    back = read(export.table_csv(run, table))
    assert list(back.columns) == IDENT + list(getattr(run, table).columns)
    pd.testing.assert_frame_equal(back[list(getattr(run, table).columns)], getattr(run, table), check_exact=True)
    assert (back["run_id"] == run.run_id).all()
    for field in scalar_config_fields():
        expected = getattr(run.config, field)
        assert back[field].map(lambda v: v == expected or (v != v and expected == "")).all(), field


@pytest.mark.parametrize("table", ["steps", "flow", "eval"])
def test_many_runs_stack_long(runs, table):
    back = read(export.table_csv(runs, table))
    assert len(back) == sum(len(getattr(r, table)) for r in runs)
    for run in runs:
        own = getattr(run, table)
        rows = back[back["run_id"] == run.run_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows[list(own.columns)], own, check_dtype=False, check_exact=True)
        assert (rows["cell"] == run.config.cell).all() and (rows["lr"] == run.config.lr).all()
    if table == "steps":  # the 1-layer run has no layer-1 columns: empty cells
        only_deep = [c for c in runs[1].steps.columns if c not in runs[0].steps.columns]
        assert only_deep and back.loc[back["run_id"] == runs[0].run_id, only_deep].isna().all().all()


def test_real_run_round_trip():
    run = train(RunConfig(cell="lstm", seq_len=6, hidden_size=3, steps=6, record_every=3, batch_size=4,
                          eval_size=4))
    for table in ("steps", "flow", "eval"):
        own = getattr(run, table)
        back = read(export.table_csv(run, table))
        pd.testing.assert_frame_equal(back[list(own.columns)], own, check_exact=True)


def test_runs_csv(runs):
    runs[1].config = runs[1].config.replace(task="forecast", series=tuple(np.linspace(0, 1, 30)),
                                            series_name="ramp")
    back = read(export.table_csv(runs, "runs"))
    assert list(back.columns[:8]) == ["run_id", "name", "tags", "status", "message", "created_at",
                                      "wall_time", "config_key"]
    assert back.columns[-1] == "config_json"
    assert list(back["run_id"]) == [r.run_id for r in runs]
    assert list(back["tags"]) == [",".join(r.tags) for r in runs]
    assert list(back["created_at"]) == [r.created_at for r in runs]
    for (_, row), run in zip(back.iterrows(), runs):
        assert RunConfig.from_dict(json.loads(row["config_json"])) == run.config
        assert row["config_key"] == run.config.key
        assert row["seq_len"] == run.config.seq_len and row["optimizer"] == run.config.optimizer


def test_formula_injection_neutralised():
    run = make_run(3, forget_bias=-2.5, series_name="=cmd|' /C calc'!A0")
    run.name = "=HYPERLINK(\"http://evil\",\"x\")"
    run.tags = ("+1", "@SUM(A1)", "-2", "ok")
    run.message = "\tmessage"
    run.steps["loss"] = -run.steps["loss"].abs()  # negative numbers must stay numbers
    for table in export.TABLES:
        text = export.table_csv(run, table)
        for row in csv.reader(io.StringIO(text)):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (table, cell)
                if cell.startswith("-"):
                    float(cell)  # only numbers may start with "-"
    runs_back = read(export.table_csv(run, "runs"))
    assert runs_back.loc[0, "name"] == "'" + run.name
    assert runs_back.loc[0, "tags"] == "'+1,@SUM(A1),-2,ok"
    assert runs_back.loc[0, "message"] == "'\tmessage"
    assert runs_back.loc[0, "series_name"] == "'" + run.config.series_name
    assert runs_back.loc[0, "forget_bias"] == -2.5
    steps_back = read(export.table_csv(run, "steps"))
    assert (steps_back["loss"] == run.steps["loss"]).all() and (steps_back["loss"] < 0).all()
    assert (steps_back["name"] == "'" + run.name).all()
    assert json.loads(runs_back.loc[0, "config_json"])["series_name"] == run.config.series_name


def spreadsheet_rows(text: str) -> list[list[str]]:
    """Rows and cells as a spreadsheet splits CSV text: a row ends at CR, LF or CRLF outside quotes (a bare CR
    included), a cell at a comma outside quotes; quotes themselves are dropped."""
    rows, row, cell, quoted, i = [], [], [], False, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and text[i + 1:i + 2] == '"':
                cell.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                cell.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            row.append("".join(cell))
            cell = []
        elif ch in "\r\n":
            if ch == "\r" and text[i + 1:i + 2] == "\n":
                i += 1
            row.append("".join(cell))
            rows.append(row)
            row, cell = [], []
        else:
            cell.append(ch)
        i += 1
    if cell or row:
        row.append("".join(cell))
        rows.append(row)
    return rows


def test_carriage_return_inside_a_cell_starts_no_row():
    """A bare CR in a text cell must not end the row in a spreadsheet, so it cannot smuggle in a formula row."""
    run = make_run(4)
    run.name = "x\r=cmd|' /C calc'!A0"
    run.message = "done\r+SUM(A1)\nand more\r\n@x"
    for table in export.TABLES:
        text = export.table_csv(run, table)
        rows = spreadsheet_rows(text)
        assert len(rows) == 1 + len(export.export_tables(run, table)), table
        assert {len(r) for r in rows} == {len(rows[0])}, table
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (table, cell)
    back = read(export.table_csv(run, "runs"))
    assert back.loc[0, "name"] == run.name and back.loc[0, "message"] == run.message


def test_neutralise_leaves_safe_text_and_numbers():
    df = pd.DataFrame({"a": ["x", "=1", "-x", None, "a=b"], "n": [-1.0, 2.0, 3.0, 4.0, 5.0]})
    out = export.neutralise(df)
    assert list(out["a"][:3]) == ["x", "'=1", "'-x"] and out["a"][4] == "a=b" and pd.isna(out["a"][3])
    pd.testing.assert_series_equal(out["n"], df["n"])
    assert list(df["a"][:2]) == ["x", "=1"]  # input untouched


def test_zip_bundle(runs):
    data = export.zip_bundle(runs)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["eval.csv", "flow.csv", "runs.csv", "steps.csv"]
        for table in export.TABLES:
            assert zf.read(f"{table}.csv").decode("utf-8") == export.table_csv(runs, table)


def test_write_export(tmp_path, runs):
    assert export.write_export(runs, "eval", tmp_path / "a" / "eval.csv") == [tmp_path / "a" / "eval.csv"]
    assert (tmp_path / "a" / "eval.csv").read_bytes().decode() == export.table_csv(runs, "eval")
    [zpath] = export.write_export(runs, "all", tmp_path / "b.zip")
    assert zipfile.ZipFile(zpath).namelist()
    written = export.write_export(runs, "all", tmp_path / "dir")
    assert sorted(p.name for p in written) == ["eval.csv", "flow.csv", "runs.csv", "steps.csv"]
    with pytest.raises(ValueError, match="table='bogus'"):
        export.write_export(runs, "bogus", tmp_path / "x.csv")
    with pytest.raises(ValueError, match="table='bogus'"):
        export.export_tables(runs, "bogus")


def test_empty_selection():
    assert read(export.table_csv([], "runs")).empty
    assert list(export.export_tables([], "flow").columns) == IDENT
