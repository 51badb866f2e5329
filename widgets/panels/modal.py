"""Modal questions, which a run that nobody drives never waits on.

A modal dialog (`QDialog.exec`, the static QFileDialog and QInputDialog getters, a QMessageBox's `exec`) runs a
nested event loop until a person answers it. A screenshot run, a script, a test, or Qt's offscreen platform (no
screen to show it on) has nobody to answer, and would hang there. So every modal question in the app goes through
here: when nobody can answer, the dialog is not shown; it gets its unattended answer at once (a dialog: rejected; a
file or text question: nothing chosen; a message box: the answer its caller names), and stderr says so.

Who can answer: `set_unattended(True/False)` when the program knows (a screenshot run), else the environment variable
DIFFUSION_DESK_UNATTENDED ("1": nobody, "0": a person, even offscreen, as in a test that answers with a timer),
else a person unless the platform has no screen (offscreen, minimal).
"""

from __future__ import annotations

import os
import sys

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox, QWidget

ENVIRONMENT = "DIFFUSION_DESK_UNATTENDED"
_SCREENLESS = frozenset({"offscreen", "minimal"})
_forced: bool | None = None


def set_unattended(value: bool | None) -> None:
    """True: nobody answers dialogs in this process; None: decide from the environment and the platform again."""
    global _forced
    _forced = value


def nobody_to_ask() -> bool:
    if _forced is not None:
        return _forced
    configured = os.environ.get(ENVIRONMENT, "").strip()
    if configured:
        return configured != "0"
    return QGuiApplication.platformName() in _SCREENLESS


def _not_asked(question: str, answer: str) -> None:
    print(f"diffusion-desk: not asked, nobody to answer: {question!r} ({answer})", file=sys.stderr, flush=True)


def exec_dialog(dialog: QDialog) -> int:
    """`dialog.exec()`, or Rejected at once when nobody can answer."""
    if nobody_to_ask():
        _not_asked(dialog.windowTitle(), "cancelled")
        return QDialog.DialogCode.Rejected
    return dialog.exec()


def ask(box: QMessageBox, unattended: QMessageBox.StandardButton) -> QMessageBox.StandardButton:
    """The button a person presses in `box`, or `unattended` at once when nobody can answer."""
    if nobody_to_ask():
        _not_asked(box.text(), unattended.name)
        return unattended
    return QMessageBox.StandardButton(box.exec())


def open_file_name(parent: QWidget | None, caption: str, folder: str, pattern: str) -> str:
    """A file to open, or "" (cancelled, or nobody to choose)."""
    if nobody_to_ask():
        _not_asked(caption, "no file chosen")
        return ""
    return QFileDialog.getOpenFileName(parent, caption, folder, pattern)[0]


def open_file_names(parent: QWidget | None, caption: str, folder: str, pattern: str) -> list[str]:
    if nobody_to_ask():
        _not_asked(caption, "no file chosen")
        return []
    return QFileDialog.getOpenFileNames(parent, caption, folder, pattern)[0]


def save_file_name(parent: QWidget | None, caption: str, start: str, pattern: str) -> str:
    """Where to save, or "" (cancelled, or nobody to choose)."""
    if nobody_to_ask():
        _not_asked(caption, "nothing saved")
        return ""
    return QFileDialog.getSaveFileName(parent, caption, start, pattern)[0]


def existing_folder(parent: QWidget | None, caption: str, folder: str) -> str:
    if nobody_to_ask():
        _not_asked(caption, "no folder chosen")
        return ""
    return QFileDialog.getExistingDirectory(parent, caption, folder)


def text_input(parent: QWidget | None, title: str, label: str) -> str | None:
    """The text typed, or None (cancelled, or nobody to type it)."""
    if nobody_to_ask():
        _not_asked(title, "cancelled")
        return None
    text, ok = QInputDialog.getText(parent, title, label)
    return text if ok else None
