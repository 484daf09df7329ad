"""docs/performance.md and the README's speed at a glance, generated from the benchmarks' results files.

Each benchmark under bench/ writes ``bench/results/<name>.json`` when it runs (bench.common.Results: its tables,
the machine, the load average at its start and end, the date and the commit). This script renders every results
file as a section of docs/performance.md (the benchmark's own description from its docstring, how it was run,
where and when, and its tables), lists the benchmarks with no results on file, and writes the three headline
ratios into docs/performance.md and into the README between its speed markers. Nothing in those pages is typed:
tests/project/test_docs.py checks that both equal what this script makes of the committed results.

    python bench/report.py            # rewrite docs/performance.md and the README's block
    python bench/report.py --check    # exit 1 if either differs from what the results give
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, fmt  # noqa: E402

PERFORMANCE = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
GLANCE_BEGIN = "<!-- speed at a glance: written by python bench/report.py from bench/results/ -->"
GLANCE_END = "<!-- end of speed at a glance -->"


@dataclass(frozen=True)
class Headline:
    """One ratio at a glance: the range of ``column`` over the rows of a results table matching ``where``."""

    name: str  # results file
    table: int  # index of the table in it
    where: dict  # column -> value or tuple of values a row must have
    column: str
    text: str  # "{ratio}" is replaced by the range, e.g. "2.1-5.4×"


HEADLINES = (
    Headline("engines", 0, {"T": 100, "H": (32, 64)}, "capture / compiled",
             "A PyTorch `LSTMCell` loop that keeps every ∂L/∂h_t and ∂L/∂c_t (what it takes to record the same "
             "histories) takes **{ratio}** as long as lstmlab's compiled pass (LSTM, T = 100, H ≤ 64, both dtypes)."),
    Headline("engines", 0, {"T": 100, "H": (32, 64), "dtype": "float64"}, "fused / compiled",
             "PyTorch's fused `nn.LSTM` forward + backward, which records nothing, takes **{ratio}** as long as "
             "that compiled pass with every history recorded (T = 100, H ≤ 64, float64)."),
    Headline("engines", 0, {"T": 100}, "reference / compiled",
             "The readable numpy engine, the tests' oracle, takes **{ratio}** as long as the compiled one "
             "(T = 100, H = 32-256, both dtypes)."),
)


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """Every results file in ``folder``, by benchmark name."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("name") != path.stem:
            raise ValueError(f"{path}: its name field is {data.get('name')!r}, expected {path.stem!r}")
        out[path.stem] = data
    return out


def benchmarks(folder: Path = ROOT / "bench") -> dict[str, tuple[str, Path]]:
    """The benchmarks that write results files, in the order of docs/performance.md: name -> (title, script)."""
    found = {}
    for script in sorted(folder.glob("*.py")):
        m = re.search(r'Results\(\s*"(\w+)",\s*"([^"]+)"', script.read_text())
        if m:
            found[m.group(1)] = (m.group(2), script)
    order = ("engines", "train", "online", "library", "torch_recorder", "torch_exactness", "jobs", "quotas",
             "first_study", "live", "dashboard", "load", "default_study", "reproduce")
    return {k: found[k] for k in sorted(found, key=lambda k: (order.index(k) if k in order else len(order), k))}


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def describe(script: Path) -> list[str]:
    """The script's docstring as Markdown lines: its text, its command lines as a code block, without the line
    naming its results file."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    out = []
    for para in doc.split("\n\n"):
        lines = para.split("\n")
        if para.startswith("Results:"):
            continue
        if all(line.startswith("    ") for line in lines):
            out += ["```bash", *(line[4:] for line in lines), "```", ""]
        else:
            out += [line.replace("``", "`") for line in lines] + [""]
    return out


def _row_matches(row: dict, where: dict) -> bool:
    return all(row.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in where.items())


def headline(h: Headline, results: dict[str, dict]) -> str:
    data = results.get(h.name)
    if data is None:
        return h.text.replace("**{ratio}**", "(not measured yet)")
    table = data["tables"][h.table]
    rows = [dict(zip(table["columns"], r)) for r in table["rows"]]
    values = [r[h.column] for r in rows if _row_matches(r, h.where) and isinstance(r[h.column], (int, float))]
    if not values:
        raise ValueError(f"{h.name}: no row of table {h.table} matches {h.where} with a number in {h.column!r}")
    lo, hi = min(values), max(values)
    ratio = f"{fmt(float(lo))}×" if fmt(float(lo)) == fmt(float(hi)) else f"{fmt(float(lo))}-{fmt(float(hi))}×"
    return h.text.replace("{ratio}", ratio)


def _date(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC"


def _load(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def glance(results: dict[str, dict], page: str = "") -> list[str]:
    """The headline ratios as Markdown bullets under a line saying which run of which benchmark measured them, where
    and when (``page``: the path of docs/performance.md from where the lines go, "" within it)."""
    titles = {name: title for name, (title, _) in benchmarks().items()}
    lines = []
    for name in dict.fromkeys(h.name for h in HEADLINES):
        data = results.get(name)
        title = titles.get(name, name)
        if data:
            m = data["machine"]
            lines.append(f"From [{title}]({page}#{slug(title)}) (`{data['command']}` on {m['cpu']}, {m['cores']} "
                         f"cores, {_date(data['started'])[:10]}, load average {data['load_start'][0]:.1f} at the "
                         f"start, {data['load_end'][0]:.1f} at the end):")
        else:
            lines.append(f"From [{title}]({page}#{slug(title)}), not measured yet:")
        lines.append("")
        lines += [f"- {headline(h, results)}" for h in HEADLINES if h.name == name]
        lines.append("")
    return lines[:-1]


def readme_block(results: dict[str, dict]) -> str:
    """The README's speed-at-a-glance block, markers included."""
    body = glance(results, "docs/performance.md") + [
        "", "Medians of runs timed in turns on a shared machine, with its load: see "
        "[docs/performance.md](docs/performance.md) for every table, its machine and how to run it again."]
    return "\n".join([GLANCE_BEGIN, *body, GLANCE_END])


