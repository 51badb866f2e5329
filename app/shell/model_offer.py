"""Generate with no model: say why there is none and offer the demo model, which then generates the prompt.

Without it, Ctrl+Enter did nothing and said nothing after a cancelled or failed start-up load, while the welcome
page told the user to press it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMainWindow, QMessageBox

from app.controllers.engine_controller import EngineController

NEVER_LOADED = "none has been loaded yet"


class ModelOffer(QObject):
    def __init__(self, window: QMainWindow, engine: EngineController, load_demo: Callable[[], bool],
                 queue_prompt: Callable[[], bool]) -> None:
        super().__init__(window)
        self.window, self.engine, self.load_demo, self.queue_prompt = window, engine, load_demo, queue_prompt
        self.reason = NEVER_LOADED
        self.box: QMessageBox | None = None
        engine.loadCancelled.connect(lambda: self._gone("loading it was cancelled"))
        engine.failed.connect(lambda title, message: self._gone(f"it could not be loaded ({message})"))
        engine.connectionLost.connect(lambda _reason, _run: self._gone("the connection to the server was lost"))

    def _gone(self, reason: str) -> None:
        if self.engine.generator is None:  # a failure with a model still loaded leaves nothing to explain here
            self.reason = reason

    def disconnected(self) -> None:
        self.reason = "the window was disconnected from the server"

    def show(self) -> None:
        """Non-modal, so nothing ever waits on it; Enter loads the demo model, Esc closes it."""
        if self.box is not None and self.box.isVisible():
            self.box.activateWindow()
            return
        box = QMessageBox(QMessageBox.Icon.Information, "No model",
                          f"There is no model to generate with: {self.reason}.\n\nLoad the demo model? It takes a "
                          "few seconds, and the prompt generates as soon as it is ready.",
                          QMessageBox.StandardButton.NoButton, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        load = box.addButton("Load the demo model", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(load)
        load.clicked.connect(self._load)
        box.destroyed.connect(self._forget_box)
        self.box = box
        self.window.statusBar().showMessage(f"No model: {self.reason}", 10000)
        box.open()

    def _forget_box(self) -> None:
        self.box = None  # closed, and deleted with it

    def _load(self) -> None:
        if self.load_demo():
            self.queue_prompt()
