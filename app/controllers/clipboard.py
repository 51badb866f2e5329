"""Edit → Cut, Copy, Paste, Select All: for whichever box has the keyboard, and for the token grid.

In a text box the box's own keys already do this; the menu items do the same when clicked. On the grid, Copy copies
the selected tokens' text and Select All selects the whole canvas. Paste into a prompt box with an image on the
clipboard adds the image, as Ctrl+V does there.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QPlainTextEdit, QWidget

from app.controllers.image_drops import carries_images
from widgets.canvas.canvas_panel import CanvasPanel


class ClipboardActions(QObject):
    def __init__(self, window: QWidget, grid: CanvasPanel, grid_text: Callable[[int, int], str],
                 prompt_boxes: list[QPlainTextEdit], paste_image: Callable[[], bool]) -> None:
        super().__init__(window)
        self.window, self.grid, self.grid_text = window, grid, grid_text
        self.prompt_boxes, self.paste_image = prompt_boxes, paste_image
        self.actions: dict[str, QAction] = {}

    def build_menu(self, menu: QMenu) -> None:
        for name, text, keys in (("cut", "Cu&t", QKeySequence.StandardKey.Cut),
                                 ("copy", "&Copy", QKeySequence.StandardKey.Copy),
                                 ("paste", "&Paste", QKeySequence.StandardKey.Paste),
                                 ("selectAll", "Select &All", QKeySequence.StandardKey.SelectAll)):
            action = QAction(text, self.window)
            action.setShortcuts(QKeySequence.keyBindings(keys))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda checked=False, method=name: self.forward(method))
            menu.addAction(action)
            self.window.addAction(action)
            self.actions[name] = action

    def forward(self, method: str) -> bool:
        """Do `method` (cut, copy, paste, selectAll) on the widget with the keyboard focus."""
        focus = QApplication.focusWidget()
        if focus in self.grid.views():
            return self._on_grid(method)
        if method == "paste" and focus in self.prompt_boxes and carries_images(QGuiApplication.clipboard().mimeData()):
            return self.paste_image()
        handler = getattr(focus, method, None)
        if callable(handler):
            handler()
            return True
        return False

    def _on_grid(self, method: str) -> bool:
        snapshot = self.grid.snapshot()
        if snapshot is None:
            return False
        if method == "selectAll":
            self.grid.setSelection(0, len(snapshot.argmax))
            return True
        if method == "copy" and self.grid.selection() is not None:
            QGuiApplication.clipboard().setText(self.grid_text(*self.grid.selection()))
            return True
        return False