def section(name: str, title: str, script: Path, data: dict) -> list[str]:
    m = data["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    out = [f"## {title}", "", *describe(script),
           f"**This run:** `{data['command']}`, {_date(data['started'])} to {_date(data['finished'])[11:]}, "
           f"commit `{data['commit']}`.",
           "",
           f"**Machine:** {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; Python {m['python']}; "
           f"{libs}. **Load average** (1, 5, 15 min) {_load(data['load_start'])} at the start, "
           f"{_load(data['load_end'])} at the end.", ""]
    for table in data["tables"]:
        out += [f"*{table['title']}*", "", "| " + " | ".join(table["columns"]) + " |",
                "|" + "---|" * len(table["columns"])]
        out += ["| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |" for row in table["rows"]]
        out.append("")
    out += [*(n + "\n" for n in data["notes"])]
    return out


def performance(results: dict[str, dict]) -> str:
    known = benchmarks()
    lines = ["# Performance", "",
             "<!-- Generated by python bench/report.py from bench/results/*.json: edit those scripts, run them, "
             "then run bench/report.py; never edit this file by hand. -->", "",
             "Speed is measured by the benchmarks under `bench/`, never asserted in tests. Each prints its tables "
             "and writes them to `bench/results/<name>.json` with the machine it ran on, the load average at its "
             "start and end, the date and the commit; `python bench/report.py` turns those files into this page. "
             "Timings are medians of runs taken in turns (so that a change in load hits every variant alike), and "
             "each ratio comes from the medians of one run. The machine these ran on is shared with other work: "
             "read each table with its load average (a 2-core machine at load 4 gives each process about half "
             "a core), and compare the ratios rather than the times.", "",
             "To measure again: run the command shown in a section (the full benchmark without `--quick`), then "
             "`python bench/report.py`, and commit the results file with the page.", "",
             "## At a glance", "", *glance(results), "",
             "| benchmark | script | measured | load average at the start, end |", "|---|---|---|---|"]
    for name, (title, script) in known.items():
        data = results.get(name)
        link = f"[{title}](#{slug(title)})"
        rel = script.relative_to(ROOT)
        if data:
            lines.append(f"| {link} | `{rel}` | {_date(data['started'])} | {data['load_start'][0]:.1f}, "
                         f"{data['load_end'][0]:.1f} |")
        else:
            lines.append(f"| {link} | `{rel}` | not on file yet | |")
    lines.append("")
    for name, (title, script) in known.items():
        if name in results:
            lines += section(name, title, script, results[name])
        else:
            lines += [f"## {title}", "", *describe(script),
                      f"No results on file yet: run `python {script.relative_to(ROOT)}`, then "
                      "`python bench/report.py`.",
                      ""]
    for name in sorted(set(results) - set(known)):
        raise ValueError(f"bench/results/{name}.json: no benchmark under bench/ writes it")
    return "\n".join(lines).rstrip("\n") + "\n"


def readme_with_block(readme: str, results: dict[str, dict]) -> str:
    """``readme`` with the text between the speed markers replaced by the current block."""
    start, end = readme.find(GLANCE_BEGIN), readme.find(GLANCE_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md: expected the markers {GLANCE_BEGIN!r} and {GLANCE_END!r}")
    return readme[:start] + readme_block(results) + readme[end + len(GLANCE_END):]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 if a page differs")
    args = ap.parse_args()
    results = load_results()
    pages = {PERFORMANCE: performance(results), README: readme_with_block(README.read_text(), results)}
    stale = [p for p, text in pages.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p} differs from what bench/report.py makes of bench/results/")
        sys.exit(1 if stale else 0)
    for p in stale:
        p.write_text(pages[p])
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
