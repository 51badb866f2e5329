"""scripts/check_qt.py: every missing system library of Qt's X11 plugin is named, with this system's install line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import check_qt  # noqa: E402

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("ldd")), reason="needs gcc and ldd")


def plugin_needing(tmp_path: Path, libraries: list[str]) -> Path:
    """A shared library linked against libraries that are then deleted, as a plugin on a machine without them."""
    links = []
    for library in libraries:
        stem = library.removeprefix("lib").split(".so")[0]
        built = tmp_path / library
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(built), f"-Wl,-soname,{library}", "-x", "c", "-"],
                       input="int unused(void) { return 0; }", text=True, check=True)
        (tmp_path / f"lib{stem}.so").symlink_to(built.name)
        links.append(f"-l{stem}")
    plugin = tmp_path / "libqxcb.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), "-x", "c", "-", f"-L{tmp_path}", "-Wl,--no-as-needed",
                    *links], input="int plugin(void) { return 1; }", text=True, check=True)
    for library in libraries:
        (tmp_path / library).unlink()
    return plugin


def test_every_missing_library_is_named_with_the_command_that_installs_it(tmp_path, monkeypatch, capsys):
    # Names no system has, so that ldd reports them missing here too (this machine has the real xcb libraries).
    names = ["libdd-absent-one.so.0", "libdd-absent-two.so.4"]
    plugin = plugin_needing(tmp_path, names)
    assert check_qt.missing_libraries([plugin]) == names
    monkeypatch.setattr(check_qt, "plugin_files", lambda: [plugin])
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert check_qt.main() == 2
    err = capsys.readouterr().err
    assert "libdd-absent-one.so.0, libdd-absent-two.so.4" in err and check_qt.install_command(names) in err


@pytest.mark.parametrize(("tool", "command"), [
    ("apt-get", "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-randr0"),
    ("dnf", "sudo dnf install -y xcb-util-cursor xcb-util-wm libxcb"),
    ("pacman", "sudo pacman -S --needed xcb-util-cursor xcb-util-wm libxcb"),
])
def test_the_command_follows_the_package_manager(tool, command):
    libraries = ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-randr.so.0"]
    assert check_qt.install_command(libraries, which=lambda name: name == tool) == command


def test_nothing_missing_passes(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(check_qt, "missing_libraries", lambda files: [])
    assert check_qt.main() == 0
