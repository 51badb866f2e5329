"""Before the window starts: can Qt's X11 platform plugin load? If system libraries are missing, name every one and
print the one command that installs them on this system (apt, dnf or pacman), then exit 2.

Qt's own message, when the xcb plugin cannot load, names only the first missing library and then aborts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# library file -> (Debian/Ubuntu, Fedora, Arch) package
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
}
_XCB_EXTENSION = re.compile(r"libxcb-(\w+)\.so\.\d+")  # other xcb extensions: libxcb-randr0 ... on Debian
MANAGERS = (("apt-get", "sudo apt-get install -y"), ("dnf", "sudo dnf install -y"),
            ("pacman", "sudo pacman -S --needed"))


def plugin_files() -> list[Path]:
    """The xcb platform plugin and the Qt library it sits on."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    return [p for p in (qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*")))
            if p.exists()]


def missing_libraries(files: list[Path]) -> list[str]:
    """Libraries `ldd` reports as not found for these files, in order, each once."""
    found: list[str] = []
    for file in files:
        try:
            out = subprocess.run(["ldd", str(file)], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            if "not found" in line:
                name = line.split("=>")[0].strip()
                if name not in found:
                    found.append(name)
    return found


def package_of(library: str, manager: int) -> str:
    if library in PACKAGES:
        return PACKAGES[library][manager]
    match = _XCB_EXTENSION.fullmatch(library)
    if match:
        return (f"libxcb-{match.group(1)}0", "libxcb", "libxcb")[manager]
    return library  # unknown: the library's own name tells the user what to look for


def install_command(libraries: list[str], which=shutil.which) -> str:
    """The install command for this system's package manager (apt's when none is recognised)."""
    index = next((i for i, (tool, _) in enumerate(MANAGERS) if which(tool)), 0)
    command = MANAGERS[index][1]
    packages = []
    for library in libraries:
        package = package_of(library, index)
        if package not in packages:
            packages.append(package)
    return f"{command} {' '.join(packages)}"


def main() -> int:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb") or not shutil.which("ldd"):
        return 0  # another platform plugin (or OS) than the one this check knows
    missing = missing_libraries(plugin_files())
    if not missing:
        return 0
    print("Diffusion Desk cannot open its window: Qt's X11 platform plugin needs system libraries that are not "
          f"installed: {', '.join(missing)}.\nInstall them with:\n\n    {install_command(missing)}\n",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
