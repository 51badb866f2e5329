"""File menu actions for the edited document: save and open sessions (JSON), open any text to edit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from models.document import Document
from models.generator import Generation
from models.sessions import SessionError, load_session, save_session

if TYPE_CHECKING:
    from app.main_window import MainWindow

MAX_TEXT_CHARS = 1_000_000  # more than any canvas budget; a huge file is cut rather than hanging the window


class DocumentFiles(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.actions: list[QAction] = []
        for text, shortcut, slot in (("&Open session…", "Ctrl+O", self._choose_session),
                                     ("&Save session…", "Ctrl+S", self._choose_save_path),
                                     ("Open &text to edit…", "Ctrl+Shift+T", self._choose_text)):
            action = QAction(text, window)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            self.actions.append(action)

    def current_generation(self) -> Generation | None:
        """The prompt and settings of the last run, with the editor's document and locks."""
        window, doc = self.window, self.window.edits.doc
        if window.generation is None or doc is None:
            return None
        return Generation(window.generation.prompt, doc.ids, window.generation.settings, doc.locks)

    def save_session_to(self, path: str) -> bool:
        generation = self.current_generation()
        if generation is None:
            self.window.show_error("Nothing to save", "Generate something (or open text) first.")
            return False
        loaded = self.window.loaded
        try:
            save_session(path, generation, loaded.source if loaded else "")
        except SessionError as error:
            self.window.show_error("Could not save the session", str(error))
            return False
        self.window.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def open_session(self, path: str) -> bool:
        """Restore a saved session's prompt, images, settings, text and locks into the window."""
        window = self.window
        if window.loaded is None:
            window.show_error("No model", "Load a model before opening a session.")
            return False
        try:
            generation, _model = load_session(path)
        except SessionError as error:
            window.show_error("Could not open the session", str(error))
            return False
        prompt = generation.prompt
        window.prompt_panel.set_prompt(prompt.user, prompt.system, prompt.think)
        window.image_strip.set_images(list(prompt.images), [f"image {i + 1}" for i in range(len(prompt.images))])
        window.sampler_panel.set_settings(generation.settings)
        window.generation = generation
        self._edit(Document(generation.token_ids, window.loaded.canvas_length, window.loaded.tokenizer,
                            generation.locks))
        return True

    def open_text(self, path: str) -> bool:
        """Any text becomes a document the model can edit, laid into canvases after the current prompt."""
        window = self.window
        if window.generator is None:
            window.show_error("No model", "Load a model before opening text.")
            return False
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read(MAX_TEXT_CHARS)
        except (OSError, UnicodeDecodeError) as error:
            window.show_error("Could not open the text", f"{path} is not readable UTF-8 text ({error})")
            return False
        window.generation = window.generator.from_text(window.current_prompt(), text, window.sampler_panel.defaults())
        self._edit(Document(window.generation.token_ids, window.loaded.canvas_length, window.loaded.tokenizer))
        return True

    def _edit(self, doc: Document) -> None:
        self.window.edits.reset(doc)
        self.window.bottom_tabs.setCurrentWidget(self.window.editor)

    def _choose_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", "", "Sessions (*.json)")
        if path:
            self.open_session(path)

    def _choose_save_path(self) -> None:
        if self.current_generation() is None:
            self.window.show_error("Nothing to save", "Generate something (or open text) first.")
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Save session", "session.json", "Sessions (*.json)")
        if path:
            self.save_session_to(path)

    def _choose_text(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open text to edit", "", "Text (*.txt *.md);;All (*)")
        if path:
            self.open_text(path)
