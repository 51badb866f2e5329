"""The code base stays lint-clean (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed: it is part of the test extra")
    folders = ["app", "models", "widgets", "resources", "tests", "scripts", "main.py"]
    done = subprocess.run([ruff, "check", *folders], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _app_imports() -> dict[str, set[str]]:
    import ast

    graph: dict[str, set[str]] = {}
    for path in (ROOT / "app").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.startswith("app")}
        graph[module] = targets
    return graph


def test_no_import_cycle_inside_app():
    """The window's modules import downwards only (a controller never imports the window that owns it)."""
    graph = _app_imports()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target in graph and not state.get(target):
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [module])


def test_models_import_no_qt():
    """models/ is the engine and the user's work, with no Qt: every view is built on top of it."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "models").rglob("*.py")
                 if any(word in p.read_text(encoding="utf-8") for word in ("PySide6", "PyQt", "pyqtgraph", "qasync"))]
    assert not offenders, offenders


def test_window_modules_stay_small():
    """No module of the window (app/, widgets/) grows much past 300 lines (the editor pane, the most involved
    widget, is the largest at about 360)."""
    long = {str(p.relative_to(ROOT)): n for folder in ("app", "widgets") for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 370}
    assert not long, long
