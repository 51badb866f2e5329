"""Images dropped anywhere on the window, or pasted into the prompt, go to the prompt's image strip."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from widgets.prompt.image_strip import REORDER_MIME, ImageStrip


def carries_images(mime: Any) -> bool:
    if mime is None or mime.hasFormat(REORDER_MIME):
        return False  # a thumbnail being reordered inside the strip
    return (mime.hasImage() or any(url.isLocalFile() for url in mime.urls())
            or any(f.startswith("image/") for f in mime.formats()))


class ImageDropRouter(QObject):
    """An event filter for the window and the prompt boxes.

    A text box would take a dropped file as its path in text, and Ctrl+V of an image as nothing; the router sends
    both to the image strip instead, and lets every other drop and paste through.
    """

    def __init__(self, strip: ImageStrip, window: QWidget, edits: list[QPlainTextEdit]) -> None:
        super().__init__(window)
        self.strip = strip
        window.setAcceptDrops(True)
        for watched in [window] + [w for edit in edits for w in (edit, edit.viewport())]:
            watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and carries_images(event.mimeData()):
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Drop and carries_images(event.mimeData()):
            self.strip.add_mime_data(event.mimeData())
            event.acceptProposedAction()
            return True
        if (kind == QEvent.Type.KeyPress and event.matches(QKeySequence.StandardKey.Paste)
                and carries_images(QGuiApplication.clipboard().mimeData())):
            self.strip.paste_from_clipboard()
            return True
        return super().eventFilter(watched, event)
