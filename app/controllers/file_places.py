"""Where the file dialogs open, and the name they suggest: the folder last used for any file (remembered across
starts), else Documents, else home; a name from the session's file or its first prompt."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from models.work.workspace import Workspace

KEY = "files/folder"


def start_folder(store: QSettings) -> str:
    folder = store.value(KEY)
    if isinstance(folder, str) and Path(folder).is_dir():
        return folder
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return documents if documents and Path(documents).is_dir() else str(Path.home())


def remember_folder(store: QSettings, path: str) -> None:
    store.setValue(KEY, str(Path(path).resolve().parent))


def suggested_stem(ws: Workspace, fallback: str) -> str:
    """The session file's name, else the first prompt's first words ("Sort 4 9 2 7 5"), else `fallback`."""
    if ws.name:
        return Path(ws.name).stem
    first = min(ws.conversation.turns.values(), key=lambda t: t.id, default=None)
    stem = ""
    for word in re.sub(r"[^\w\-]+", " ", first.user if first is not None else "").split():
        if len(stem) + len(word) + 1 > 40:
            break
        stem = f"{stem} {word}".strip()
    return stem or fallback


def suggested_path(store: QSettings, ws: Workspace, fallback: str, suffix: str) -> str:
    return str(Path(start_folder(store)) / f"{suggested_stem(ws, fallback)}{suffix}")
