"""The layout's rules, run in the suite: import-linter's contracts (pyproject.toml) and what imports pull in."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
ROOTS = ("app", "models", "widgets")
LIGHT = ("models.work", "models.canvas", "models.session", "models.export", "models.inputs", "widgets")
HEAVY = ("torch", "transformers", "diffusers", "accelerate")
LINT = "import sys\nfrom importlinter.cli import lint_imports\nsys.exit(lint_imports(sys.argv[1], no_cache=True))\n"


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT, str(cwd / "pyproject.toml")], cwd=cwd, capture_output=True,
                          text=True)


def _modules(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in folder.rglob("*.py"))


def test_the_contracts_hold():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_contract_fails(tmp_path):
    """The contracts catch what they forbid: Qt and torch in the light packages, and a cycle."""
    for name in (*ROOTS, "pyproject.toml"):
        source = ROOT / name
        (shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")) if source.is_dir()
         else shutil.copy(source, tmp_path / name))
    work = tmp_path / "models" / "work"
    (work / "qt_leak.py").write_text("import PySide6\n")
    (work / "torch_leak.py").write_text("import torch\n")
    (work / "loop_a.py").write_text("from models.work import loop_b\n")
    (work / "loop_b.py").write_text("from models.work import loop_a\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    for contract in ("No Qt in models", "No torch, transformers or diffusers", "No import cycles"):
        assert any(contract in line and "BROKEN" in line for line in done.stdout.splitlines()), done.stdout
    assert "Layers: app over widgets over models KEPT" in done.stdout


def test_no_import_cycle_even_through_type_checking_imports():
    """Stricter than the linter (which skips `if TYPE_CHECKING:`): no two modules import each other at all."""
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    modules = sorted(graph.modules)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(modules)))
    for module in modules:
        if module not in index:
            visit(module)
    assert not cycles, cycles


def test_light_packages_import_no_torch():
    """Importing every module of the light packages and of widgets/ in a fresh interpreter loads no torch."""
    modules = [m for package in LIGHT for m in _modules(package)]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\nassert not heavy, heavy\n")
    assert len(modules) > 40
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_package_says_what_it_holds():
    """Each folder opens with a short docstring (its first line says what it holds) and has about 15 modules at most."""
    for init in sorted(p for root in ROOTS for p in (ROOT / root).rglob("__init__.py")):
        text = init.read_text(encoding="utf-8").strip()
        assert text.startswith('"""') and len(text.splitlines()[0]) > 20 and text.count("\n") <= 6, init
        assert len([p for p in init.parent.glob("*.py") if p.name != "__init__.py"]) <= 16, init.parent
