"""The main window: a shell that lays out the views, builds the menus and wires them to the controllers.

What the user works on lives in the workspace (models/workspace.py, behind `self.hub`); every view renders from it
and every command changes it. The window itself holds no state of the work.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar, QToolButton

from app.autosave import Autosaver
from app.canvas_views import CanvasViews
from app.edit_controller import EditController
from app.engine_controller import EngineController
from app.examples import Example, load_examples
from app.history_views import HistoryViews
from app.image_drops import ImageDropRouter
from app.jobs import with_seed
from app.model_controller import ModelController
from app.prompt_binding import PromptBinding
from app.session_controller import SessionController
from app.status import live_rate, memory_in_use
from app.window_layout import build_layout
from app.workspace_hub import WorkspaceHub
from models.runs import Fate, Run, RunKind
from models.settings import SamplerSettings, SettingsError
from models.vocabulary import model_ref
from models.workspace import Workspace

SPLITTER_KEY = "window/splitter2"  # the layout's panes changed: states saved for the old one are not applied


class MainWindow(QMainWindow):
    modelReady = Signal(object)  # LoadedModel
    generationDone = Signal(object)  # GenerationResult of a generation (cancelled ones too)
    runEnded = Signal(object)  # Run: any run, its fate says how it ended
    errorShown = Signal(str)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setMinimumSize(900, 600)
        self.store = settings or QSettings()
        self._closed = False
        self.hub = WorkspaceHub(Workspace(), self)
        self.engine = EngineController(self.hub, self)
        central, w = build_layout(self)
        self.setCentralWidget(central)
        self.w = w
        for name in ("prompt_panel", "image_strip", "sampler_panel", "generate_button", "stop_button", "grid",
                     "replay", "heatmap", "curves", "output", "editor", "bottom_tabs", "splitters"):
            setattr(self, name, getattr(w, name))  # the views by name, for menus, tests and scripts
        self.image_drops = ImageDropRouter(w.image_strip, self, [w.prompt_panel.user_edit, w.prompt_panel.system_edit])
        w.image_strip.refused.connect(lambda message: self.notify(f"Image refused: {message}"))
        self._build_actions()
        self.views = CanvasViews(self.hub, w.grid, w.heatmap, w.curves, w.replay, self)
        self.history = HistoryViews(self.hub, w.conversation, w.runs, w.output, self.compare_runs, self)
        self.binding = PromptBinding(self.hub, w.prompt_panel, w.image_strip, w.sampler_panel,
                                     self.follow_up_action, self.compile_action, self)
        self.edits = EditController(self.hub, self.engine, w.editor, w.grid, self.run_settings, self.notify,
                                    lambda: w.bottom_tabs.setCurrentWidget(w.editor), self)
        self.models = ModelController(self.hub, self.engine, self, self.store, w.sampler_panel, w.image_strip,
                                      self.notify)
        self.sessions = SessionController(self.hub, self.engine, self, self.store, self.notify, self.show_error,
                                          self.load_model)
        self.autosaver = Autosaver(self.hub, self.engine, self)
        QTimer.singleShot(0, self.autosaver.offer_restore)
        self._build_menus()
        self._build_status_bar()
        self.engine.busyChanged.connect(lambda busy: self._update_actions())
        self.engine.loadProgress.connect(self._on_load_progress)
        self.engine.loadCancelled.connect(self._on_load_cancelled)
        self.engine.failed.connect(self.show_error)
        self.engine.runEnded.connect(self._on_run_ended)
        self.models.modelReady.connect(self._on_model_ready)
        self.hub.changed.connect(self._on_workspace_changed)
        w.generate_button.clicked.connect(self.generate)
        w.stop_button.clicked.connect(self.stop)
        self._restore_state()
        self.hub.replace(self.hub.ws)  # every view draws the empty workspace once
        self._update_actions()
        w.prompt_panel.user_edit.setFocus()  # typing goes to the question first (given when the window activates)

    @property
    def workspace(self) -> Workspace:
        return self.hub.ws

    @property
    def loaded(self):
        return self.engine.loaded

    @property
    def runner(self):
        return self.engine.runner

    # ----- menus ------------------------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.generate_action = QAction("&Generate", self)
        self.generate_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.generate_action.triggered.connect(self.generate)
        self.stop_action = QAction("&Stop", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.triggered.connect(self.stop)
        for action in (self.generate_action, self.stop_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        self.follow_up_action = QAction("&Follow up (keep the conversation)", self)
        self.follow_up_action.setCheckable(True)
        self.follow_up_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        self.follow_up_action.setToolTip("Generate the next turn: earlier prompts (with their images) and answers "
                                         "stay in the history; thoughts never do")
        self.compile_action = QAction(self)
        self.compile_action.setCheckable(True)
        self._set_compile_device(None)

    def _set_compile_device(self, device: Any) -> None:
        """Compiling helps a CUDA GPU only: elsewhere the option is off and says why."""
        cuda = getattr(device, "type", "") == "cuda"
        self.compile_action.setEnabled(cuda)
        if not cuda:
            self.compile_action.setChecked(False)
        self.compile_action.setText("&Compile the denoising step" + ("" if cuda else " (needs a CUDA GPU)"))
        self.compile_action.setToolTip(
            "Static KV cache and torch.compile, as transformers does: the first run compiles (a minute or more), "
            "later steps are faster" if cuda else "torch.compile with CUDA graphs speeds up a GPU; the model here is "
            "not on a CUDA device, where compiling would only add minutes of waiting")

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.sessions.build_menu(file_menu)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.edit_actions = self.edits.build_menu(menus.addMenu("&Edit"), self)
        self.models.build_menu(menus.addMenu("&Model"))
        run_menu = menus.addMenu("&Generate")
        run_menu.addActions([self.generate_action, self.stop_action])
        run_menu.addSeparator()
        self.examples_menu = run_menu.addMenu("Demo-model &prompts")
        for example in load_examples():
            action = self.examples_menu.addAction(example.title)
            action.triggered.connect(lambda checked=False, e=example: self.use_example(e))
        self.examples_menu.setEnabled(not self.examples_menu.isEmpty())
        run_menu.addSeparator()
        run_menu.addActions([self.follow_up_action, self.compile_action])
        reset = run_menu.addAction("&Reset sampler to defaults")
        reset.triggered.connect(lambda: self.sampler_panel.set_settings(self.sampler_panel.defaults()))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel("No model")
        self.memory_label = QLabel()
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(self.speed_label.fontMetrics().horizontalAdvance("00000.0 tok/s "))
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.cancel_load_button = QToolButton()
        self.cancel_load_button.setText("Cancel")
        self.cancel_load_button.clicked.connect(self.engine.stop)
        for widget in (self.progress, self.cancel_load_button):
            widget.hide()
            bar.addPermanentWidget(widget)
        for widget in (self.model_label, self.speed_label, self.memory_label):
            bar.addPermanentWidget(widget)
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(2000)
        self.memory_timer.timeout.connect(self._update_memory)
        self.memory_timer.start()
        self._update_memory()

    # ----- state ----------------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
            self.splitters["centre"].setSizes([560, 300])
            self.splitters["main"].setSizes([340, 1060])
        for name, splitter in self.splitters.items():
            state = self.store.value(f"{SPLITTER_KEY}/{name}")
            if state is not None:
                splitter.restoreState(state)

    def _save_state(self) -> None:
        self.store.setValue("window/geometry", self.saveGeometry())
        for name, splitter in self.splitters.items():
            self.store.setValue(f"{SPLITTER_KEY}/{name}", splitter.saveState())
        self.models.save_sampler()
        self.store.sync()

    def recent_models(self) -> list[str]:
        return self.models.recent_models()

    def _update_actions(self) -> None:
        busy = self.engine.busy
        ready = self.engine.loaded is not None and not busy
        for widget in (self.generate_action, self.generate_button):
            widget.setEnabled(ready)
        for widget in (self.stop_action, self.stop_button):
            widget.setEnabled(busy)
        for action in (*self.models.actions, *self.sessions.actions.values()):
            action.setEnabled(not busy)
        self.models.rebuild_recent_menu()
        self.edits.update_actions()
        self.history.set_enabled(not busy)
        self.editor.setEnabled(self.engine.loaded is not None or self.workspace.document is not None)

    def _on_workspace_changed(self, kinds: frozenset[str]) -> None:
        if kinds & {"review", "model", "conversation"}:
            self._update_actions()
        if "steps" in kinds:
            run = self.engine.running()
            if run is not None:
                self.speed_label.setText(f"{live_rate(run.record):.1f} tok/s")

    # ----- the model --------------------------------------------------------------------------------------------
    def load_model(self, source: str | None) -> bool:
        if not self.models.load_model(source):
            return False
        self.progress.setValue(0)
        self.progress.setFormat("Loading…")
        self.progress.show()
        self.cancel_load_button.show()
        return True

    def _on_load_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 100))
        self.progress.setFormat(message)

    def _hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_load_button.hide()

    def _on_load_cancelled(self) -> None:
        self._hide_progress()
        self.notify("Loading cancelled; the previous model is still loaded")

    def _on_model_ready(self, loaded: Any) -> None:
        self._hide_progress()
        self.model_label.setText(f"{loaded.name} · {loaded.device.type} · {str(loaded.dtype).removeprefix('torch.')}")
        self._set_compile_device(loaded.device)
        self.notify(f"Loaded {loaded.name}")
        self._update_actions()
        self.modelReady.emit(loaded)

    # ----- generating -----------------------------------------------------------------------------------------
    def run_settings(self) -> SamplerSettings | None:
        """The sampler panel's settings for a run, with a definite seed; None (and a message) when invalid."""
        try:
            settings = self.sampler_panel.settings()
        except SettingsError as error:
            self.notify(f"Invalid sampler settings: {error}")
            return None
        return with_seed(settings).with_values(compile=self.compile_action.isChecked())

    def use_example(self, example: Example) -> None:
        """Put a demo prompt (and its picture) in the prompt panel, replacing what was there."""
        self.prompt_panel.set_prompt(example.prompt, example.system, example.think)
        self.image_strip.clear()
        if example.image is not None:
            self.image_strip.add_files([example.image])

    def generate(self) -> bool:
        engine, ws = self.engine, self.workspace
        if engine.generator is None or engine.busy:
            return False
        settings = self.run_settings()
        if settings is None:
            return False
        draft = ws.draft
        if not draft.user.strip() and not draft.images:
            self.notify("Type a prompt first (or pick one from Generate → Demo-model prompts).")
            self.prompt_panel.user_edit.setFocus()
            return False
        if ws.model is not None and not ws.model.same_model(model_ref(engine.loaded)):
            if not self.sessions.new_session():
                return False
            self.workspace.set_draft(draft)
            ws = self.workspace
        run = ws.start_generation(settings)
        budget = draft.image_budget
        self.speed_label.setText("")
        self.notify(f"Generating (seed {settings.seed})…")
        return engine.start_run(run, lambda gen, cancel: gen.generate(run.prompt, settings, cancel,
                                                                        image_budget=budget))

    def stop(self) -> None:
        if self.engine.busy:
            self.engine.stop()
            self.notify("Stopping at the next step…")

    def _on_run_ended(self, run: Run) -> None:
        self._update_actions()
        if run.result is not None:
            self.speed_label.setText(f"{run.result.tokens_per_second:.1f} tok/s")
        if run.fate is Fate.PROPOSED:
            self.notify("Review the proposal: Enter accepts, Esc rejects")
        elif run.fate is Fate.UNCHANGED:
            self.notify("The model kept the text as it was")
        elif run.fate is Fate.CANCELLED:
            self.notify("Stopped")
        elif run.kind is RunKind.GENERATE and run.fate is Fate.ACCEPTED:
            self.notify("Done")
        self.runEnded.emit(run)
        if run.kind is RunKind.GENERATE and run.result is not None:
            self.generationDone.emit(run.result)

    def compare_runs(self, first: int, second: int) -> None:
        from app.compare_window import show_comparison

        show_comparison(self, self.hub, first, second)

    # ----- messages -------------------------------------------------------------------------------------------
    def notify(self, message: str) -> None:
        """A status-bar message for what the user can simply fix or just needs to know."""
        self.statusBar().showMessage(message, 8000)

    def show_error(self, title: str, message: str) -> None:
        """One clear message, never a traceback; non-blocking so the window stays usable."""
        self._hide_progress()
        self.statusBar().showMessage(message, 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.errorShown.emit(message)

    def _update_memory(self) -> None:
        self.memory_label.setText(memory_in_use(self.loaded.device if self.loaded else None))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        if self._closed:
            event.accept()
            return
        if not self.sessions.ask_to_save("quitting"):
            event.ignore()
            return
        self._closed = True
        self.hide()  # the window goes at once; the worker stops at its next step boundary
        self.engine.shutdown()
        self.sessions.writer.wait()
        self.autosaver.stop()
        self.memory_timer.stop()
        self.views.stop()
        self._save_state()
        event.accept()
