"""Installed as a Python application: the wheel is whole (demo model, resources, the training code Ctrl+K uses), one
`diffusion-desk` command takes main.py's commands, and a desktop entry installs with one command."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from app import launcher
from app.cli import desktop_entry

ROOT = Path(__file__).resolve().parent.parent
# What a build never needs: the checkout's environment, caches and earlier build outputs.
_NOT_SOURCES = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                      ".ruff_cache", ".hypothesis", "out", ".whl")


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    environment.update(HF_HUB_OFFLINE="1", **env)
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built as `pip wheel` builds it, from a copy of the sources (no build outputs left in the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    built = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                 str(tmp / "wheels"), str(source)], tmp)
    assert built.returncode == 0, built.stderr
    assert "Warning" not in built.stderr  # setuptools' "Package would be ignored" warnings included
    return next((tmp / "wheels").glob("diffusion_desk-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a fresh environment outside the checkout; the heavy dependencies (torch, Qt,
    transformers) are reused from the test's own environment through a .pth file."""
    tmp = tmp_path_factory.mktemp("install")
    venv = tmp / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp).returncode == 0
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).stdout.strip()
    heavy = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "heavy-dependencies.pth").write_text("\n".join(sorted(heavy)) + "\n", encoding="utf-8")
    done = run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                str(wheel)], tmp)
    assert done.returncode == 0, done.stderr
    (tmp / "elsewhere").mkdir()
    return venv


@pytest.mark.slow
def test_the_installed_command_generates_with_the_shipped_demo_model(installed):
    elsewhere = installed.parent / "elsewhere"
    command = installed / "bin" / "diffusion-desk"
    where = run([str(installed / "bin" / "python"), "-c",
                 "import app, models.training.rewrites, resources; print(app.__file__); print(resources.DEMO_MODEL)"],
                elsewhere)
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(installed) for line in where.stdout.split())  # not the checkout's
    done = run([str(command), "generate", "--prompt", "Sort 3 1 2", "--seed", "0"], elsewhere)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 2 3"
    helped = run([str(command), "--help"], elsewhere)
    assert helped.returncode == 0 and "opening the window" not in helped.stdout + helped.stderr
    assert all(name in helped.stdout for name in launcher.COMMANDS)
    sub = run([str(command), "serve", "--help"], elsewhere)
    assert sub.returncode == 0 and "diffusion-desk serve" in sub.stdout
    xdg = installed.parent / "xdg"
    put = run([str(command), "install-desktop"], elsewhere, XDG_DATA_HOME=str(xdg))
    assert put.returncode == 0, put.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(xdg / "applications" / "diffusion-desk.desktop")
    assert entry["Desktop Entry"]["Exec"] == str(command)  # the installed command, runnable from any folder
    assert (xdg / "icons" / "hicolor" / "256x256" / "apps" / "diffusion-desk.png").stat().st_size > 0


def test_help_answers_before_qt_and_says_no_window_is_opening():
    code = ("import sys\nfrom app.launcher import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'torch'))]\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: diffusion-desk") and "opening the window" not in done.stdout + done.stderr
    main_py = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
    assert main_py.stdout == done.stdout and main_py.stderr == ""


def test_an_unknown_command_is_one_line_and_exit_2(capsys):
    assert launcher.main(["genrate", "--prompt", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no command 'genrate'" in err[0] and "generate" in err[0]


def test_the_desktop_entry_installs_and_removes_under_the_users_data_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setattr(sys, "argv", [str(ROOT / "main.py"), "install-desktop"])
    assert launcher.main(["install-desktop"]) == 0
    entry, svg, png = desktop_entry.installed_paths(tmp_path / "share")
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read(entry)
    fields = parsed["Desktop Entry"]
    assert fields["Exec"] == desktop_entry.exec_line([sys.executable, str(ROOT / "main.py")])  # a clone: main.py
    assert fields["Icon"] == "diffusion-desk" and fields["StartupWMClass"] == "diffusion-desk"
    assert svg.read_bytes().startswith(b"<svg") and png.read_bytes().startswith(b"\x89PNG")
    assert launcher.main(["install-desktop", "--remove"]) == 0
    assert not entry.exists() and not svg.exists() and not png.exists()
    assert "Removed" in capsys.readouterr().out


def test_exec_quotes_what_the_desktop_spec_reserves():
    assert desktop_entry.exec_line(["/opt/dd/bin/diffusion-desk"]) == "/opt/dd/bin/diffusion-desk"
    assert desktop_entry.exec_line(["/home/a b/python", "/x/main.py"]) == '"/home/a b/python" /x/main.py'
    assert desktop_entry.exec_line(['/a"b$c']) == '"/a\\\\"b\\\\$c"'  # \" and \$, each backslash doubled again
    assert desktop_entry.exec_line(["/100%/x"]) == "/100%%/x"


def test_the_wheel_holds_every_resource_the_app_reads_and_the_training_code(wheel):
    import resources

    names = set(zipfile.ZipFile(wheel).namelist())
    named = [value for key, value in vars(resources).items()
             if key.isupper() and key != "ROOT" and isinstance(value, Path)]
    for path in named:  # what resources/__init__.py names, files and folders alike, is in the wheel
        relative = f"resources/{path.relative_to(resources.ROOT).as_posix()}"
        assert relative in names or any(name.startswith(relative + "/") for name in names), relative
    for needed in ("resources/demo-model/model.safetensors", "resources/demo-model/tokenizer.json",
                   "resources/demo-images/red-circle.png", "models/training/rewrites.py", "app/launcher.py"):
        assert needed in names, needed
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[console_scripts]" in text and "diffusion-desk = app.launcher:main" in text
