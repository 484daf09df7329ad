"""The command line that does what the dashboard shows: a run's ``python -m lstmlab run ...`` (the dashboard offers
it when a study is too large for an interactive session)."""
from __future__ import annotations

import shlex
from typing import Callable

from lstmlab.core.config import RunConfig

SERIES_FILE = "FILE"  # the placeholder command_line prints for a series that exists only in memory


def flag_names(name: str) -> list[str]:
    """The command line's flags of a RunConfig field: ``--seq-len`` and its alias ``--seq_len``."""
    dashed = "--" + name.replace("_", "-")
    return [dashed] if "_" not in name else [dashed, "--" + name]


def command_line(config: RunConfig) -> str:
    """The command line that runs ``config``: one flag per RunConfig field that differs from RunConfig()'s
    default. A series is printed as ``--series @FILE`` (series_note says what to put in FILE)."""
    d, default = config.to_dict(), RunConfig().to_dict()
    parts = ["python -m lstmlab run"]
    for k, v in d.items():
        if v == default[k]:
            continue
        text = f"@{SERIES_FILE}" if k == "series" else repr(v) if isinstance(v, float) else str(v)
        parts.append(f"{flag_names(k)[0]} {shlex.quote(text)}")
    return " ".join(parts)


def series_note(config: RunConfig, quote: Callable[[str], str] = str) -> str:
    """What to do before running command_line(config) when it names a series ("" otherwise); ``quote`` writes
    the series' name (the dashboard escapes it for Markdown)."""
    if config.series is None:
        return ""
    name = f" ({quote(config.series_name)})" if config.series_name else ""
    return (f" First save the uploaded values{name} to {SERIES_FILE}, one number per line or comma separated "
            f"({len(config.series):,} values).")
