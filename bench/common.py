"""What the benchmarks share: interleaved median timing, a description of the machine, and the results file each
benchmark writes (``bench/results/<name>.json``, read by ``bench/report.py`` into docs/performance.md)."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# Libraries whose versions a results file names (those installed); a benchmark adds the ones it times besides.
LIBRARIES = ("numpy", "numba", "llvmlite", "scipy", "scipy-openblas32", "pandas", "sqlalchemy")


def median_times(fns, repeats: int, warmup: int = 2, clock=time.perf_counter) -> list[float]:
    """Median time of each function, their runs interleaved so that load changes hit all alike. ``clock``:
    wall time by default; ``time.thread_time`` gives the CPU time of a single-threaded function, which other
    work on the machine changes much less."""
    for _ in range(warmup):  # the first passes of a new shape grow the heap and fill the caches
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = clock()
            fn()
            ts.append(clock() - t0)
    return [statistics.median(ts) for ts in times]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _os() -> str:
    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distribution = ""
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}"
    return f"{kernel} ({distribution})" if distribution else kernel


def machine_info(libraries: tuple[str, ...] = ()) -> dict:
    """The machine a benchmark runs on: CPU model, cores, memory, OS, Python and the versions of the installed
    ``LIBRARIES`` and ``libraries`` (distribution names)."""
    versions = {}
    for name in dict.fromkeys(LIBRARIES + tuple(libraries)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(), "os": _os(),
            "python": platform.python_version(), "libraries": versions}


def machine() -> str:
    """CPU model, cores, OS and Python, in one line."""
    m = machine_info()
    return f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, Python {m['python']}"


def load() -> str:
    """The load average (1, 5, 15 minutes): other work on a shared machine moves every timing."""
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def git_commit(root: Path = ROOT) -> str:
    """The checked-out commit of ``root`` (short hash), "+ changes" when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + changes" if dirty else "")


def fmt(v) -> str:
    """A value as a results table shows it: floats to three significant figures (whole numbers from 100 on, an
    exponent below 1e-4); None as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


class Table:
    """One table of a benchmark's results: printed as Markdown row by row as it is measured, and kept."""

    def __init__(self, title: str, columns: list[str], echo: bool = True):
        self.title, self.columns, self.rows, self.echo = title, list(columns), [], echo
        if echo:
            print(f"\n{title}\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns), flush=True)

    def add(self, *values) -> None:
        """One row: numbers in the unit its column names (raw, unrounded), text, or None for an empty cell."""
        if len(values) != len(self.columns):
            raise ValueError(f"{self.title!r}: a row of {len(values)} values for {len(self.columns)} columns")
        row = [float(v) if hasattr(v, "dtype") else v for v in values]  # numpy scalars as plain JSON numbers
        row = [v if not isinstance(v, float) or math.isfinite(v) else str(v) for v in row]  # JSON has no inf
        self.rows.append(row)
        if self.echo:
            print("| " + " | ".join(fmt(v) for v in row) + " |", flush=True)

    def as_dict(self) -> dict:
        return {"title": self.title, "columns": self.columns, "rows": self.rows}


WHERE_FLAGS = ("--results", "--keep")


class Results:
    """What one run of a benchmark measured, with the machine, its load at the start and the end, the date and
    the commit, written to ``bench/results/<name>.json`` by :meth:`save` (``--results PATH`` elsewhere, see
    :func:`results_path`). ``title`` is the section heading of docs/performance.md."""

    def __init__(self, name: str, title: str, libraries: tuple[str, ...] = (), argv: list[str] | None = None):
        self.name, self.title = name, title
        argv = sys.argv if argv is None else argv
        script = Path(argv[0]).resolve()
        shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
        args = list(argv[1:])
        for flag in WHERE_FLAGS:  # where the results or the runs went is not how to measure again
            if flag in args:
                del args[args.index(flag):args.index(flag) + 2]
        args = [re.sub(r"(://[^/@\s:]*:)[^/@\s]*@", r"\1***@", a) for a in args]  # no password on file
        args = [a for a in args if not a.startswith(tuple(f"{f}=" for f in WHERE_FLAGS))]
        self.command = shlex.join(["python", str(shown), *args])
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.load_start = [round(v, 2) for v in os.getloadavg()]
        self.machine = machine_info(libraries)
        self.commit = git_commit()
        self.tables: list[Table] = []
        self.notes: list[str] = []

    def table(self, title: str, columns: list[str]) -> Table:
        t = Table(title, columns)
        self.tables.append(t)
        return t

    def note(self, text: str) -> None:
        """A line printed now and kept under the tables (what a table's numbers need to be read right)."""
        print(text, flush=True)
        self.notes.append(text)

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "command": self.command, "commit": self.commit,
                "started": self.started.isoformat(timespec="seconds"),
                "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": self.machine, "load_start": self.load_start,
                "load_end": [round(v, 2) for v in os.getloadavg()],
                "tables": [t.as_dict() for t in self.tables], "notes": self.notes}

    def save(self, path: str | Path | None = None) -> Path:
        """Write the file whole (a temporary file renamed over it: never half a file); returns its path."""
        path = Path(path) if path else RESULTS / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(dumps(self.as_dict()))
        tmp.replace(path)
        print(f"\nresults written to {path}; python bench/report.py renews docs/performance.md", flush=True)
        return path


def dumps(data: dict) -> str:
    """A results file's text: JSON with one line per top-level field and per table row, so that a diff between
    two runs shows the rows that changed."""
    def one(v) -> str:
        return json.dumps(v, ensure_ascii=False, allow_nan=False)

    lines = []
    for key, value in data.items():
        if key == "tables":
            tables = []
            for t in value:
                rows = ",\n".join("    " + one(r) for r in t["rows"])
                tables.append(f'  {{"title": {one(t["title"])},\n   "columns": {one(t["columns"])},\n'
                              f'   "rows": [\n{rows}\n   ]}}')
            lines.append('"tables": [\n' + ",\n".join(tables) + "\n]")
        else:
            lines.append(f"{one(key)}: {one(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def results_path(parser) -> None:
    """Add ``--results PATH`` to a benchmark's argument parser: where its results file goes (default
    bench/results/<name>.json)."""
    parser.add_argument("--results", help="write the results file here instead of bench/results/NAME.json")
