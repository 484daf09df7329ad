"""The README is a front page: its Python example runs as printed, its two commands are the ones CI runs, and the
details live in docs/ (links checked by tests/project/test_docs.py)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 250
DASHBOARD = "pip install -r requirements.txt && streamlit run streamlit_app.py"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)]


def test_readme_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMLAB_DB", str(tmp_path / "runs.db"))  # the recorder's example writes to the default store
    blocks = python_blocks()
    assert blocks, "the README has no python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    ratio = float(re.search(r"RNN at weight scale 0.9: dL/dh_1 / dL/dh_T = (\S+)", out).group(1))
    assert abs(ratio / 0.9**99 - 1) < 0.05
    run_id = re.search(r"/error_flow\?run=([0-9a-f]{32})", out).group(1)  # the PyTorch recorder's example
    from lstmlab.store import RunStore

    run = RunStore(str(tmp_path / "runs.db")).load(run_id)
    assert run.status == "finished" and list(run.eval["step"]) == [0, 10, 20] and len(run.steps) == 30


def test_readme_gives_the_two_commands_and_the_test_command_is_the_one_ci_runs():
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("bash ")]
    assert len(ci) == 1
    assert DASHBOARD in bash_blocks()
    assert ci[0] in bash_blocks()


def test_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    headings = re.findall(r"^## (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M)
    assert headings[:2] == ["The two commands", "The core in a few lines"]
    assert "Speed at a glance" in headings and "Documentation" in headings
    assert re.search(r"!\[[^\]]+\]\(docs/img/\w+\.png\)", text), "the tour shows a screenshot"
