"""Autosave files: one per running window, named by its process id, in the user's data folder.

A file whose process is gone was left by a crash (or a kill) and can be restored; a clean exit removes its own.
Each autosave is written whole and renamed into place (models.inputs.safe_files.write_atomic), so a kill at any moment
leaves the previous autosave intact.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from models.inputs.safe_files import write_atomic
from models.session.writing import SUFFIX, session_bytes
from models.work.workspace import Workspace

_NAME = re.compile(rf"autosave-(\d+){re.escape(SUFFIX)}")
SAVED_BY = "Diffusion Desk (autosave)"


def autosave_path(folder: str | os.PathLike, pid: int | None = None) -> Path:
    return Path(folder) / f"autosave-{os.getpid() if pid is None else pid}{SUFFIX}"


def write_autosave(folder: str | os.PathLike, ws: Workspace) -> Path:
    """Write this process's autosave (the folder is created if needed); UserFileError when it cannot."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = autosave_path(folder)
    write_atomic(path, session_bytes(ws, SAVED_BY))
    return path


def remove_autosave(folder: str | os.PathLike, pid: int | None = None) -> None:
    autosave_path(folder, pid).unlink(missing_ok=True)


def orphaned_autosaves(folder: str | os.PathLike) -> list[Path]:
    """Autosaves of processes that ended without removing them (a crash), newest first."""
    found = []
    for path in Path(folder).glob(f"autosave-*{SUFFIX}") if Path(folder).is_dir() else []:
        match = _NAME.fullmatch(path.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    except OSError:
        return False
    return True
