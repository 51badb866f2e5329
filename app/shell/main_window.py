"""The main window: a shell that lays out the views, builds the menus and wires them to the controllers.

What the user works on lives in the workspace (models/work/workspace.py, behind `self.hub`); every view renders from it
and every command changes it. The window itself holds no state of the work.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow

from app.controllers.autosaver import Autosaver
from app.controllers.clipboard import ClipboardActions
from app.controllers.edit_controller import EditController
from app.controllers.engine_controller import EngineController
from app.controllers.every_sampler import EverySampler
from app.controllers.examples import load_examples
from app.controllers.export_controller import ExportController
from app.controllers.file_places import start_folder
from app.controllers.generate_controller import GenerateController
from app.controllers.image_drops import ImageDropRouter
from app.controllers.inspector_controller import InspectorController
from app.controllers.model_controller import ModelController
from app.controllers.prompt_binding import PromptBinding
from app.controllers.session_controller import SessionController
from app.controllers.workspace_hub import WorkspaceHub
from app.shell.canvas_views import CanvasViews
from app.shell.frame_followers import FrameFollowers
from app.shell.help_dialogs import build_help_menu
from app.shell.history_views import HistoryViews
from app.shell.model_offer import ModelOffer
from app.shell.status_bar import WindowStatus
from app.shell.window_layout import build_layout
from models.inputs.safe_files import remove_stale_temporaries
from models.work.changes import Change
from models.work.runs import Run, RunKind
from models.work.workspace import Workspace
from widgets.panels.modal import nobody_to_ask

SPLITTER_KEY = "window/splitter2"  # the layout's panes changed: states saved for the old one are not applied


class MainWindow(QMainWindow):
    REDRAWS_ON = Change.CONVERSATION | Change.MODEL | Change.DOCUMENT | Change.REVIEW  # the welcome page, actions

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
        for name in ("prompt_panel", "image_strip", "sampler_panel", "generate_button", "stop_button", "canvas", "grid",
                     "replay", "heatmap", "curves", "output", "editor", "bottom_tabs", "splitters"):
            setattr(self, name, getattr(w, name))  # the views by name, for tests and scripts
        self.status = WindowStatus(self, self.hub, self.engine)
        self.notify = self.status.notify
        self.image_drops = ImageDropRouter(w.image_strip, self, [w.prompt_panel.user_edit, w.prompt_panel.system_edit])
        w.image_strip.refused.connect(lambda message: self.notify(f"Image refused: {message}"))
        self.examples = load_examples()
        self.sessions = SessionController(self.hub, self.engine, self, self.store, self.notify, self.show_error,
                                          self.load_model)
        self.generation = GenerateController(self, self.hub, self.engine, self.status, w.prompt_panel,
                                             w.image_strip, w.sampler_panel, self.sessions.new_session)
        w.welcome.exampleChosen.connect(self.generation.use_example)
        self.model_offer = ModelOffer(self, self.engine, lambda: self.load_model(None), self.generation.queue_prompt)
        self.generation.modelNeeded.connect(self.model_offer.show)
        self.every_sampler = EverySampler(self.generation, self.engine, self.notify, self)
        self.every_sampler.done.connect(lambda runs: self.compare_runs(runs[0], runs[1], runs))
        self.views = CanvasViews(self.hub, w.canvas, w.heatmap, w.curves, w.replay, self)
        self.history = HistoryViews(self.hub, w.conversation, w.runs, w.output, self.compare_runs, self)
        self.binding = PromptBinding(self.hub, w.prompt_panel, w.image_strip, w.sampler_panel,
                                     self.generation.follow_up_action, self.generation.compile_action, self)
        self.edits = EditController(self.hub, self.engine, w.editor, w.canvas, self.notify,
                                    lambda: w.bottom_tabs.setCurrentWidget(w.editor), self)
        self.inspection = InspectorController(self.hub, w.inspector, w.canvas, self.edits,
                                              lambda: w.side_tabs.setCurrentWidget(w.inspector_tab), self)
        self.models = ModelController(self.hub, self.engine, self, self.store, w.sampler_panel, w.image_strip,
                                      self.notify)
        self.followers = FrameFollowers(w.canvas.framePainted, self)  # the views beside the grid, after its frames
        self.followers.follow(self.inspection.due, self.inspection.draw_due)
        self.followers.follow(self.views.plot_due, self.views.draw_live_plot)
        self.followers.follow(self.history.stats_due, self.history.draw_stats)
        self.autosaver = Autosaver(self.hub, self.engine, self)
        self.exports = ExportController(self.hub, self, self.notify, overlay=w.canvas.overlay, store=self.store)
        self._build_menus()
        self.engine.busyChanged.connect(lambda busy: self._update_actions())
        self.engine.failed.connect(self.show_error)
        self.engine.runEnded.connect(self._on_run_ended)
        self.models.modelReady.connect(self._on_model_ready)
        self.models.planningDone.connect(self.status.hide_progress)
        self.models.loadStarted.connect(self.status.loading)
        self.models.modelGone.connect(self._on_model_gone)
        self.models.refused.connect(self.show_error)
        self.engine.connectionLost.connect(self._on_connection_lost)
        self.engine.refused.connect(lambda reason: self.show_error(
            "Prompt refused", f"{reason}.\n\nNothing was added to the conversation; the prompt is still in the box "
            "to shorten (with Follow up ticked, the earlier turns count too)."))
        self.hub.watch(self, self._on_workspace_changed)
        w.generate_button.clicked.connect(self.generate)
        w.stop_button.clicked.connect(self.generation.stop)
        self._restore_state()
        self.hub.replace(self.hub.ws)  # every view draws the empty workspace once
        w.prompt_panel.user_edit.setFocus()  # typing goes to the question first (given when the window activates)
        QTimer.singleShot(0, self.autosaver.offer_restore)
        QTimer.singleShot(0, self._clear_stale_temporaries)

    def _clear_stale_temporaries(self) -> None:
        """Temporaries of a save that was killed mid-write (kill -9, a crash) go now, not at the next save there."""
        for folder in {start_folder(self.store), str(self.autosaver.folder)}:
            remove_stale_temporaries(folder)

    @property
    def workspace(self) -> Workspace:
        return self.hub.ws

    @property
    def loaded(self) -> Any:
        return self.engine.loaded

    @property
    def runner(self) -> Any:
        return self.engine.runner

    def generate(self) -> bool:
        return self.generation.generate()

    def load_model(self, source: str | None, allow_download: bool = True) -> bool:
        """Load a checkpoint in the background; a session's model is loaded with allow_download False."""
        if not self.models.load_model(source, allow_download=allow_download):
            return False
        self.status.loading(source)
        return True

    def show_error(self, title: str, message: str) -> None:
        self.status.show_error(title, message)
        self.errorShown.emit(message)

    def compare_runs(self, first: int, second: int, choices: list[int] | None = None) -> None:
        from app.shell.compare_window import show_comparison

        show_comparison(self, self.hub, first, second, choices)

    def recent_models(self) -> list[str]:
        return self.models.recent_models()

    # ----- menus ------------------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.sessions.build_menu(file_menu)
        self.exports.build_menu(file_menu, kinds=("gif", "apng", "pngs", "heatmap", "csv", "json"))  # Markdown: above
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        edit_menu = menus.addMenu("&Edit")
        self.edit_actions = self.edits.build_menu(edit_menu, self)
        edit_menu.addSeparator()
        self.clipboard = ClipboardActions(self, self.canvas, self._grid_text,
                                          [self.prompt_panel.user_edit, self.prompt_panel.system_edit],
                                          self.image_strip.paste_from_clipboard)
        self.clipboard.build_menu(edit_menu)
        self.models.build_menu(menus.addMenu("&Model"))
        self.generation.build_menu(menus.addMenu("&Generate"), self.examples, [self.every_sampler.action])
        self.help_actions = build_help_menu(menus.addMenu("&Help"), self, lambda: self.engine.loaded)

    def _grid_text(self, start: int, end: int) -> str:
        """The text of the grid's selected cells, as the tokenizer decodes them."""
        snapshot, tokenizer = self.canvas.snapshot(), self.workspace.tokenizer
        if snapshot is None or tokenizer is None:
            return ""
        return tokenizer.decode([int(i) for i in snapshot.argmax[start:end]], skip_special_tokens=False)

    def _update_actions(self) -> None:
        busy = self.engine.busy
        self.generation.update_actions()
        self.generate_button.setEnabled(self.generation.generate_action.isEnabled())
        self.every_sampler.action.setEnabled(self.engine.generator is not None and not busy)
        self.stop_button.setEnabled(self.engine.running() is not None)  # a load has its own Cancel (and Esc)
        for action in (*self.models.actions, *self.sessions.actions.values()):
            action.setEnabled(not busy)
        self.models.rebuild_recent_menu()
        self.edits.update_actions()
        self.history.set_enabled(not busy)
        self.editor.setEnabled(self.engine.loaded is not None or self.workspace.document is not None)

    def _on_workspace_changed(self, change: Change) -> None:
        ws = self.workspace
        if change & (Change.CONVERSATION | Change.MODEL | Change.DOCUMENT):
            self.w.canvas_stack.setCurrentWidget(self.canvas if ws.conversation.turns else self.w.welcome_page)
            self.w.welcome.set_examples(self.examples, demo=ws.model is not None and ws.model.source == "demo")
        if change & (Change.REVIEW | Change.MODEL | Change.CONVERSATION):
            self._update_actions()

    def _on_model_ready(self, loaded: Any) -> None:
        self.status.loaded(loaded)
        self.generation.set_compile_device(loaded.device)
        self._update_actions()
        self.modelReady.emit(loaded)
        self.generation.model_ready()

    def _on_model_gone(self) -> None:
        self.model_offer.disconnected()
        self.status.model_gone("No model")
        self._update_actions()

    def _on_connection_lost(self, reason: str, run: Run | None) -> None:
        self.status.model_gone("Disconnected")
        self.show_error("The connection to the server was lost", connection_lost_message(reason, run))
        self._update_actions()

    def _on_run_ended(self, run: Run) -> None:
        self._update_actions()
        self.runEnded.emit(run)
        if run.kind is RunKind.GENERATE and run.result is not None:
            self.generationDone.emit(run.result)

    # ----- window state -----------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
            self.splitters["centre"].setSizes([640, 220])
            self.splitters["main"].setSizes([340, 1060])
            self.splitters["plots"].setSizes([250, 240, 230])
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

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        if self._closed:
            event.accept()
            return
        # Nobody to ask (a screenshot run, a script, a test: widgets.panels.modal): unsaved work is not dropped but left
        # in the autosave, which the next start offers back.
        keep_autosave = self.sessions.has_unsaved_work() and nobody_to_ask()
        if not keep_autosave and not self.sessions.ask_to_save("quitting"):
            event.ignore()
            return
        self._closed = True
        self.hide()  # the window goes at once; the worker stops at its next step boundary
        self.engine.shutdown()
        self.exports.shutdown()
        self.sessions.writer.wait()
        self.autosaver.stop(keep=keep_autosave)
        self.status.stop()
        self.views.stop()
        self._save_state()
        event.accept()


def connection_lost_message(reason: str, run: Run | None) -> str:
    """What happened, what is kept, and what to do next."""
    stopped = ""
    if run is not None:
        steps = run.step_count()
        stopped = (f"Run #{run.id} stopped there; its {steps} recorded step{'s' if steps != 1 else ''} "
                   "stay on screen and in the Runs list. ")
    return (f"{reason[:1].upper()}{reason[1:]}. {stopped}Everything recorded so far is kept.\n\n"
            "Check that the server is still running (main.py serve) and, if you reach it through an SSH tunnel, "
            "that the tunnel is up. Then connect again (Model → Connect to server…), or work on this machine "
            "(Model → Demo model, or Model → Open checkpoint folder…).")
