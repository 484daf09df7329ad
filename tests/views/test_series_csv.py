"""lstmlab.views.series_csv: a forecast series from an uploaded CSV, or a message a person can act on."""

import numpy as np
import pytest

from lstmlab.views import series_csv


def test_a_numeric_column_becomes_a_series():
    df = series_csv.read_csv(b"t,v\n" + b"".join(f"{i},{np.sin(i)}\n".encode() for i in range(40)), "s.csv")
    assert list(df.columns) == ["t", "v"]
    series = series_csv.series_from(df, "v", 10)
    assert len(series) == 40 and series[1] == pytest.approx(np.sin(1))


def test_integers_beyond_the_float_range_are_refused_with_a_message():
    data = ("v\n" + "\n".join("9" * 400 for _ in range(30))).encode()
    with pytest.raises(ValueError, match="big.csv"):
        series_csv.read_csv(data, "big.csv")


def test_values_that_cannot_be_z_scored_are_refused_with_a_message():
    data = ("t,v\n" + "\n".join(f"{i},{(-1) ** i * 1e308!r}" for i in range(30))).encode()
    df = series_csv.read_csv(data, "huge.csv")
    with pytest.raises(ValueError, match="column 'v' cannot be z-scored"):
        series_csv.series_from(df, "v", 10)


MANY_COLUMNS = b",".join(b"1" for _ in range(1_000_000))  # 2 MB on one line


@pytest.mark.parametrize("data, message", [
    (b"", r"^f\.csv is empty: expected a CSV file with a header line"),
    (b"\n  \n\n", r"^f\.csv holds only blank lines: expected a header line"),
    (b"v\n1\n\"2\n3\n", r"^f\.csv: the quote \(\"\) opened on line 3 is never closed"),
    (b"v\n\"" + b"1\n" * 70_000, r"^f\.csv: the quote \(\"\) opened on line 2 is never closed"),  # a 140,000-char field
    (b"v\n\"" + b"x" * 200_000 + b"\"\n1\n", r"^f\.csv: line 2 has 200,002 characters; expected at most 10,000"),
    (MANY_COLUMNS, r"^f\.csv has 1,000,000 columns in its header line; expected at most 50"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"^f\.csv is a binary file, or text in UTF-16 \(it holds NUL bytes\)"),
    ("v\n1\n2\n".encode("utf-16"), r"^f\.csv is a binary file, or text in UTF-16"),
    ("café\n1\n2\n".encode("latin-1"), r"^f\.csv is not UTF-8 text \(byte 0xe9 at position 3\): expected a CSV file "
                                       r"saved as UTF-8"),
    (b"v\n", r"^f\.csv has a header line but no data rows: expected one value per row below it"),
    (b"a,b\n", r"^f\.csv has a header line but no data rows"),
    (b"v\n" + b"1\n" * 100_001, r"^f\.csv has more than 100,000 rows; the dashboard accepts at most 100,000"),
    (b"a,b\n1,2\n3,4,5\n", r"^f\.csv could not be read as CSV separated by commas \(Expected 2 fields in line 3, saw 3\)"
                           r": expected the same number of values on every line"),
    (b"a,b\nx,y\nz,w\n", r"^f\.csv has no numeric column"),
])
def test_a_malformed_upload_is_refused_with_what_is_wrong_and_what_is_expected(data, message):
    with pytest.raises(ValueError, match=message):
        series_csv.read_csv(data, "f.csv")


@pytest.mark.parametrize("data, columns", [
    (b"a;b\n1;2\n3;4\n5;6\n", ["a", "b"]),
    (b"a\tb\n1\t2\n3\t4\n5\t6\n", ["a", "b"]),
    (b"v\n1.5\n2.5\n3.5\n", ["v"]),
    ("\ufeffv,\"w, in m\"\n1,2\n3,4\n5,6\n".encode(), ["v", "w, in m"]),  # a BOM and a quoted header
])
def test_delimiters_are_guessed_from_the_first_lines(data, columns):
    assert list(series_csv.read_csv(data, "f.csv").columns) == columns


def test_missing_nan_and_infinite_values_are_named_by_row():
    df = series_csv.read_csv(b"v\n1\n2\nnan\n4\ninf\n6\n\n-inf\n" + b"1\n" * 20, "f.csv")
    assert np.isnan(df["v"][2]) and np.isinf(df["v"][4])
    with pytest.raises(ValueError, match=r"^column 'v' has 3 value\(s\) that are missing, not numbers, NaN or infinite "
                                         r"\(row 3, row 5, row 7, counting rows below the header\): expected a finite "
                                         r"number in every row"):
        series_csv.series_from(df, "v", 10)


def test_a_series_too_short_for_the_sequence_length_is_refused():
    df = series_csv.read_csv(b"v\n" + b"".join(f"{i}\n".encode() for i in range(11)), "f.csv")
    with pytest.raises(ValueError, match=r"column 'v' has 11 numeric values; the forecast task with sequence length "
                                         r"10 needs at least 12"):
        series_csv.series_from(df, "v", 10)
