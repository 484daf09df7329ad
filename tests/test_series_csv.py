"""lstmlab.series_csv: a forecast series from an uploaded CSV, or a message a person can act on."""

import numpy as np
import pytest

from lstmlab import series_csv


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
