"""Autosave to the user's data folder after each run and every few seconds of changes; restore after a crash.

The folder is QStandardPaths' application data folder, or DIFFUSION_DESK_DATA when set. Autosaves are written on
another thread from a frozen copy of the workspace, never while a run streams.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox

from app.controllers.engine_controller import EngineController
from app.controllers.workspace_hub import WorkspaceHub
from app.running.background_save import SessionWriter
from models.inputs.safe_files import UserFileError
from models.session.autosave_files import SAVED_BY, autosave_path, orphaned_autosaves, remove_autosave, write_autosave
from models.session.files import SessionError, open_session
from models.work.changes import Change
from models.work.vocabulary import model_ref

INTERVAL_MS = 5000  # changes are autosaved at most this long after they are made
AFTER_RUN_MS = 300


def data_folder() -> Path:
    configured = os.environ.get("DIFFUSION_DESK_DATA")
    folder = configured or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(folder or Path.home() / ".diffusion-desk")


class Autosaver(QObject):
    REDRAWS_ON = (Change.CONVERSATION | Change.DOCUMENT | Change.RUNS | Change.REVIEW | Change.DRAFT
                  | Change.SETTINGS)  # here: what is worth writing again

    def __init__(self, hub: WorkspaceHub, engine: EngineController, window: QMainWindow) -> None:
        super().__init__(window)
        self.hub, self.engine, self.window = hub, engine, window
        self.folder = data_folder()
        self.writer = SessionWriter(SAVED_BY, self)
        self.last_error = ""
        self.offer: QMessageBox | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.save_now)
        hub.watch(self, self._on_changed)
        engine.runEnded.connect(lambda run: self.timer.start(AFTER_RUN_MS))

    def _on_changed(self, change: Change) -> None:
        if self.hub.ws.is_modified() and not self.timer.isActive():
            self.timer.start(INTERVAL_MS)

    def save_now(self) -> bool:
        """Autosave now, unless a run is streaming (then soon after it ends) or another write is under way."""
        ws = self.hub.ws
        if not ws.is_modified() or ws.is_empty():
            remove_autosave(self.folder)  # the session on disk (or nothing) holds all there is
            return False
        if self.engine.running() is not None or self.writer.busy:
            self.timer.start(INTERVAL_MS)
            return False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._failed(str(error))
            return False
        return self.writer.write(ws, str(autosave_path(self.folder)), self._written)

    def _written(self, path: str, revision: int, error: str) -> None:
        if error:
            self._failed(error)
        else:
            self.last_error = ""

    def _failed(self, error: str) -> None:
        if error != self.last_error:  # said once, not every few seconds
            self.window.statusBar().showMessage(f"Autosave failed: {error}", 10000)
        self.last_error = error

    def stop(self, keep: bool = False) -> None:
        """A clean exit: the work was saved or discarded on purpose, so its autosave goes. With `keep` (unsaved work
        that nobody could be asked about), the work as it is now is written to the autosave and left for the next
        start to offer back."""
        self.timer.stop()
        self.writer.wait()
        if not keep:
            remove_autosave(self.folder)
            return
        try:
            path = write_autosave(self.folder, self.hub.ws)
        except (UserFileError, SessionError, OSError) as error:
            print(f"diffusion-desk: unsaved work could not be autosaved: {error}", file=sys.stderr)
            return
        print(f"diffusion-desk: closed with unsaved work and nobody to ask; it is kept in the autosave {path}",
              file=sys.stderr)

    # ----- after a crash ----------------------------------------------------------------------------------------
    def offer_restore(self) -> None:
        """If an earlier window died with unsaved work, offer it back (non-modal; the window is usable meanwhile)."""
        orphans = orphaned_autosaves(self.folder)
        if not orphans:
            return
        path = orphans[0]
        box = QMessageBox(QMessageBox.Icon.Question, "Restore unsaved work?",
                          "Diffusion Desk did not close cleanly last time. Restore the work it had not saved?",
                          QMessageBox.StandardButton.NoButton, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        restore.clicked.connect(lambda: self.restore(path))
        discard.clicked.connect(lambda: path.unlink(missing_ok=True))
        self.offer = box
        box.open()

    def restore(self, path: Path) -> bool:
        loaded = self.engine.loaded
        try:
            ws = open_session(path, model_ref(loaded) if loaded else None, loaded.tokenizer if loaded else None)
        except SessionError as error:
            self.window.statusBar().showMessage(f"Could not restore: {error}", 10000)
            return False
        ws.mark_unsaved()  # restored work is unsaved work: it asks to be saved
        self.hub.replace(ws)
        path.unlink(missing_ok=True)  # this window's own autosave takes over from here
        self.timer.start(AFTER_RUN_MS)
        self.window.statusBar().showMessage("Restored the unsaved work", 6000)
        return True
