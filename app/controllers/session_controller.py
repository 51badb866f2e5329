"""The File menu: new, open and save sessions, open any text, save the text, export it as Markdown.

A session file is read and checked whole before anything on screen changes; unsaved work is never dropped without
asking (New, Open, Quit); saving runs off the GUI thread and the title bar shows the name and a modified mark.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox

from app.controllers.engine_controller import EngineController
from app.controllers.file_places import remember_folder, start_folder, suggested_path
from app.controllers.workspace_hub import WorkspaceHub
from app.running.background_save import SessionWriter
from models.export.text_files import conversation_markdown, document_text
from models.inputs.safe_files import UserFileError, read_user_file, write_atomic
from models.session.format_v1 import NeedsItsModel
from models.session.reading import open_session
from models.session.writing import SUFFIX, SessionError, save_workspace
from models.work.changes import Change
from models.work.document import Document
from models.work.vocabulary import RecordedTokenizer, model_ref
from models.work.workspace import Workspace
from widgets.panels.modal import ask, nobody_to_ask, open_file_name, save_file_name

SESSION_FILTER = f"Diffusion Desk sessions (*{SUFFIX} *.json)"
MAX_TEXT_BYTES = 4 * 2**20  # more than any canvas budget; a bigger file is refused rather than hanging the window
SAVED_BY = "Diffusion Desk"


class SessionController(QObject):
    REDRAWS_ON = Change.every()  # the title: the session's name and whether it is modified

    def __init__(self, hub: WorkspaceHub, engine: EngineController, window: QMainWindow, store: QSettings,
                 notify: Callable[[str], None], show_error: Callable[[str, str], None],
                 load_model: Callable[[str], None]) -> None:
        super().__init__(window)
        self.hub, self.engine, self.window, self.store = hub, engine, window, store
        self.notify, self.show_error, self.load_model = notify, show_error, load_model
        self.writer = SessionWriter(SAVED_BY, self)
        self.actions: dict[str, QAction] = {}
        self.offer: QMessageBox | None = None
        hub.watch(self, lambda change: self.update_title())

    @property
    def ws(self) -> Workspace:
        return self.hub.ws

    def build_menu(self, menu: QMenu) -> None:
        for name, text, keys, slot in (
            ("new", "&New session", QKeySequence.StandardKey.New, self.new_session),
            ("open", "&Open session…", QKeySequence.StandardKey.Open, self.choose_session),
            ("save", "&Save session", QKeySequence.StandardKey.Save, self.save),
            ("save_as", "Save session &as…", QKeySequence("Ctrl+Shift+S"), self.save_as),
            (None, None, None, None),
            ("open_text", "Open &text to edit…", QKeySequence("Ctrl+Shift+T"), self.choose_text),
            ("save_text", "Save te&xt as…", None, self.choose_text_target),
            ("export_markdown", "Export conversation as &Markdown…", None, self.choose_markdown_target),
        ):
            if name is None:
                menu.addSeparator()
                continue
            action = menu.addAction(text)
            if keys is not None:
                action.setShortcut(QKeySequence(keys))
            action.triggered.connect(lambda checked=False, run=slot: run())
            self.actions[name] = action

    def update_title(self) -> None:
        ws = self.ws
        name = Path(ws.name).name if ws.name else "Untitled"
        title, modified = f"{name}[*] — Diffusion Desk", ws.is_modified() and not ws.is_empty()
        if (title, modified) != (self.window.windowTitle(), self.window.isWindowModified()):  # asked at every step
            self.window.setWindowTitle(title)
            self.window.setWindowModified(modified)

    # ----- asking before work is dropped ----------------------------------------------------------------------
    def has_unsaved_work(self) -> bool:
        return self.ws.is_modified() and not self.ws.is_empty()

    def ask_to_save(self, doing: str) -> bool:
        """True when it is fine to go on: nothing unsaved, or the user saved or discarded it. With nobody to ask
        (widgets.panels.modal), nothing is dropped: the answer is Cancel, and `doing` is not done."""
        if not self.has_unsaved_work():
            return True
        name = Path(self.ws.name).name if self.ws.name else "this session"
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          f"Save the changes to {name} before {doing}?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self.window)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = ask(box, unattended=QMessageBox.StandardButton.Cancel)
        box.deleteLater()
        if answer == QMessageBox.StandardButton.Save:
            return self.save_now()
        if answer == QMessageBox.StandardButton.Cancel and nobody_to_ask():
            self.notify(f"Not {doing}: the changes are not saved, and nobody is here to say what to do with them")
        return answer == QMessageBox.StandardButton.Discard

    # ----- sessions -----------------------------------------------------------------------------------------
    def new_session(self) -> bool:
        if not self.ask_to_save("starting a new session"):
            return False
        loaded = self.engine.loaded
        fresh = (Workspace(model_ref(loaded), loaded.tokenizer, self.ws.settings) if loaded is not None
                 else Workspace(settings=self.ws.settings))
        self.hub.replace(fresh)
        self.notify("New session")
        return True

    def choose_session(self) -> None:
        path = open_file_name(self.window, "Open session", self._folder(), SESSION_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Open a session: refused whole with one message, or shown whole; the model is never loaded by itself."""
        loaded = self.engine.loaded
        ref = model_ref(loaded) if loaded is not None else None
        try:
            ws = open_session(path, ref, loaded.tokenizer if loaded is not None else None)
        except NeedsItsModel as error:
            self._offer_model(path, error.source, f"{Path(path).name}: {error}")
            return False
        except SessionError as error:
            self.show_error("Could not open the session", str(error))
            return False
        if not self.ask_to_save("opening another session"):
            return False
        ws.name = str(path)
        self._remember_folder(path)
        self.hub.replace(ws)
        self.notify(f"Opened {Path(path).name}")
        if isinstance(ws.tokenizer, RecordedTokenizer):
            self._offer_model(path, ws.model.source, f"{Path(path).name} was made with {ws.model.name}. It replays "
                              "as recorded; to edit it or run the model on it, load that model.")
        return True

    def _offer_model(self, path: str, source: str, message: str) -> None:
        """Say which model a session needs and offer to load it, where it is on this machine (never downloaded)."""
        from models.checkpoint.loading import locally_available

        box = QMessageBox(QMessageBox.Icon.Information, "The session's model", message,
                          QMessageBox.StandardButton.Close, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if locally_available(source):
            button = box.addButton(f"Load {source or 'the demo model'}", QMessageBox.ButtonRole.AcceptRole)
            button.clicked.connect(lambda: self.load_model(source, allow_download=False))  # never fetched by itself
        self.offer = box  # non-modal: the session is on screen to look at while the user decides
        box.open()

    def save(self) -> bool:
        if not self.ws.name or not self.ws.name.endswith(SUFFIX):
            return self.save_as()  # a version-1 file is never overwritten in the new format
        return self._start_save(self.ws.name)

    def save_as(self) -> bool:
        start = self.ws.name.removesuffix(".json") + SUFFIX if self.ws.name else suggested_path(
            self.store, self.ws, "session", SUFFIX)
        path = save_file_name(self.window, "Save session", start, f"Sessions (*{SUFFIX})")
        if not path:
            return False
        if not path.endswith(SUFFIX):
            path += SUFFIX
        self._remember_folder(path)
        return self._start_save(path)

    def _start_save(self, path: str) -> bool:
        if not self.writer.write(self.ws, path, self._saved):
            self.notify("Still saving; try again in a moment")
            return False
        self.notify(f"Saving {Path(path).name}…")
        return True

    def _saved(self, path: str, revision: int, error: str) -> None:
        if error:
            self.show_error("Could not save the session", error)
            return
        self.ws.mark_saved(path, revision)
        self.notify(f"Saved {Path(path).name}")

    def save_now(self) -> bool:
        """Save on this thread and wait (the window is about to close or be replaced)."""
        self.writer.wait()
        path = self.ws.name if self.ws.name.endswith(SUFFIX) else ""
        if not path:
            path = save_file_name(self.window, "Save session", suggested_path(self.store, self.ws, "session", SUFFIX),
                                  f"Sessions (*{SUFFIX})")
            if not path:
                return False
        try:
            save_workspace(path, self.ws, SAVED_BY)
        except SessionError as error:
            self.show_error("Could not save the session", str(error))
            return False
        self.ws.mark_saved(path)
        return True

    # ----- text -----------------------------------------------------------------------------------------------
    def choose_text(self) -> None:
        path = open_file_name(self.window, "Open text to edit", self._folder(), "Text (*.txt *.md);;All files (*)")
        if path:
            self.open_text(path)

    def open_text(self, path: str) -> bool:
        """Any UTF-8 text becomes a new turn's document, which the model can edit."""
        ws = self.ws
        if self.engine.loaded is None or isinstance(ws.tokenizer, RecordedTokenizer) or ws.tokenizer is None:
            self.show_error("No model", "Load a model before opening text to edit.")
            return False
        try:
            text = read_user_file(path, MAX_TEXT_BYTES, "text").decode("utf-8")
        except UserFileError as error:
            self.show_error("Could not open the text", str(error))
            return False
        except UnicodeDecodeError:
            self.show_error("Could not open the text", f"{path} is not UTF-8 text")
            return False
        self._remember_folder(path)
        ws.start_text(Document.from_text(text, ws.canvas_length, ws.tokenizer), f"opened {Path(path).name}")
        return True

    def choose_text_target(self) -> None:
        self._choose_target("Save the text", ".txt", "Text (*.txt)", lambda p: self.write_text(p, document_text))

    def choose_markdown_target(self) -> None:
        self._choose_target("Export as Markdown", ".md", "Markdown (*.md)",
                            lambda p: self.write_text(p, conversation_markdown))

    def _choose_target(self, title: str, suffix: str, pattern: str, write: Callable[[str], bool]) -> None:
        path = save_file_name(self.window, title, suggested_path(self.store, self.ws, "text", suffix), pattern)
        if path:
            self._remember_folder(path)
            write(path)

    def write_text(self, path: str, render: Callable[[Workspace], str]) -> bool:
        try:
            write_atomic(path, render(self.ws).encode("utf-8"))
        except UserFileError as error:
            self.show_error("Could not save", str(error))
            return False
        self.notify(f"Saved {Path(path).name}")
        return True

    # ----- where file dialogs open ------------------------------------------------------------------------------
    def _folder(self) -> str:
        return start_folder(self.store)

    def _remember_folder(self, path: str) -> None:
        remember_folder(self.store, path)
