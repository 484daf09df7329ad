"""The documentation: links between the pages resolve, docs/performance.md and the README's speed at a glance are
what bench/report.py makes of the committed results files, and each results file names its machine and run."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.common import Results

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> str:
    """The text outside code: fenced blocks and inline code removed."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings (lower case, punctuation but - and _ dropped, spaces to -,
    repeats numbered -1, -2, ...) and its explicit <a id/name> anchors."""
    text = FENCE.sub("", page.read_text())
    seen: dict[str, int] = {}
    out = set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
        slug = "".join(ch for ch in plain.lower() if ch.isalnum() or ch in " -_").replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(page.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: {dest.name} has no heading with the anchor #{anchor}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading(page):
    assert broken_links(page) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "b.md").write_text("# Title\n\n## A job's life: σ and `code`\n\n## Title\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#a-jobs-life-σ-and-code) [ok](b.md#title-1) [ok](#here) ![img](b.md)\n"
                    "[gone](c.md) [no anchor](b.md#nowhere) `[in code](d.md)` [web](https://example.org/x)\n"
                    "```\n[in a block](e.md)\n```\n# Here\n")
    assert [b.split(":")[0] for b in broken_links(page)] == ["c.md", "b.md#nowhere"]


def test_docs_pages_are_all_reachable_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


def test_performance_page_is_generated_from_the_results_files():
    expected = report.performance(report.load_results())
    assert (ROOT / "docs" / "performance.md").read_text() == expected, "run python bench/report.py"


def test_readme_speed_at_a_glance_is_generated_from_the_results_files():
    readme = (ROOT / "README.md").read_text()
    assert report.readme_block(report.load_results()) in readme, "run python bench/report.py"


def test_report_check_fails_when_a_page_is_stale(tmp_path, monkeypatch):
    stale = tmp_path / "performance.md"
    stale.write_text("# Performance\n\nhand-typed 12 ms\n")
    monkeypatch.setattr(report, "PERFORMANCE", stale)
    monkeypatch.setattr(sys, "argv", ["report.py", "--check"])
    with pytest.raises(SystemExit) as stop:
        report.main()
    assert stop.value.code == 1
    assert stale.read_text() == "# Performance\n\nhand-typed 12 ms\n"


def _results_files():
    return sorted((ROOT / "bench" / "results").glob("*.json"))


def test_results_are_on_file():
    assert {p.stem for p in _results_files()} >= {"engines"}, "the headline ratios need bench/results/engines.json"


@pytest.mark.parametrize("path", _results_files(), ids=lambda p: p.name)
def test_each_results_file_names_its_machine_load_date_and_commit(path):
    data = json.loads(path.read_text())
    assert data["name"] == path.stem
    machine = data["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["memory_gib"] > 0
    assert machine["os"] and re.fullmatch(r"3\.\d+\.\d+", machine["python"])
    assert "numpy" in machine["libraries"]
    for key in ("load_start", "load_end"):
        assert len(data[key]) == 3 and all(v >= 0 for v in data[key])
    assert data["started"] <= data["finished"] and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d", data["started"])
    assert re.fullmatch(r"[0-9a-f]{7,40}( \+ changes)?", data["commit"])
    assert data["command"].startswith("python bench/")
    assert data["tables"]
    for table in data["tables"]:
        assert table["rows"] and all(len(r) == len(table["columns"]) for r in table["rows"])


def test_results_file_written_by_a_benchmark(tmp_path):
    url = "postgresql+psycopg://lab:s3cret@db:5432/bench"
    res = Results("demo", "Demo", argv=[str(ROOT / "bench" / "bench_demo.py"), "--postgres", url,
                                        "--results", str(tmp_path / "x.json")])
    table = res.table("a table", ["shape", "ms", "ratio"])
    table.add("H = 32", 1.5, 2.25)
    table.add("H = 64", float("inf"), None)
    res.note("a note")
    path = res.save(tmp_path / "demo.json")
    data = json.loads(path.read_text())
    assert data["command"] == "python bench/bench_demo.py --postgres 'postgresql+psycopg://lab:***@db:5432/bench'"
    assert "s3cret" not in path.read_text()
    assert data["tables"] == [{"title": "a table", "columns": ["shape", "ms", "ratio"],
                               "rows": [["H = 32", 1.5, 2.25], ["H = 64", "inf", None]]}]
    assert data["notes"] == ["a note"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert head.startswith(data["commit"].split()[0])
    assert data["machine"]["cores"] >= 1 and data["machine"]["libraries"]["numpy"]
    assert not list(tmp_path.glob("*.tmp"))


def test_docs_named_in_the_code_exist_with_their_anchors():
    """Comments say why and link to the measurement (docs/performance.md#section) instead of quoting timings."""
    broken = []
    for path in [*ROOT.glob("lstmlab/**/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("pages/*.py")]:
        for page, anchor in re.findall(r"\b(docs/[\w-]+\.md)(?:#([\w-]+))?", path.read_text()):
            dest = ROOT / page
            if not dest.exists() or (anchor and anchor not in anchors(dest)):
                broken.append(f"{path.relative_to(ROOT)}: {page}#{anchor}")
    assert broken == []
