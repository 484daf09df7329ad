"""A series for the forecast task from a user's CSV file (no streamlit): every failure is a ValueError with a message a
person can act on."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from lstmlab.core.config import zscore_problem
from lstmlab.views import limits as L

DELIMITERS = ",;\t|"  # what the delimiter of an uploaded CSV may be


def read_csv(data: bytes, name: str = "upload.csv") -> pd.DataFrame:
    """The numeric columns of an uploaded CSV; ValueError naming what is wrong and what is expected otherwise.

    The raw bytes are checked first, each check linear in the size and cheap: size, binary content (NUL bytes),
    UTF-8, rows, columns of the header line, line length, unclosed quotes. Only then is the delimiter guessed
    (``csv.Sniffer`` on a prefix of ``UPLOAD_SNIFF_CHARS``) and the file parsed by pandas' C engine, so no upload
    costs more than parsing ``UPLOAD_MAX_BYTES`` of well-formed CSV.
    """
    text = _text(data, name)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{name} holds only blank lines: expected a header line and one value per row.")
    if len(lines) > L.UPLOAD_MAX_ROWS + 1:
        raise ValueError(f"{name} has more than {L.UPLOAD_MAX_ROWS:,} rows; the dashboard accepts at most "
                         f"{L.UPLOAD_MAX_ROWS:,}. Use the CLI for longer series.")
    header = lines[0]
    columns = max(header.count(d) for d in DELIMITERS) + 1
    if columns > L.UPLOAD_MAX_COLUMNS:
        raise ValueError(f"{name} has {columns:,} columns in its header line; expected at most "
                         f"{L.UPLOAD_MAX_COLUMNS} (a series per column, one value per row).")
    for i, line in enumerate(lines, start=1):
        if len(line) > L.UPLOAD_MAX_LINE_CHARS:
            raise ValueError(f"{name}: line {i:,} has {len(line):,} characters; expected at most "
                             f"{L.UPLOAD_MAX_LINE_CHARS:,} (a row of at most {L.UPLOAD_MAX_COLUMNS} values).")
    dialect = _dialect(text)
    _check_quotes(lines, dialect.quotechar, name)
    if len(lines) == 1:
        raise ValueError(f"{name} has a header line but no data rows: expected one value per row below it.")
    try:
        df = pd.read_csv(io.StringIO(text), sep=dialect.delimiter, quotechar=dialect.quotechar, engine="c",
                         skipinitialspace=dialect.skipinitialspace, nrows=L.UPLOAD_MAX_ROWS + 1)
    except Exception as e:  # noqa: BLE001 -- any parser failure is the file's: say what pandas found
        detail = str(e).splitlines()[0].removeprefix("Error tokenizing data. C error: ") if str(e) else ""
        raise ValueError(f"{name} could not be read as CSV separated by {_show(dialect.delimiter)} ("
                         f"{detail or type(e).__name__}): expected the same number of values on every line."
                         ) from None
    if df.empty or df.shape[1] == 0:
        raise ValueError(f"{name} has a header line but no data rows: expected one value per row below it.")
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


def _text(data: bytes, name: str) -> str:
    """The upload as text, if it is a non-empty UTF-8 text file of at most UPLOAD_MAX_BYTES."""
    if len(data) == 0:
        raise ValueError(f"{name} is empty: expected a CSV file with a header line and one value per row.")
    if len(data) > L.UPLOAD_MAX_BYTES:
        raise ValueError(f"{name} is {len(data) / 1e6:.1f} MB; the dashboard accepts CSV files up to "
                         f"{L.UPLOAD_MAX_BYTES / 1e6:.0f} MB. Use the CLI for larger series.")
    if b"\x00" in data:
        raise ValueError(f"{name} is a binary file, or text in UTF-16 (it holds NUL bytes): expected a CSV file "
                         "saved as UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at position {e.start:,}): expected "
                         "a CSV file saved as UTF-8.") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """The delimiter and quoting of a CSV, guessed from its first lines (a comma if they have no delimiter)."""
    sample = text[:L.UPLOAD_SNIFF_CHARS]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:  # one column: nothing separates its values
        return csv.excel


def _check_quotes(lines: list[str], quote: str | None, name: str) -> None:
    """ValueError naming the line where a quoted value opens and never closes (a doubled quote inside a quoted
    value counts twice, so a well-formed file holds an even number of quotes)."""
    if not quote or sum(line.count(quote) for line in lines) % 2 == 0:
        return
    odd, opened = False, 0
    for i, line in enumerate(lines, start=1):
        if line.count(quote) % 2:
            odd = not odd
            if odd:
                opened = i
    raise ValueError(f"{name}: the quote ({quote}) opened on line {opened:,} is never closed: expected every quoted "
                     "value to end with a quote.")


def _show(delimiter: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}.get(delimiter, repr(delimiter))


def series_from(df: pd.DataFrame, column: str, seq_len: int) -> tuple[float, ...]:
    """The values of one column as a series long enough for ``seq_len``; ValueError if one of them is missing,
    not a number or not finite (NaN, inf), or the series is too short, constant or cannot be z-scored."""
    if column not in df:
        raise ValueError(f"column {column!r} is not in the file.")
    v = df[column].to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        shown = ", ".join(f"row {i + 1:,}" for i in bad[:3]) + (", ..." if bad.size > 3 else "")
        raise ValueError(f"column {column!r} has {bad.size:,} value(s) that are missing, not numbers, NaN or infinite "
                         f"({shown}, counting rows below the header): expected a finite number in every row.")
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
