"""The README's Python examples run as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_examples_run(capsys):
    blocks = python_blocks()
    assert blocks, "the README has no python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    ratio = float(re.search(r"RNN at weight scale 0.9: dL/dh_1 / dL/dh_T = (\S+)", out).group(1))
    assert abs(ratio / 0.9**99 - 1) < 0.05
