"""`diffusion-desk install-desktop`: put Diffusion Desk in a Linux desktop's application menu, with its icon.

It writes a desktop entry (freedesktop.org Desktop Entry Specification) and the icon into the user's own data
folder ($XDG_DATA_HOME, else ~/.local/share), which desktops watch: no root, nothing outside the home folder.
`--remove` takes both away again. Imports no Qt.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

from resources import ICON_PNG, ICON_SVG

APP_ID = "diffusion-desk"  # the window sets the same desktop file name, so the desktop matches window and entry


def data_home() -> Path:
    configured = os.environ.get("XDG_DATA_HOME", "")
    return Path(configured) if os.path.isabs(configured) else Path.home() / ".local" / "share"


def installed_paths(home: Path) -> tuple[Path, Path, Path]:
    """The desktop entry, the scalable icon and the 256-pixel icon, under a data folder."""
    icons = home / "icons" / "hicolor"
    return (home / "applications" / f"{APP_ID}.desktop", icons / "scalable" / "apps" / f"{APP_ID}.svg",
            icons / "256x256" / "apps" / f"{APP_ID}.png")


def launch_command() -> list[str]:
    """How this program was started, as an absolute command a desktop can run from any folder."""
    started = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if started is not None and started.name == "main.py":  # a clone: `python main.py`
        return [sys.executable, str(started)]
    if started is not None and started.is_file() and os.access(started, os.X_OK):  # the installed command
        return [str(started)]
    return [sys.executable, "-m", "app.launcher"]


def exec_line(command: list[str]) -> str:
    """The Exec value: each argument quoted where the spec asks, with its reserved characters escaped."""
    def quote(argument: str) -> str:
        if not re.search(r"[\s\"'\\><~|&;$*?#()`]", argument):
            return argument.replace("%", "%%")
        escaped = re.sub(r'(["`$\\])', r"\\\1", argument).replace("%", "%%")
        return f'"{escaped}"'.replace("\\", "\\\\")  # string-level escaping of the backslashes, on top

    return " ".join(quote(argument) for argument in command)


def desktop_entry(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Diffusion Desk",
        "GenericName=Text diffusion viewer",
        "Comment=Watch and steer DiffusionGemma, a text-diffusion language model, denoise text",
        f"Exec={exec_line(command)}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Science;ArtificialIntelligence;",
        "Keywords=diffusion;language model;LLM;Gemma;",
        f"StartupWMClass={APP_ID}",
        "",
    ])


def install(home: Path, command: list[str]) -> list[Path]:
    entry, svg, png = installed_paths(home)
    for folder in (entry.parent, svg.parent, png.parent):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ICON_SVG, svg)
    shutil.copyfile(ICON_PNG, png)
    entry.write_text(desktop_entry(command), encoding="utf-8")
    return [entry, svg, png]


def remove(home: Path) -> list[Path]:
    removed = [path for path in installed_paths(home) if path.exists()]
    for path in removed:
        path.unlink()
    return removed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="diffusion-desk install-desktop",
                                     description="Add Diffusion Desk to this desktop's application menu, with its "
                                                 "icon (Linux: a desktop entry in ~/.local/share/applications).")
    parser.add_argument("--remove", action="store_true", help="take the entry and the icon away again")
    args = parser.parse_args(argv)
    home = data_home()
    try:
        paths = remove(home) if args.remove else install(home, launch_command())
    except OSError as error:
        print(f"diffusion-desk: could not {'remove' if args.remove else 'write'} the desktop entry: {error}",
              file=sys.stderr)
        return 2
    if args.remove:
        print("Removed " + (", ".join(map(str, paths)) if paths else "nothing (no desktop entry was installed)"))
    else:
        print(f"Diffusion Desk is in the application menu (it may take a moment to appear): {paths[0]}")
    return 0
