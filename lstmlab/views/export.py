"""CSV export of runs: ``runs.csv`` plus one tidy CSV per table (steps, flow, eval), or all of it zipped.

Every table row carries ``run_id``, the run ``name`` and every scalar ``RunConfig`` field, so the CSVs of
many runs stack into one long table that filters and pivots without joins. Text cells that a spreadsheet
would read as a formula are neutralised (OWASP CSV injection: a leading ``'``); numbers stay numbers.
The schema is documented in docs/csv-schema.md.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from lstmlab.store import scalar_config_fields

DATA_TABLES = ("steps", "flow", "eval")
TABLES = ("runs", *DATA_TABLES)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _as_list(runs: Any) -> list[Any]:
    if hasattr(runs, "run_id"):
        return [runs]
    return list(runs)


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"table={table!r}: expected one of {', '.join(repr(t) for t in TABLES)}")


def runs_frame(runs: Any) -> pd.DataFrame:
    """One row per run: run_id, name, tags, status, message, created_at, wall_time, config_key, every
    scalar config field, config_json (the whole config, ``series`` included)."""
    records = []
    for run in _as_list(runs):
        config = run.config.to_dict()
        records.append({
            "run_id": run.run_id, "name": run.name, "tags": ",".join(run.tags), "status": run.status,
            "message": run.message, "created_at": float(run.created_at), "wall_time": float(run.wall_time),
            "config_key": run.config.key, **{f: config[f] for f in scalar_config_fields()},
            "config_json": json.dumps(config, sort_keys=True),
        })
    columns = ["run_id", "name", "tags", "status", "message", "created_at", "wall_time", "config_key",
               *scalar_config_fields(), "config_json"]
    return pd.DataFrame.from_records(records, columns=columns)


def export_tables(runs: Any, table: str) -> pd.DataFrame:
    """The ``table`` ("runs", "steps", "flow" or "eval") of one or many runs, stacked long.

    Data tables get the identifying columns run_id, name and the scalar config fields in front of their
    own columns; a column some runs lack (e.g. ``gnorm:l1.Wh`` of a 2-layer run) is empty for the others.
    """
    _check_table(table)
    if table == "runs":
        return runs_frame(runs)
    ident_cols = ["run_id", "name", *scalar_config_fields()]
    frames = []
    for run in _as_list(runs):
        df = getattr(run, table)
        clash = sorted(set(ident_cols) & set(df.columns))
        if clash:
            raise ValueError(f"run.{table} has columns {clash} that clash with the identifying columns")
        config = run.config.to_dict()
        ident = {"run_id": run.run_id, "name": run.name, **{f: config[f] for f in scalar_config_fields()}}
        front = pd.DataFrame({k: [v] * len(df) for k, v in ident.items()}, index=df.index)
        frames.append(pd.concat([front, df], axis=1).reset_index(drop=True))
    if not frames:
        return pd.DataFrame(columns=ident_cols)
    return pd.concat(frames, ignore_index=True, sort=False)


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells starting with = + - @ tab or CR get a leading ``'`` (numbers untouched)."""
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
            out[col] = series.map(_neutralise_cell)
    return out


def _neutralise_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def table_csv(runs: Any, table: str) -> str:
    """CSV text of ``export_tables(runs, table)`` (neutralised; NaN -> empty cell; floats round-trip).

    Lines end in CRLF (RFC 4180): the csv writer quotes every cell holding a character of the line terminator,
    so a CR inside a cell is quoted like a LF; spreadsheets end a row at a bare CR too.
    """
    return frame_csv(export_tables(runs, table))


def frame_csv(df: pd.DataFrame) -> str:
    """CSV text of any table the lab computes from runs (a sweep summary, say), written like table_csv."""
    return neutralise(df).to_csv(index=False, lineterminator="\r\n")


def zip_bundle(runs: Any) -> bytes:
    """A zip (bytes) holding runs.csv, steps.csv, flow.csv and eval.csv for ``runs``."""
    runs = _as_list(runs)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for table in TABLES:
            zf.writestr(f"{table}.csv", table_csv(runs, table))
    return buf.getvalue()


def write_export(runs: Any, table: str, path: str | Path) -> list[Path]:
    """Write ``table`` to ``path``; returns the files written.

    ``table`` is one of ``TABLES`` (one CSV at ``path``) or "all": a zip bundle if ``path`` ends in .zip,
    else a directory (created) holding the four CSVs.
    """
    path = Path(path)
    runs = _as_list(runs)
    if table == "all":
        if path.suffix.lower() == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zip_bundle(runs))
            return [path]
        path.mkdir(parents=True, exist_ok=True)
        written = []
        for name in TABLES:
            target = path / f"{name}.csv"
            target.write_text(table_csv(runs, name), encoding="utf-8", newline="")
            written.append(target)
        return written
    _check_table(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table_csv(runs, table), encoding="utf-8", newline="")
    return [path]

