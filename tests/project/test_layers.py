"""The package's layers: each module imports only from its own layer and the layers below it (module-level and
function-level imports alike), only lstmlab.ui imports Streamlit, and the store loads no compiler."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lstmlab"

# Lowest first. A module in layer k may import lstmlab modules of layers 0..k; "ui" and "cli" are two tops that
# import neither each other. Anything not listed here is an error of the test itself (a new top-level module).
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("runs",),
    ("training",),
    ("store",),
    ("jobs", "torch"),
    ("reproduce",),
    ("views",),
    ("ui",),
    ("cli",),
]
TOPS = {"ui", "cli"}
ROOT_MODULES = ("lstmlab", "lstmlab.__main__")  # the public names (core only, checked below) and `python -m lstmlab`


def layer_of(module: str) -> int:
    """Index in LAYERS of a dotted lstmlab module name ("lstmlab.core.model" -> 0)."""
    parts = module.split(".")
    assert parts[0] == "lstmlab"
    if len(parts) == 1:
        return -1
    for k, names in enumerate(LAYERS):
        if parts[1] in names:
            return k
    raise AssertionError(f"{module}: not in any layer of LAYERS")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted lstmlab module or module.name) of every import in a file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "lstmlab"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] == "lstmlab":
                found += [(node.lineno, f"{base}.{a.name}" if base == "lstmlab" else base) for a in node.names]
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts)


def violations() -> list[str]:
    bad = []
    for path in modules():
        name = module_name(path)
        if name in ROOT_MODULES:
            continue
        own = layer_of(name)
        for line, target in imported(path):
            if target in ("lstmlab",):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports the package root; import the layer's module")
                continue
            k = layer_of(target)
            top = LAYERS[k][0] if k >= 0 else ""
            if k > own or (top in TOPS and LAYERS[own][0] in TOPS and top != LAYERS[own][0]):
                bad.append(f"{path.relative_to(ROOT)}:{line} ({LAYERS[own][0]}) imports {target} ({top})")
    return bad


def test_every_module_imports_downward_only():
    assert violations() == []


def test_the_root_names_only_the_core():
    """lstmlab/__init__.py exposes the core's public names and nothing above it."""
    targets = [t for _, t in imported(PACKAGE / "__init__.py")]
    assert targets and all(layer_of(t) == 0 for t in targets), targets


@pytest.mark.parametrize("case", ["upward", "sideways", "relative"])
def test_the_walk_sees_a_forbidden_import(tmp_path, monkeypatch, case):
    """The check itself fails on an import that points the wrong way (written into a scratch copy of a module)."""
    fake_root = tmp_path / "tree"
    (fake_root / "lstmlab" / "core").mkdir(parents=True)
    (fake_root / "lstmlab" / "ui").mkdir()
    (fake_root / "lstmlab" / "cli").mkdir()
    for d in ("lstmlab", "lstmlab/core", "lstmlab/ui", "lstmlab/cli"):
        (fake_root / d / "__init__.py").write_text("")
    source = {
        "upward": ("lstmlab/core/model.py", "def f():\n    from lstmlab.store import RunStore\n"),
        "sideways": ("lstmlab/ui/page.py", "from lstmlab.cli import main\n"),
        "relative": ("lstmlab/core/spec.py", "from ..views import text\n"),
    }[case]
    (fake_root / source[0]).write_text(source[1])
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake_root / "lstmlab")
    found = violations()
    assert len(found) == 1 and found[0].startswith(source[0]), found


def test_only_ui_imports_streamlit():
    bad = []
    for path in modules():
        if "ui" in path.relative_to(PACKAGE).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "streamlit"]
    assert bad == []


def test_only_the_torch_bridge_imports_torch():
    """torch is an optional extra: lstmlab.torch imports it, and torch_interop inside its functions."""
    bad = []
    for path in modules():
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "torch" or rel.as_posix() == "core/torch_interop.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "torch"]
    assert bad == []


@pytest.mark.parametrize("module", ["lstmlab.store", "lstmlab.runs.records", "lstmlab", "lstmlab.cli"])
def test_importing_loads_no_compiler(module):
    """Reading runs needs no numba: the engines are imported when a pass first asks for one."""
    code = f"import sys, {module}; print(sorted(m for m in ('numba', 'llvmlite') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
