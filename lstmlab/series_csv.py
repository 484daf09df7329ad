"""A series for the forecast task from a user's CSV file (no streamlit): every failure is a ValueError with a message a
person can act on."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from . import limits as L
from .config import zscore_problem


def read_csv(data: bytes, name: str = "upload.csv") -> pd.DataFrame:
    """The numeric columns of an uploaded CSV; ValueError if it is empty, too large or has no numeric column."""
    if len(data) == 0:
        raise ValueError(f"{name} is empty.")
    if len(data) > L.UPLOAD_MAX_BYTES:
        raise ValueError(f"{name} is {len(data) / 1e6:.1f} MB; the dashboard accepts CSV files up to "
                         f"{L.UPLOAD_MAX_BYTES / 1e6:.0f} MB. Use the CLI for larger series.")
    try:
        df = pd.read_csv(io.BytesIO(data), nrows=L.UPLOAD_MAX_ROWS + 1, sep=None, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{name} could not be read as CSV ({type(e).__name__}: {str(e).splitlines()[0]}).") from None
    if df.empty or df.shape[1] == 0:
        raise ValueError(f"{name} has no data rows.")
    if len(df) > L.UPLOAD_MAX_ROWS:
        raise ValueError(f"{name} has more than {L.UPLOAD_MAX_ROWS:,} rows; the dashboard accepts at most "
                         f"{L.UPLOAD_MAX_ROWS:,}. Use the CLI for longer series.")
    numeric = {}
    for col in df.columns:
        try:
            v = pd.to_numeric(df[col], errors="coerce")
        except OverflowError:  # integers of hundreds of digits: Python ints that no float can hold
            raise ValueError(f"{name}: column {str(col)!r} holds numbers beyond the float range (about ±1.8e308); "
                             "rescale them.") from None
        if v.notna().sum() >= max(2, int(0.9 * len(df))):  # a column that is (almost) all numbers
            numeric[str(col)] = v.to_numpy(dtype=float)
    if not numeric:
        raise ValueError(f"{name} has no numeric column (a column whose values are at least 90 % numbers).")
    return pd.DataFrame(numeric)


def series_from(df: pd.DataFrame, column: str, seq_len: int) -> tuple[float, ...]:
    """The finite values of one column as a series long enough for ``seq_len``; ValueError otherwise."""
    if column not in df:
        raise ValueError(f"column {column!r} is not in the file.")
    v = df[column].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    need = seq_len + L.UPLOAD_MIN_ROWS_OVER_SEQ
    if v.size < need:
        raise ValueError(f"column {column!r} has {v.size} numeric values; the forecast task with sequence length "
                         f"{seq_len} needs at least {need}. Shorten the sequence or upload a longer series.")
    if float(v.max()) == float(v.min()):
        raise ValueError(f"column {column!r} is constant; a series needs some variation to forecast.")
    problem = zscore_problem(v)
    if problem:
        raise ValueError(f"column {column!r} {problem}.")
    return tuple(v.tolist())
